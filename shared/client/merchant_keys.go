package client

import (
	"context"
	"net/http"
	"time"
)

// KeyStatus is a merchant's data-key status: its versions and the progress
// of a rotation.
type KeyStatus struct {
	MerchantID     string       `json:"merchant_id"`
	PrimaryVersion int          `json:"primary_version"`
	Versions       []KeyVersion `json:"versions"`
	Rotation       Rotation     `json:"rotation"`
}

// KeyVersion is one version of a merchant's data key and how many records
// it still protects.
type KeyVersion struct {
	Version   int       `json:"version"`
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	Records   int64     `json:"records"`
}

// Rotation states.
const (
	RotationIdle    = "idle"
	RotationRunning = "running"
)

// Rotation is the background re-encryption after a rotation.
type Rotation struct {
	State       string    `json:"state"`
	StartedAt   time.Time `json:"started_at,omitzero"`
	Reencrypted int64     `json:"reencrypted"`
	Remaining   int64     `json:"remaining"`
}

// RotateKeys makes a new primary data key at once; older records are
// re-encrypted in the background (202).
func (c *Client) RotateKeys(ctx context.Context, merchantID string) (*KeyStatus, error) {
	return c.keyStatusCall(ctx, OpRotateKeys, http.MethodPost, merchantID, "/keys/rotate")
}

// GetKeys returns the merchant's key status.
func (c *Client) GetKeys(ctx context.Context, merchantID string) (*KeyStatus, error) {
	return c.keyStatusCall(ctx, OpGetKeys, http.MethodGet, merchantID, "/keys")
}

// ShredMerchant destroys every data key of the merchant: its cards and
// secrets can never be decrypted again (204). There is no undo.
func (c *Client) ShredMerchant(ctx context.Context, merchantID string) error {
	cl, err := merchantCall(OpShredMerchant, http.MethodDelete, merchantID, "")
	if err != nil {
		return err
	}
	_, err = c.do(ctx, cl)
	return err
}

func (c *Client) keyStatusCall(ctx context.Context, op, method, merchantID, suffix string) (*KeyStatus, error) {
	cl, err := merchantCall(op, method, merchantID, suffix)
	if err != nil {
		return nil, err
	}
	st, _, err := doJSON[KeyStatus](ctx, c, cl)
	return st, err
}

// merchantCall is a Bearer call on /v1/merchants/{merchant}[suffix].
func merchantCall(op, method, merchantID, suffix string) (call, error) {
	m, err := segment("merchant id", merchantID)
	if err != nil {
		return call{}, err
	}
	return call{op: op, method: method, path: "/v1/merchants/" + m + suffix, merchantID: merchantID}, nil
}
