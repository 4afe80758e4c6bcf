package vault

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/cardvault/vault/shared/card"
)

// TokenFormat is the shape of the token vault_card makes for a new card
// (claim token_format).
type TokenFormat string

const (
	// TokenFormatOpaque is "tok_" and 128 random bits (the default).
	TokenFormatOpaque TokenFormat = "opaque"
	// TokenFormatCard is a string of digits as long as the card number,
	// with its first 4 and last 4 digits and a random middle, never
	// Luhn-valid: it fits systems that expect a card-shaped value, and can
	// never be mistaken for (or collide with) a real card number.
	TokenFormatCard TokenFormat = "card"
)

// ParseTokenFormat reads a token_format claim; "" is the default.
func ParseTokenFormat(s string) (TokenFormat, bool) {
	switch TokenFormat(s) {
	case "", TokenFormatOpaque:
		return TokenFormatOpaque, true
	case TokenFormatCard:
		return TokenFormatCard, true
	}
	return "", false
}

// Card-shaped token bounds: the contract's card number lengths.
const (
	minCardTokenDigits = 12
	maxCardTokenDigits = 19
)

// newToken makes a fresh token of the format for a card whose validated
// number is digits.
func newToken(format TokenFormat, digits string) (string, error) {
	if format == TokenFormatCard {
		return newCardToken(digits)
	}
	return newOpaqueToken()
}

// newOpaqueToken is "tok_" and 128 random bits: unguessable, and spread
// evenly over the table's partitions.
func newOpaqueToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "tok_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// errNotCardShaped is a caller bug: numbers are validated first.
var errNotCardShaped = errors.New("vault: card-shaped token for a number that is not 12 to 19 digits")

// newCardToken keeps the number's first 4 and last 4 digits (what the
// masked view shows, so the token shows no more) and draws the middle
// uniformly from crypto/rand, independent of the number, until the whole
// is not Luhn-valid: a real card number always is, so no token can be
// one. Of every ten middles exactly one makes the whole Luhn-valid
// (changing one digit moves the checksum through all ten residues), so
// the loop runs 1.11 times on average and the tokens are uniform over the
// non-Luhn-valid strings of their shape.
func newCardToken(digits string) (string, error) {
	n := len(digits)
	if n < minCardTokenDigits || n > maxCardTokenDigits || !allDigits(digits) {
		return "", errNotCardShaped
	}
	b := make([]byte, n)
	copy(b[:4], digits[:4])
	copy(b[n-4:], digits[n-4:])
	for {
		if err := randomDigits(b[4 : n-4]); err != nil {
			return "", err
		}
		if !card.Luhn(string(b)) {
			return string(b), nil
		}
	}
}

// randomDigits fills dst with uniform decimal digits. A random byte is
// used only below 250 (the largest multiple of ten that fits), so every
// digit has probability exactly 1/10: no modulo bias.
func randomDigits(dst []byte) error {
	var buf [32]byte
	for i := 0; i < len(dst); {
		if _, err := rand.Read(buf[:]); err != nil {
			return fmt.Errorf("vault: random digits: %w", err)
		}
		for _, r := range buf {
			if r >= 250 {
				continue
			}
			dst[i] = '0' + r%10
			if i++; i == len(dst) {
				return nil
			}
		}
	}
	return nil
}

// validToken reports whether token has a shape the vault makes (opaque or
// card-shaped), so that no arbitrary route input reaches the store. A
// Luhn-valid string of digits is refused like any other stranger: it is
// a card number, never a token.
func validToken(token string) bool {
	return validOpaqueToken(token) || isCardToken(token)
}

func validOpaqueToken(token string) bool {
	const prefix = "tok_"
	if len(token) != len(prefix)+22 || token[:len(prefix)] != prefix {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(token[len(prefix):])
	return err == nil
}

// isCardToken reports whether token is a card-shaped token: 12 to 19
// digits, not Luhn-valid.
func isCardToken(token string) bool {
	n := len(token)
	return n >= minCardTokenDigits && n <= maxCardTokenDigits && allDigits(token) && !card.Luhn(token)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
