package vault

import (
	"context"
	"errors"
	"time"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/card"
)

// Store errors. Adapters return exactly these (wrapped or not) so the
// operations can tell a lost race from a failure.
var (
	// ErrNotFound: no such item.
	ErrNotFound = errors.New("vault: not found")
	// ErrConflict: a conditional write lost to a concurrent writer.
	ErrConflict = errors.New("vault: conditional write conflict")
	// ErrReplayed: the (issuer, jti) pair was seen inside the window.
	ErrReplayed = errors.New("vault: request id already used")
)

// CardRecord is a vaulted card as stored: the masked view in the clear
// beside the sealed card, so the masked view needs no key.
type CardRecord struct {
	Token       string
	MerchantID  string
	CustomerID  string
	Fingerprint string
	Masked      card.Masked
	// Sealed is the envelope ciphertext of the card (number, expiry,
	// holder), bound to this record by its AAD.
	Sealed     []byte
	KeyVersion uint32
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// ExpiresAt is the end of the card's ttl_seconds; zero means never.
	ExpiresAt time.Time
}

// CardIndexKey names the duplicate-detection entry of a card: one per
// merchant, customer and fingerprint.
type CardIndexKey struct {
	MerchantID  string
	CustomerID  string
	Fingerprint string
}

// CardStore keeps card records and their duplicate-detection index.
// Race-freedom comes from conditional writes only (no transactions).
type CardStore interface {
	// ClaimCardIndex points key at token unless an entry already exists;
	// then it returns the existing entry's token and ErrConflict. An entry
	// carries the card's expiry so that it does not outlive the card.
	ClaimCardIndex(ctx context.Context, key CardIndexKey, token string, expiresAt time.Time) (existingToken string, err error)
	// CreateCard stores rec unless its token exists (ErrConflict).
	CreateCard(ctx context.Context, rec CardRecord) error
	// ReplaceCard overwrites an existing record of the same merchant
	// (ErrNotFound when there is none), keeping CreatedAt.
	ReplaceCard(ctx context.Context, rec CardRecord) error
	// Card returns the record for token or ErrNotFound.
	Card(ctx context.Context, token string) (CardRecord, error)
}

// ReplayGuard remembers (issuer, jti) pairs for the replay window, across
// every container of the vault.
type ReplayGuard interface {
	// Consume records the pair until the given time, or returns
	// ErrReplayed if it is already recorded and not yet expired.
	Consume(ctx context.Context, issuer, jti string, until time.Time) error
}

// Auditor receives one event per request and per background action.
type Auditor interface {
	Record(ctx context.Context, e audit.Event) error
}
