package envelope

import (
	"context"
	"errors"
	"time"
)

// ErrNoKey reports that a merchant has no stored key (at that version).
var ErrNoKey = errors.New("envelope: no such merchant key")

// ErrKeyExists reports that a key version was created concurrently by
// another writer; the caller reads theirs instead.
var ErrKeyExists = errors.New("envelope: merchant key version already exists")

// KeyState is the lifecycle state of one key version.
type KeyState string

const (
	// KeyPrimary encrypts new records.
	KeyPrimary KeyState = "primary"
	// KeyRetiring still decrypts records that have not been re-encrypted.
	KeyRetiring KeyState = "retiring"
)

// StoredKey is one version of a merchant's key bundle as kept at rest:
// wrapped only.
type StoredKey struct {
	MerchantID string
	Version    uint32
	Wrapped    WrappedKey
	State      KeyState
	CreatedAt  time.Time
}

// KeyStore keeps wrapped merchant keys. The DynamoDB adapter implements it;
// versions are created with conditional writes, so two writers racing for
// the same version cannot both win.
type KeyStore interface {
	// LatestKey returns the merchant's highest key version, which is its
	// primary, or ErrNoKey.
	LatestKey(ctx context.Context, merchantID string) (StoredKey, error)
	// KeyVersion returns one version, or ErrNoKey.
	KeyVersion(ctx context.Context, merchantID string, version uint32) (StoredKey, error)
	// CreateKey stores a new version unless it exists (ErrKeyExists).
	CreateKey(ctx context.Context, key StoredKey) error
}
