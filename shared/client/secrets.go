package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/cardvault/vault/shared/secret"
)

// SecretMeta is a merchant secret's metadata; the vault never returns the
// value here, only a mask of at most its last 4 characters.
type SecretMeta struct {
	MerchantID string            `json:"merchant_id"`
	Name       string            `json:"name"`
	Version    int               `json:"version"`
	Masked     string            `json:"masked"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
}

// RevealedSecret is a decrypted secret whose answer passed verification.
type RevealedSecret struct {
	MerchantID string
	Name       string
	Version    int
	Value      secret.Secret[string]
}

// PutSecret stores a new version of a merchant secret. created is true when
// the name was new (201), false when a new version was added (200). The
// value travels signed and encrypted to the vault.
func (c *Client) PutSecret(ctx context.Context, merchantID, name string, value secret.Secret[string], metadata map[string]string) (*SecretMeta, bool, error) {
	cl, err := secretCall(OpPutSecret, http.MethodPut, merchantID, name, "")
	if err != nil {
		return nil, false, err
	}
	cl.sensitive = true
	cl.extra = map[string]any{"value": value.Reveal()}
	if len(metadata) > 0 {
		cl.extra["metadata"] = metadata
	}
	meta, a, err := doJSON[SecretMeta](ctx, c, cl)
	if err != nil {
		return nil, false, err
	}
	return meta, a.status == http.StatusCreated, nil
}

// GetSecret returns a secret's metadata, never its value.
func (c *Client) GetSecret(ctx context.Context, merchantID, name string) (*SecretMeta, error) {
	cl, err := secretCall(OpGetSecret, http.MethodGet, merchantID, name, "")
	if err != nil {
		return nil, err
	}
	meta, _, err := doJSON[SecretMeta](ctx, c, cl)
	return meta, err
}

// RevealSecret returns the secret's current value, after the same checks as
// RevealCard (bound to this request's jti, merchant and name).
func (c *Client) RevealSecret(ctx context.Context, merchantID, name string) (*RevealedSecret, error) {
	cl, err := secretCall(OpRevealSecret, http.MethodPost, merchantID, name, "/reveal")
	if err != nil {
		return nil, err
	}
	payload, err := c.reveal(ctx, cl)
	if err != nil {
		return nil, err
	}
	defer secret.Wipe(payload)
	var doc struct {
		Version int     `json:"version"`
		Value   *string `json:"value"`
	}
	if err := json.Unmarshal(payload, &doc); err != nil || doc.Value == nil {
		return nil, fmt.Errorf("%w: no value in the answer", ErrInvalidAnswer)
	}
	return &RevealedSecret{
		MerchantID: merchantID,
		Name:       name,
		Version:    doc.Version,
		Value:      secret.New(*doc.Value),
	}, nil
}

// DeleteSecret deletes a secret, every version (204).
func (c *Client) DeleteSecret(ctx context.Context, merchantID, name string) error {
	cl, err := secretCall(OpDeleteSecret, http.MethodDelete, merchantID, name, "")
	if err != nil {
		return err
	}
	_, err = c.do(ctx, cl)
	return err
}

// secretCall is a call on /v1/merchants/{merchant}/secrets/{name}[suffix].
func secretCall(op, method, merchantID, name, suffix string) (call, error) {
	m, err := segment("merchant id", merchantID)
	if err != nil {
		return call{}, err
	}
	n, err := segment("secret name", name)
	if err != nil {
		return call{}, err
	}
	return call{
		op: op, method: method, path: "/v1/merchants/" + m + "/secrets/" + n + suffix,
		merchantID: merchantID, name: name,
	}, nil
}
