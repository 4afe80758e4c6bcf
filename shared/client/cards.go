package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/cardvault/vault/shared/secret"
)

// Card is card data. Number and HolderName are secrets: they print and
// marshal as "*** string ***" and leave the wrapper only through Reveal.
type Card struct {
	Number     secret.Secret[string] `json:"number"`
	ExpMonth   int                   `json:"exp_month"`
	ExpYear    int                   `json:"exp_year"`
	HolderName secret.Secret[string] `json:"holder_name"`
}

// Token formats of VaultCardRequest.TokenFormat.
const (
	// TokenFormatOpaque asks for a "tok_..." token (the vault's default).
	TokenFormatOpaque = "opaque"
	// TokenFormatCard asks for a card-shaped token: digits as long as the
	// number, its first 4 and last 4, a random middle, never Luhn-valid.
	TokenFormatCard = "card"
)

// VaultCardRequest is a card to vault for a merchant and, optionally, one
// of its customers. TTLSeconds, when not zero, makes the card expire (60 s
// to 10 years). TokenFormat, when set, is the token_format claim (a card
// already vaulted keeps its token whatever is asked).
type VaultCardRequest struct {
	MerchantID  string
	CustomerID  string
	Card        Card
	TTLSeconds  int
	TokenFormat string
}

// Masked is the card's masked view, stored beside the ciphertext.
type Masked struct {
	First4   string `json:"first4"`
	Last4    string `json:"last4"`
	Display  string `json:"display"`
	Brand    string `json:"brand"`
	ExpMonth int    `json:"exp_month"`
	ExpYear  int    `json:"exp_year"`
}

// CardRecord is a vaulted card as the vault answers vault_card and
// get_masked. Duplicate is set when vault_card found the card already
// vaulted for the same merchant and customer.
type CardRecord struct {
	Token       string    `json:"token"`
	MerchantID  string    `json:"merchant_id"`
	CustomerID  string    `json:"customer_id,omitempty"`
	Fingerprint string    `json:"fingerprint"`
	Duplicate   bool      `json:"duplicate"`
	Masked      Masked    `json:"masked"`
	CreatedAt   time.Time `json:"created_at"`
}

// RevealedCard is a decrypted card whose answer passed verification.
type RevealedCard struct {
	MerchantID string
	Token      string
	Card       Card
}

// cardClaim is the "card" claim of vault_card. It holds the plain values
// only while the claims are encoded.
type cardClaim struct {
	Number     string `json:"number"`
	ExpMonth   int    `json:"exp_month"`
	ExpYear    int    `json:"exp_year"`
	HolderName string `json:"holder_name,omitempty"`
}

// VaultCard stores a card (201 new, 200 duplicate). The card travels signed
// and encrypted to the vault.
func (c *Client) VaultCard(ctx context.Context, r VaultCardRequest) (*CardRecord, error) {
	if r.MerchantID == "" {
		return nil, fmt.Errorf("vault client: %s: merchant id is empty", OpVaultCard)
	}
	extra := map[string]any{
		"card": cardClaim{
			Number:     r.Card.Number.Reveal(),
			ExpMonth:   r.Card.ExpMonth,
			ExpYear:    r.Card.ExpYear,
			HolderName: r.Card.HolderName.Reveal(),
		},
	}
	if r.CustomerID != "" {
		extra["customer_id"] = r.CustomerID
	}
	if r.TTLSeconds != 0 {
		extra["ttl_seconds"] = r.TTLSeconds
	}
	if r.TokenFormat != "" {
		extra["token_format"] = r.TokenFormat
	}
	rec, _, err := doJSON[CardRecord](ctx, c, call{
		op: OpVaultCard, method: http.MethodPost, path: "/v1/cards",
		merchantID: r.MerchantID, extra: extra, sensitive: true,
	})
	return rec, err
}

// GetMasked returns the masked view of a card; the vault decrypts nothing
// for it.
func (c *Client) GetMasked(ctx context.Context, merchantID, token string) (*CardRecord, error) {
	cl, err := cardCall(OpGetMasked, http.MethodGet, merchantID, token, "")
	if err != nil {
		return nil, err
	}
	rec, _, err := doJSON[CardRecord](ctx, c, cl)
	return rec, err
}

// RevealCard returns the card in clear. The answer must be encrypted to this
// client, signed by a key the vault publishes, issued by the vault to this
// client and bound to this request's jti, merchant and token; otherwise the
// error wraps ErrInvalidAnswer and nothing of the answer is returned.
func (c *Client) RevealCard(ctx context.Context, merchantID, token string) (*RevealedCard, error) {
	cl, err := cardCall(OpRevealCard, http.MethodPost, merchantID, token, "/reveal")
	if err != nil {
		return nil, err
	}
	payload, err := c.reveal(ctx, cl)
	if err != nil {
		return nil, err
	}
	defer secret.Wipe(payload)
	var doc struct {
		Card *cardClaim `json:"card"`
	}
	if err := json.Unmarshal(payload, &doc); err != nil || doc.Card == nil || doc.Card.Number == "" {
		return nil, fmt.Errorf("%w: no card in the answer", ErrInvalidAnswer)
	}
	return &RevealedCard{
		MerchantID: merchantID,
		Token:      token,
		Card: Card{
			Number:     secret.New(doc.Card.Number),
			ExpMonth:   doc.Card.ExpMonth,
			ExpYear:    doc.Card.ExpYear,
			HolderName: secret.New(doc.Card.HolderName),
		},
	}, nil
}

// DeleteCard deletes a card (204).
func (c *Client) DeleteCard(ctx context.Context, merchantID, token string) error {
	cl, err := cardCall(OpDeleteCard, http.MethodDelete, merchantID, token, "")
	if err != nil {
		return err
	}
	_, err = c.do(ctx, cl)
	return err
}

// cardCall is a Bearer call on /v1/cards/{token}[suffix].
func cardCall(op, method, merchantID, token, suffix string) (call, error) {
	if merchantID == "" {
		return call{}, fmt.Errorf("vault client: %s: merchant id is empty", op)
	}
	seg, err := segment("token", token)
	if err != nil {
		return call{}, err
	}
	return call{
		op: op, method: method, path: "/v1/cards/" + seg + suffix,
		merchantID: merchantID, token: token,
	}, nil
}
