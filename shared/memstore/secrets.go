package memstore

import (
	"bytes"
	"context"
	"slices"

	"github.com/cardvault/vault/shared/vault"
)

// secretTombstone is what a version leaves when it goes: its number
// stays taken until ttl (epoch seconds), as the adapter's tombstone item
// does. The live versions are in Store.secrets, the tombstones beside
// them, so listings and reads never meet a tombstone.
type secretTombstone struct{ ttl int64 }

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

// SecretHead implements vault.SecretStore.
func (s *Store) SecretHead(_ context.Context, merchantID, name string) (vault.SecretHead, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := secretName{merchantID, name}
	var head vault.SecretHead
	if versions := s.secrets[key]; len(versions) > 0 {
		head.Latest, head.Live = cloneSecret(versions[len(versions)-1]), true
		head.Top = head.Latest.Version
	}
	for v := range s.secretTombstones[key] {
		head.Top = max(head.Top, v)
	}
	return head, nil
}

// CreateSecretVersion implements vault.SecretStore. A version with the
// very same ciphertext is this write already done, not a conflict; a
// tombstone's number is taken.
func (s *Store) CreateSecretVersion(_ context.Context, rec vault.SecretRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := secretName{rec.MerchantID, rec.Name}
	if _, gone := s.secretTombstones[key][rec.Version]; gone {
		return vault.ErrConflict
	}
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

// retireSecrets turns the live versions of key that gone picks into
// tombstones and answers how many there were. The caller holds s.mu.
func (s *Store) retireSecrets(key secretName, gone func(vault.SecretRecord) bool) int {
	ttl := ttlSeconds(s.now().Add(vault.SecretTombstoneLifetime))
	retired := 0
	kept := slices.DeleteFunc(s.secrets[key], func(r vault.SecretRecord) bool {
		if !gone(r) {
			return false
		}
		if s.secretTombstones[key] == nil {
			s.secretTombstones[key] = make(map[uint32]secretTombstone)
		}
		s.secretTombstones[key][r.Version] = secretTombstone{ttl: ttl}
		retired++
		return true
	})
	if len(kept) == 0 {
		delete(s.secrets, key)
	} else {
		s.secrets[key] = kept
	}
	return retired
}

// PruneSecretVersions implements vault.SecretStore.
func (s *Store) PruneSecretVersions(_ context.Context, merchantID, name string, keepFrom uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retireSecrets(secretName{merchantID, name}, func(r vault.SecretRecord) bool { return r.Version < keepFrom })
	return nil
}

// DeleteSecret implements vault.SecretStore.
func (s *Store) DeleteSecret(_ context.Context, merchantID, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.retireSecrets(secretName{merchantID, name}, func(vault.SecretRecord) bool { return true }) == 0 {
		return vault.ErrNotFound
	}
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

// DeleteSecretVersion implements vault.SecretStore: the version becomes a
// tombstone only if it still holds rec.Sealed.
func (s *Store) DeleteSecretVersion(_ context.Context, rec vault.SecretRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retireSecrets(secretName{rec.MerchantID, rec.Name}, func(r vault.SecretRecord) bool {
		return r.Version == rec.Version && len(rec.Sealed) > 0 && bytes.Equal(r.Sealed, rec.Sealed)
	})
	return nil
}
