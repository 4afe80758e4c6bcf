package envelope

import (
	"context"
	"errors"
	"time"
)

// ErrNoKey reports that a merchant has no stored key (at that version).
var ErrNoKey = errors.New("envelope: no such merchant key")

// ErrShredded reports that the merchant was crypto-shredded: its keys are
// gone for good and no new ones are made.
var ErrShredded = errors.New("envelope: merchant was shredded")

// ErrKeyChanged reports that a stored key changed between a read and a
// conditional write (a concurrent re-wrap or destruction).
var ErrKeyChanged = errors.New("envelope: merchant key changed concurrently")

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
	// primary, or ErrNoKey, or ErrShredded once the merchant was shredded.
	LatestKey(ctx context.Context, merchantID string) (StoredKey, error)
	// KeyVersion returns one version, or ErrNoKey.
	KeyVersion(ctx context.Context, merchantID string, version uint32) (StoredKey, error)
	// CreateKey stores a new version unless it exists (ErrKeyExists).
	// A merchant's first version also enters it in the merchant directory
	// that scheduled rotation walks.
	CreateKey(ctx context.Context, key StoredKey) error
}

// KeyAdmin is what key lifecycle work needs beyond KeyStore: listing,
// retiring, re-wrapping and destroying versions, and shredding.
type KeyAdmin interface {
	KeyStore
	// Keys lists every stored version of the merchant, oldest first
	// (none after shredding).
	Keys(ctx context.Context, merchantID string) ([]StoredKey, error)
	// SetKeyState changes a version's state.
	SetKeyState(ctx context.Context, merchantID string, version uint32, state KeyState) error
	// ReplaceWrapped swaps a version's wrapped key for one wrapped under
	// another master key, if it still holds old (else ErrKeyChanged).
	ReplaceWrapped(ctx context.Context, merchantID string, version uint32, old, replacement WrappedKey) error
	// DestroyKey deletes one version's wrapped key. Records still sealed
	// with it can never be opened again.
	DestroyKey(ctx context.Context, merchantID string, version uint32) error
	// MarkShredded records that the merchant is shredded, so that
	// LatestKey answers ErrShredded from now on, whatever else remains.
	MarkShredded(ctx context.Context, merchantID string, at time.Time) error
	// Shredded reports whether the merchant was shredded (strongly
	// consistent).
	Shredded(ctx context.Context, merchantID string) (bool, error)
	// Merchants lists merchant ids that have keys, a page at a time;
	// cursor "" starts, and a returned cursor "" means the end.
	Merchants(ctx context.Context, cursor string, limit int) ([]string, string, error)
}
