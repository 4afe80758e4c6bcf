package httpapi_test

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/vault"
)

// In-memory stores with the conditional-write semantics of the DynamoDB
// adapter, enough for the API to run every card and secret route in a
// fuzz loop without a database.

var (
	_ vault.CardStore      = (*memCards)(nil)
	_ vault.SecretStore    = (*memSecrets)(nil)
	_ vault.ReplayGuard    = memReplay{}
	_ vault.MerchantStatus = notShredded{}
	_ envelope.KeyStore    = memKeys{}
	_ audit.Sink           = discardAudit{}
)

type memCards struct {
	mu    sync.Mutex
	cards map[string]vault.CardRecord
	index map[vault.CardIndexKey]string
}

func newMemCards() *memCards {
	return &memCards{cards: map[string]vault.CardRecord{}, index: map[vault.CardIndexKey]string{}}
}

func (m *memCards) ClaimCardIndex(_ context.Context, key vault.CardIndexKey, token string, _ time.Time) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if existing, ok := m.index[key]; ok {
		return existing, vault.ErrConflict
	}
	m.index[key] = token
	return "", nil
}

func (m *memCards) CreateCard(_ context.Context, rec vault.CardRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.cards[rec.Token]; ok {
		return vault.ErrConflict
	}
	m.cards[rec.Token] = rec
	return nil
}

func (m *memCards) ReplaceCard(_ context.Context, rec vault.CardRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.cards[rec.Token]
	if !ok || old.MerchantID != rec.MerchantID {
		return vault.ErrNotFound
	}
	rec.CreatedAt = old.CreatedAt
	m.cards[rec.Token] = rec
	return nil
}

func (m *memCards) Card(_ context.Context, token string) (vault.CardRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.cards[token]
	if !ok {
		return vault.CardRecord{}, vault.ErrNotFound
	}
	return rec, nil
}

func (m *memCards) DeleteCard(_ context.Context, rec vault.CardRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.cards[rec.Token]
	if !ok || old.MerchantID != rec.MerchantID {
		return vault.ErrNotFound
	}
	delete(m.cards, rec.Token)
	for k, tok := range m.index {
		if tok == rec.Token {
			delete(m.index, k)
		}
	}
	return nil
}

func (m *memCards) TakeOverCardIndex(_ context.Context, key vault.CardIndexKey, oldToken, newToken string, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.index[key] != oldToken {
		return vault.ErrConflict
	}
	m.index[key] = newToken
	return nil
}

type memSecrets struct {
	mu       sync.Mutex
	versions map[string][]vault.SecretRecord // merchant + "/" + name, oldest first
}

func newMemSecrets() *memSecrets { return &memSecrets{versions: map[string][]vault.SecretRecord{}} }

func (m *memSecrets) LatestSecret(_ context.Context, merchantID, name string) (vault.SecretRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.versions[merchantID+"/"+name]
	if len(v) == 0 {
		return vault.SecretRecord{}, vault.ErrNotFound
	}
	return v[len(v)-1], nil
}

func (m *memSecrets) CreateSecretVersion(_ context.Context, rec vault.SecretRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := rec.MerchantID + "/" + rec.Name
	for _, r := range m.versions[key] {
		if r.Version == rec.Version {
			return vault.ErrConflict
		}
	}
	m.versions[key] = append(m.versions[key], rec)
	return nil
}

func (m *memSecrets) PruneSecretVersions(_ context.Context, merchantID, name string, keepFrom uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := merchantID + "/" + name
	var kept []vault.SecretRecord
	for _, r := range m.versions[key] {
		if r.Version >= keepFrom {
			kept = append(kept, r)
		}
	}
	m.versions[key] = kept
	return nil
}

func (m *memSecrets) DeleteSecret(_ context.Context, merchantID, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := merchantID + "/" + name
	if len(m.versions[key]) == 0 {
		return vault.ErrNotFound
	}
	delete(m.versions, key)
	return nil
}

// memReplay remembers request ids for the life of one API (one fuzz
// input).
type memReplay map[string]bool

func (m memReplay) Consume(_ context.Context, issuer, jti string, _ time.Time) error {
	key := issuer + "\x00" + jti
	if m[key] {
		return vault.ErrReplayed
	}
	m[key] = true
	return nil
}

type notShredded struct{}

func (notShredded) Shredded(context.Context, string) (bool, error) { return false, nil }

// memKeys keeps wrapped merchant keys for one API.
type memKeys map[string]envelope.StoredKey

func (m memKeys) LatestKey(_ context.Context, merchantID string) (envelope.StoredKey, error) {
	var best envelope.StoredKey
	for _, k := range m {
		if k.MerchantID == merchantID && k.Version > best.Version {
			best = k
		}
	}
	if best.Version == 0 {
		return envelope.StoredKey{}, envelope.ErrNoKey
	}
	return best, nil
}

func (m memKeys) KeyVersion(_ context.Context, merchantID string, version uint32) (envelope.StoredKey, error) {
	for _, k := range m {
		if k.MerchantID == merchantID && k.Version == version {
			return k, nil
		}
	}
	return envelope.StoredKey{}, envelope.ErrNoKey
}

func (m memKeys) CreateKey(_ context.Context, k envelope.StoredKey) error {
	key := k.MerchantID + "\x00" + strconv.FormatUint(uint64(k.Version), 10)
	if _, ok := m[key]; ok {
		return envelope.ErrKeyExists
	}
	m[key] = k
	return nil
}

type discardAudit struct{}

func (discardAudit) Record(context.Context, audit.Event) error { return nil }

func (m *memCards) CardIndex(_ context.Context, key vault.CardIndexKey) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if token, ok := m.index[key]; ok {
		return token, nil
	}
	return "", vault.ErrNotFound
}
