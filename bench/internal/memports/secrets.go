package memports

import (
	"context"
	"slices"
	"sync"

	"github.com/cardvault/vault/shared/vault"
)

// Secrets is an in-memory vault.SecretStore: versions per merchant and
// name, a new version created only if it does not exist yet.
type Secrets struct {
	mu       sync.Mutex
	versions map[string][]vault.SecretRecord // merchant/name -> versions, oldest first
}

var _ vault.SecretStore = (*Secrets)(nil)

// NewSecrets returns an empty secret store.
func NewSecrets() *Secrets { return &Secrets{versions: map[string][]vault.SecretRecord{}} }

func secretKey(merchantID, name string) string { return merchantID + "/" + name }

// LatestSecret implements vault.SecretStore.
func (s *Secrets) LatestSecret(_ context.Context, merchantID, name string) (vault.SecretRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vs := s.versions[secretKey(merchantID, name)]
	if len(vs) == 0 {
		return vault.SecretRecord{}, vault.ErrNotFound
	}
	return vs[len(vs)-1], nil
}

// CreateSecretVersion implements vault.SecretStore.
func (s *Secrets) CreateSecretVersion(_ context.Context, rec vault.SecretRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := secretKey(rec.MerchantID, rec.Name)
	for _, v := range s.versions[k] {
		if v.Version == rec.Version {
			return vault.ErrConflict
		}
	}
	rec.Sealed = slices.Clone(rec.Sealed)
	s.versions[k] = append(s.versions[k], rec)
	return nil
}

// PruneSecretVersions implements vault.SecretStore.
func (s *Secrets) PruneSecretVersions(_ context.Context, merchantID, name string, keepFrom uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := secretKey(merchantID, name)
	s.versions[k] = slices.DeleteFunc(s.versions[k], func(r vault.SecretRecord) bool { return r.Version < keepFrom })
	return nil
}

// DeleteSecret implements vault.SecretStore.
func (s *Secrets) DeleteSecret(_ context.Context, merchantID, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := secretKey(merchantID, name)
	if len(s.versions[k]) == 0 {
		return vault.ErrNotFound
	}
	delete(s.versions, k)
	return nil
}
