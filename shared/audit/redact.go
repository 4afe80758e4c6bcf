package audit

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"unicode/utf8"

	"github.com/cardvault/vault/shared/card"
)

// maxFieldBytes bounds every string member of an event. Identifiers in the
// contract are at most 128 characters; the bound keeps a hostile URL or
// header from bloating the trail.
const maxFieldBytes = 256

// prepare is what every sink does to an event before keeping it: stamp the
// schema version and make each string member safe. Some members come
// straight from the request line (a token or secret name in the path), so
// a careless client could put a card number there; it is masked rather
// than trusted.
func prepare(e Event) Event {
	if e.V == 0 {
		e.V = SchemaVersion
	}
	// Members a client can choose are masked; identifiers made by the
	// vault or by AWS are only bounded, since altering them would break
	// the joins they exist for (CloudTrail's requestID, the API Gateway
	// request id).
	for _, f := range []*string{
		&e.Action, &e.Code, &e.ClientID, &e.Merchant, &e.Token,
		&e.Secret, &e.SourceIP, &e.UserAgent, &e.JTI, &e.JobID,
		&e.Destination, &e.Method, &e.Route,
	} {
		*f = safeField(*f)
	}
	e.ID = bounded(e.ID)
	e.RequestID = bounded(e.RequestID)
	// The IAM principal is AWS's: an account id is 12 digits and may pass
	// the Luhn check, and masking it would break the join to CloudTrail.
	e.IAMUserARN = bounded(e.IAMUserARN)
	e.IAMAccountID = bounded(e.IAMAccountID)
	e.IAMCallerID = bounded(e.IAMCallerID)
	e.Outcome = Outcome(safeField(string(e.Outcome)))
	if len(e.KMSRequestIDs) > 0 {
		ids := make([]string, len(e.KMSRequestIDs))
		for i, id := range e.KMSRequestIDs {
			ids[i] = bounded(id)
		}
		e.KMSRequestIDs = ids
	}
	return e
}

// NewID makes an event or request id: 128 random bits, base64url. Unlike
// hex, its alphabet makes a long run of digits (which would look like a
// card number to a reader of the trail) vanishingly unlikely.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// bounded makes s valid UTF-8 of at most maxFieldBytes.
func bounded(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) > maxFieldBytes {
		cut := maxFieldBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

// safeField masks anything in s that could be a card number, then bounds
// it. Masking first means the cut can never leave the head of a card
// number unmasked at the end of the field.
func safeField(s string) string {
	if s == "" {
		return s
	}
	return bounded(MaskCardNumbers(s))
}

// Card number lengths (ISO/IEC 7812 and the contract: 12 to 19 digits).
const (
	minPANDigits = 12
	maxPANDigits = 19
)

// MaskCardNumbers replaces the middle digits of every run that could be a
// card number with '*', keeping the first 4 and last 4 (the most the
// contract lets any output show). A run is a sequence of digits, possibly
// separated by single spaces or dashes as people type cards. Runs of 12 to
// 19 digits are masked when they pass the Luhn check; longer runs are
// always masked, since a card number could hide inside them.
func MaskCardNumbers(s string) string {
	if !hasDigitRun(s, minPANDigits) {
		return s
	}
	b := []byte(s)
	for i := 0; i < len(b); {
		if !isDigit(b[i]) {
			i++
			continue
		}
		start, end, digits := i, i, 0
		for j := i; j < len(b); j++ {
			if isDigit(b[j]) {
				digits++
				end = j + 1
				continue
			}
			if (b[j] == ' ' || b[j] == '-') && j+1 < len(b) && isDigit(b[j+1]) {
				continue
			}
			break
		}
		if digits > maxPANDigits || (digits >= minPANDigits && luhnValid(b[start:end])) {
			maskMiddleDigits(b[start:end], digits)
		}
		i = end
	}
	return string(b)
}

// hasDigitRun is the fast path: most fields hold no long digit run.
func hasDigitRun(s string, n int) bool {
	count := 0
	for i := 0; i < len(s); i++ {
		switch {
		case isDigit(s[i]):
			count++
			if count >= n {
				return true
			}
		case s[i] == ' ' || s[i] == '-':
		default:
			count = 0
		}
	}
	return false
}

func maskMiddleDigits(run []byte, digits int) {
	seen := 0
	for k, c := range run {
		if !isDigit(c) {
			continue
		}
		seen++
		if seen > 4 && seen <= digits-4 {
			run[k] = '*'
		}
	}
}

// luhnValid runs the Luhn check over the digits of run, skipping
// separators.
func luhnValid(run []byte) bool {
	digits := make([]byte, 0, len(run))
	for _, c := range run {
		if isDigit(c) {
			digits = append(digits, c)
		}
	}
	return card.Luhn(string(digits))
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
