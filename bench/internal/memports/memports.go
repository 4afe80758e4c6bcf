// Package memports keeps the vault's storage ports in memory, so that a
// benchmark of the request path measures the vault's CPU and not a
// database round trip. It follows the DynamoDB store's conditional-write
// semantics closely enough for the operations to take their normal paths;
// it is not a second implementation of the store's guarantees.
package memports

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/vault"
)

// Store is an in-memory CardStore, ReplayGuard, MerchantStatus and
// envelope.KeyStore. The zero value is not usable; call New.
type Store struct {
	mu       sync.Mutex
	cards    map[string]vault.CardRecord
	index    map[vault.CardIndexKey]string
	replay   map[string]time.Time
	keys     map[string][]envelope.StoredKey // per merchant, oldest first
	shredded map[string]bool
	now      func() time.Time
}

var (
	_ vault.CardStore      = (*Store)(nil)
	_ vault.ReplayGuard    = (*Store)(nil)
	_ vault.MerchantStatus = (*Store)(nil)
	_ envelope.KeyStore    = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	return &Store{
		cards:    make(map[string]vault.CardRecord),
		index:    make(map[vault.CardIndexKey]string),
		replay:   make(map[string]time.Time),
		keys:     make(map[string][]envelope.StoredKey),
		shredded: make(map[string]bool),
		now:      time.Now,
	}
}

// ClaimCardIndex implements vault.CardStore.
func (s *Store) ClaimCardIndex(_ context.Context, key vault.CardIndexKey, token string, _ time.Time) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if existing, ok := s.index[key]; ok {
		return existing, vault.ErrConflict
	}
	s.index[key] = token
	return "", nil
}

// CreateCard implements vault.CardStore.
func (s *Store) CreateCard(_ context.Context, rec vault.CardRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cards[rec.Token]; ok {
		return vault.ErrConflict
	}
	rec.Sealed = slices.Clone(rec.Sealed)
	s.cards[rec.Token] = rec
	return nil
}

// ReplaceCard implements vault.CardStore.
func (s *Store) ReplaceCard(_ context.Context, rec vault.CardRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.cards[rec.Token]
	if !ok || cur.MerchantID != rec.MerchantID {
		return vault.ErrNotFound
	}
	rec.CreatedAt = cur.CreatedAt
	rec.Sealed = slices.Clone(rec.Sealed)
	s.cards[rec.Token] = rec
	return nil
}

// Card implements vault.CardStore.
func (s *Store) Card(_ context.Context, token string) (vault.CardRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.cards[token]
	if !ok {
		return vault.CardRecord{}, vault.ErrNotFound
	}
	rec.Sealed = slices.Clone(rec.Sealed)
	return rec, nil
}

// DeleteCard implements vault.CardStore.
func (s *Store) DeleteCard(_ context.Context, rec vault.CardRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.cards[rec.Token]
	if !ok || cur.MerchantID != rec.MerchantID {
		return vault.ErrNotFound
	}
	key := vault.CardIndexKey{MerchantID: cur.MerchantID, CustomerID: cur.CustomerID, Fingerprint: cur.Fingerprint}
	if s.index[key] == rec.Token {
		delete(s.index, key)
	}
	delete(s.cards, rec.Token)
	return nil
}

// TakeOverCardIndex implements vault.CardStore.
func (s *Store) TakeOverCardIndex(_ context.Context, key vault.CardIndexKey, oldToken, newToken string, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.index[key] != oldToken {
		return vault.ErrConflict
	}
	s.index[key] = newToken
	return nil
}

// Consume implements vault.ReplayGuard.
func (s *Store) Consume(_ context.Context, issuer, jti string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := issuer + "\x00" + jti
	if exp, ok := s.replay[k]; ok && s.now().Before(exp) {
		return vault.ErrReplayed
	}
	s.replay[k] = until
	return nil
}

// Shredded implements vault.MerchantStatus.
func (s *Store) Shredded(_ context.Context, merchantID string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shredded[merchantID], nil
}

// LatestKey implements envelope.KeyStore.
func (s *Store) LatestKey(_ context.Context, merchantID string) (envelope.StoredKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shredded[merchantID] {
		return envelope.StoredKey{}, envelope.ErrShredded
	}
	versions := s.keys[merchantID]
	if len(versions) == 0 {
		return envelope.StoredKey{}, envelope.ErrNoKey
	}
	return versions[len(versions)-1], nil
}

// KeyVersion implements envelope.KeyStore.
func (s *Store) KeyVersion(_ context.Context, merchantID string, version uint32) (envelope.StoredKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.keys[merchantID] {
		if k.Version == version {
			return k, nil
		}
	}
	return envelope.StoredKey{}, envelope.ErrNoKey
}

// CreateKey implements envelope.KeyStore.
func (s *Store) CreateKey(_ context.Context, key envelope.StoredKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.keys[key.MerchantID] {
		if k.Version == key.Version {
			return envelope.ErrKeyExists
		}
	}
	key.Wrapped.Ciphertext = slices.Clone(key.Wrapped.Ciphertext)
	s.keys[key.MerchantID] = append(s.keys[key.MerchantID], key)
	slices.SortFunc(s.keys[key.MerchantID], func(a, b envelope.StoredKey) int { return int(a.Version) - int(b.Version) })
	return nil
}

func (s *Store) CardIndex(_ context.Context, key vault.CardIndexKey) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if token, ok := s.index[key]; ok {
		return token, nil
	}
	return "", vault.ErrNotFound
}
