package memstore

import (
	"bytes"
	"context"
	"slices"

	"github.com/cardvault/vault/shared/vault"
)

// LatestSecret implements vault.SecretStore.
func (s *Store) LatestSecret(_ context.Context, merchantID, name string) (vault.SecretRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	versions := s.secrets[secretName{merchantID, name}]
	if len(versions) == 0 {
		return vault.SecretRecord{}, vault.ErrNotFound
	}
	return cloneSecret(versions[len(versions)-1]), nil
}

// CreateSecretVersion implements vault.SecretStore. A version with the
// very same ciphertext is this write already done, not a conflict.
func (s *Store) CreateSecretVersion(_ context.Context, rec vault.SecretRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := secretName{rec.MerchantID, rec.Name}
	versions := s.secrets[key]
	i, found := slices.BinarySearchFunc(versions, rec.Version, func(r vault.SecretRecord, v uint32) int { return cmpVersion(r.Version, v) })
	if found {
		if len(rec.Sealed) > 0 && bytes.Equal(versions[i].Sealed, rec.Sealed) {
			return nil
		}
		return vault.ErrConflict
	}
	s.secrets[key] = slices.Insert(versions, i, cloneSecret(rec))
	return nil
}

// PruneSecretVersions implements vault.SecretStore.
func (s *Store) PruneSecretVersions(_ context.Context, merchantID, name string, keepFrom uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := secretName{merchantID, name}
	kept := slices.DeleteFunc(s.secrets[key], func(r vault.SecretRecord) bool { return r.Version < keepFrom })
	if len(kept) == 0 {
		delete(s.secrets, key)
		return nil
	}
	s.secrets[key] = kept
	return nil
}

// DeleteSecret implements vault.SecretStore.
func (s *Store) DeleteSecret(_ context.Context, merchantID, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := secretName{merchantID, name}
	if len(s.secrets[key]) == 0 {
		return vault.ErrNotFound
	}
	delete(s.secrets, key)
	return nil
}

func cmpVersion(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// DeleteSecretVersion implements vault.SecretStore: the version goes only
// if it still holds rec.Sealed.
func (s *Store) DeleteSecretVersion(_ context.Context, rec vault.SecretRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := secretName{rec.MerchantID, rec.Name}
	kept := slices.DeleteFunc(s.secrets[key], func(r vault.SecretRecord) bool {
		return r.Version == rec.Version && bytes.Equal(r.Sealed, rec.Sealed)
	})
	if len(kept) == 0 {
		delete(s.secrets, key)
		return nil
	}
	s.secrets[key] = kept
	return nil
}
