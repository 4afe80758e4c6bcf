// Package memstore keeps every port of the vault in memory: cards and
// their duplicate-detection index, merchant secrets, the replay window,
// merchant keys and the merchant directory, rotation state, migration
// jobs and their checkpoints, background work and the audit trail. It exists for tests and benchmarks, the way
// net/http/httptest serves HTTP tests: nothing persists, one mutex
// serialises every call, and no product code may import it (a test of the
// module's layout holds that).
//
// It keeps the semantics of the DynamoDB adapter (shared/store) that the
// operations depend on: conditional writes that lose with ErrConflict (or
// the envelope's ErrKeyExists and ErrKeyChanged), ErrNotFound for what is
// missing or another merchant's, idempotent repeats of a create with the
// very same ciphertext, expiry judged in whole seconds by the store's
// clock, and the replay window. The contract suite in
// shared/internal/storetest runs the same tests against both, so the two
// cannot drift apart.
package memstore

import (
	"encoding/base64"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/migrate"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

// Store is every storage port of the vault in memory. It is safe for
// concurrent use. The zero value is not usable; call New.
type Store struct {
	mu  sync.Mutex
	now func() time.Time

	cards   map[string]vault.CardRecord
	index   map[vault.CardIndexKey]indexEntry
	secrets map[secretName][]vault.SecretRecord // oldest version first
	// secretTombstones holds the numbers of versions that went.
	secretTombstones map[secretName]map[uint32]secretTombstone
	replay           map[replayKey]replayEntry
	keys             map[string][]envelope.StoredKey // per merchant, oldest first
	// shredded holds when each shredded merchant was shredded.
	shredded map[string]time.Time
	// directory holds the merchants that have (had) keys.
	directory map[string]bool
	rotation  map[string]vault.RotationState
	// jobs and batches are the migration jobs and their checkpoints.
	jobs    map[string]migrate.Job
	batches map[batchKey]migrate.Batch
}

var (
	_ vault.CardStore           = (*Store)(nil)
	_ vault.SecretStore         = (*Store)(nil)
	_ vault.UndoableReplayGuard = (*Store)(nil)
	_ vault.MerchantStatus      = (*Store)(nil)
	_ vault.RotationStore       = (*Store)(nil)
	_ vault.Purger              = (*Store)(nil)
	_ envelope.KeyStore         = (*Store)(nil)
	_ envelope.KeyAdmin         = (*Store)(nil)
)

type indexEntry struct {
	token string
	ttl   int64
}

type secretName struct{ merchantID, name string }

type replayKey struct{ issuer, jti string }

// replayEntry is a spent pair: its expiry (epoch seconds) and the attempt
// value of the Spend that wrote it.
type replayEntry struct {
	ttl     int64
	attempt string
}

// Option adjusts a Store.
type Option func(*Store)

// WithClock makes the store judge expiry (of replay entries, index
// entries and cards) by now instead of the system clock, as
// store.WithClock does: give it the clock the operations use.
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// New returns an empty store.
func New(opts ...Option) *Store {
	s := &Store{
		now:              time.Now,
		cards:            make(map[string]vault.CardRecord),
		index:            make(map[vault.CardIndexKey]indexEntry),
		secrets:          make(map[secretName][]vault.SecretRecord),
		secretTombstones: make(map[secretName]map[uint32]secretTombstone),
		replay:           make(map[replayKey]replayEntry),
		keys:             make(map[string][]envelope.StoredKey),
		shredded:         make(map[string]time.Time),
		directory:        make(map[string]bool),
		rotation:         make(map[string]vault.RotationState),
		jobs:             make(map[string]migrate.Job),
		batches:          make(map[batchKey]migrate.Batch),
	}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// ttlSeconds is an expiry in whole epoch seconds, rounded up (0: never),
// as the DynamoDB adapter keeps it in its ttl attribute.
func ttlSeconds(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return max(s, 1)
}

// expired reports whether an expiry in epoch seconds has passed at now,
// by the adapter's rule (ttl <= now in whole seconds).
func expired(ttl int64, now time.Time) bool { return ttl != 0 && ttl <= now.Unix() }

func internalError(why string) error {
	return vaulterr.Wrap(vaulterr.Internal, "internal error", errors.New("memstore: "+why))
}

func cloneCard(rec vault.CardRecord) vault.CardRecord {
	rec.Sealed = slices.Clone(rec.Sealed)
	return rec
}

func cloneSecret(rec vault.SecretRecord) vault.SecretRecord {
	rec.Sealed = slices.Clone(rec.Sealed)
	rec.Metadata = maps.Clone(rec.Metadata)
	return rec
}

func cloneKey(k envelope.StoredKey) envelope.StoredKey {
	k.Wrapped.Ciphertext = slices.Clone(k.Wrapped.Ciphertext)
	return k
}

// pageSize bounds a listing the way the adapter does.
func pageSize(limit int) int {
	switch {
	case limit <= 0:
		return 100
	case limit > 10_000:
		return 10_000
	}
	return limit
}

// encodeCursor and decodeCursor make a listing's cursor: opaque, and bound
// to one merchant so that it cannot steer a listing into another's items.
func encodeCursor(merchantID, after string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(merchantID + "\x00" + after))
}

func decodeCursor(cursor, merchantID string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return "", internalError("listing cursor is not base64url")
	}
	m, after, ok := strings.Cut(string(raw), "\x00")
	if !ok || m != merchantID || after == "" {
		return "", internalError("listing cursor of another listing")
	}
	return after, nil
}

func versionString(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
