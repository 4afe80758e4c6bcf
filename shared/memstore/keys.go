package memstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"slices"
	"sort"
	"time"

	"github.com/cardvault/vault/shared/envelope"
)

// LatestKey implements envelope.KeyStore.
func (s *Store) LatestKey(_ context.Context, merchantID string) (envelope.StoredKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.shredded[merchantID]; ok {
		return envelope.StoredKey{}, envelope.ErrShredded
	}
	versions := s.keys[merchantID]
	if len(versions) == 0 {
		return envelope.StoredKey{}, envelope.ErrNoKey
	}
	return cloneKey(versions[len(versions)-1]), nil
}

// KeyVersion implements envelope.KeyStore.
func (s *Store) KeyVersion(_ context.Context, merchantID string, version uint32) (envelope.StoredKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.findKey(merchantID, version)
	if !ok {
		return envelope.StoredKey{}, envelope.ErrNoKey
	}
	return cloneKey(s.keys[merchantID][i]), nil
}

func (s *Store) findKey(merchantID string, version uint32) (int, bool) {
	return slices.BinarySearchFunc(s.keys[merchantID], version, func(k envelope.StoredKey, v uint32) int { return cmpVersion(k.Version, v) })
}

// CreateKey implements envelope.KeyStore: the merchant enters the
// directory, a version that exists is envelope.ErrKeyExists (unless it is
// this very wrap), and a shredded merchant gets no key
// (envelope.ErrShredded).
func (s *Store) CreateKey(_ context.Context, key envelope.StoredKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.directory[key.MerchantID] = true
	i, found := s.findKey(key.MerchantID, key.Version)
	if found {
		if len(key.Wrapped.Ciphertext) > 0 && bytes.Equal(s.keys[key.MerchantID][i].Wrapped.Ciphertext, key.Wrapped.Ciphertext) {
			return nil
		}
		return envelope.ErrKeyExists
	}
	if _, ok := s.shredded[key.MerchantID]; ok {
		return envelope.ErrShredded
	}
	s.keys[key.MerchantID] = slices.Insert(s.keys[key.MerchantID], i, cloneKey(key))
	return nil
}

// Keys implements envelope.KeyAdmin.
func (s *Store) Keys(_ context.Context, merchantID string) ([]envelope.StoredKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []envelope.StoredKey
	for _, k := range s.keys[merchantID] {
		out = append(out, cloneKey(k))
	}
	return out, nil
}

// SetKeyState implements envelope.KeyAdmin.
func (s *Store) SetKeyState(_ context.Context, merchantID string, version uint32, state envelope.KeyState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.findKey(merchantID, version)
	if !ok {
		return envelope.ErrNoKey
	}
	s.keys[merchantID][i].State = state
	return nil
}

// ReplaceWrapped implements envelope.KeyAdmin.
func (s *Store) ReplaceWrapped(_ context.Context, merchantID string, version uint32, old, replacement envelope.WrappedKey) error {
	if len(replacement.Ciphertext) == 0 {
		return internalError("empty replacement wrapped key")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.findKey(merchantID, version)
	if !ok || len(old.Ciphertext) == 0 {
		return envelope.ErrKeyChanged
	}
	cur := &s.keys[merchantID][i]
	if cur.Wrapped.MasterKeyID != old.MasterKeyID || !bytes.Equal(cur.Wrapped.Ciphertext, old.Ciphertext) {
		return envelope.ErrKeyChanged
	}
	cur.Wrapped = envelope.WrappedKey{MasterKeyID: replacement.MasterKeyID, Ciphertext: slices.Clone(replacement.Ciphertext)}
	return nil
}

// DestroyKey implements envelope.KeyAdmin; a version already gone is
// success.
func (s *Store) DestroyKey(_ context.Context, merchantID string, version uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.findKey(merchantID, version); ok {
		s.keys[merchantID] = slices.Delete(s.keys[merchantID], i, i+1)
	}
	return nil
}

// MarkShredded implements envelope.KeyAdmin; marking twice keeps the
// first time.
func (s *Store) MarkShredded(_ context.Context, merchantID string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.shredded[merchantID]; ok {
		return nil
	}
	if at.IsZero() {
		at = s.now()
	}
	s.shredded[merchantID] = at
	return nil
}

// Shredded implements envelope.KeyAdmin and vault.MerchantStatus.
func (s *Store) Shredded(_ context.Context, merchantID string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.shredded[merchantID]
	return ok, nil
}

// Merchants implements envelope.KeyAdmin: the directory in id order.
func (s *Store) Merchants(_ context.Context, cursor string, limit int) ([]string, string, error) {
	after := ""
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || len(raw) == 0 {
			return nil, "", internalError("not a directory cursor")
		}
		after = string(raw)
	}
	s.mu.Lock()
	ids := make([]string, 0, len(s.directory))
	for id := range s.directory {
		if after == "" || id > after {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	sort.Strings(ids)
	if limit = pageSize(limit); len(ids) > limit {
		ids = ids[:limit]
		return ids, base64.RawURLEncoding.EncodeToString([]byte(ids[limit-1])), nil
	}
	return ids, "", nil
}
