package memstore

import (
	"bytes"
	"context"
	"sort"
	"strings"

	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/vault"
)

// A listed record's SealedRecord.Key is "c\x00<token>" for a card and
// "s\x00<name>\x00<version>" for a secret version; the merchant is in the
// record's reference.
const (
	cardKeyPrefix   = "c\x00"
	secretKeyPrefix = "s\x00"
)

// sealedRecords lists the merchant's records (cards that are not deleted,
// secret versions) sealed with a key version below `below` (0: any), in
// key order.
func (s *Store) sealedRecords(merchantID string, below uint32) []vault.SealedRecord {
	var recs []vault.SealedRecord
	take := func(v uint32) bool { return below == 0 || v < below }
	for token, c := range s.cards {
		if c.MerchantID == merchantID && !c.Deleted && len(c.Sealed) > 0 && take(c.KeyVersion) {
			recs = append(recs, vault.SealedRecord{
				Ref:    envelope.RecordRef{Type: envelope.RecordCard, MerchantID: merchantID, ID: token},
				Sealed: bytes.Clone(c.Sealed), KeyVersion: c.KeyVersion, Key: cardKeyPrefix + token,
			})
		}
	}
	for key, versions := range s.secrets {
		if key.merchantID != merchantID {
			continue
		}
		for _, r := range versions {
			if take(r.KeyVersion) {
				recs = append(recs, vault.SealedRecord{
					Ref:    envelope.RecordRef{Type: envelope.RecordSecret, MerchantID: merchantID, ID: vault.SecretRecordID(r.Name, r.Version)},
					Sealed: bytes.Clone(r.Sealed), KeyVersion: r.KeyVersion, Key: secretKeyPrefix + r.Name + "\x00" + versionString(r.Version),
				})
			}
		}
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Key < recs[j].Key })
	return recs
}

func (s *Store) listRecords(merchantID string, below uint32, cursor string, limit int) ([]vault.SealedRecord, string, error) {
	after, err := decodeCursor(cursor, merchantID)
	if err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	recs := s.sealedRecords(merchantID, below)
	s.mu.Unlock()
	start := sort.Search(len(recs), func(i int) bool { return recs[i].Key > after })
	recs = recs[start:]
	if limit = pageSize(limit); len(recs) > limit {
		recs = recs[:limit]
		return recs, encodeCursor(merchantID, recs[limit-1].Key), nil
	}
	return recs, "", nil
}

// RecordsBelow implements vault.RotationStore.
func (s *Store) RecordsBelow(_ context.Context, merchantID string, below uint32, cursor string, limit int) ([]vault.SealedRecord, string, error) {
	if below == 0 {
		return nil, "", nil
	}
	return s.listRecords(merchantID, below, cursor, limit)
}

// RecordsOf implements vault.RotationStore.
func (s *Store) RecordsOf(_ context.Context, merchantID string, cursor string, limit int) ([]vault.SealedRecord, string, error) {
	return s.listRecords(merchantID, 0, cursor, limit)
}

// CountRecords implements vault.RotationStore.
func (s *Store) CountRecords(_ context.Context, merchantID string, version uint32) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.cards {
		if c.MerchantID == merchantID && !c.Deleted && len(c.Sealed) > 0 && c.KeyVersion == version {
			n++
		}
	}
	for key, versions := range s.secrets {
		if key.merchantID != merchantID {
			continue
		}
		for _, r := range versions {
			if r.KeyVersion == version {
				n++
			}
		}
	}
	return n, nil
}

// recordOf finds the stored record a listed one names: a card (token) or
// a secret version (index into its versions). The key must match the
// reference, as a ciphertext is bound to its reference by the AAD.
func (s *Store) recordOf(rec vault.SealedRecord) (token string, secret secretName, version int, found bool, err error) {
	mismatch := internalError("record key does not match its reference")
	switch {
	case rec.Ref.Type == envelope.RecordCard && strings.HasPrefix(rec.Key, cardKeyPrefix):
		token = rec.Key[len(cardKeyPrefix):]
		if token != rec.Ref.ID || token == "" {
			return "", secretName{}, 0, false, mismatch
		}
		c, ok := s.cards[token]
		return token, secretName{}, 0, ok && c.MerchantID == rec.Ref.MerchantID, nil
	case rec.Ref.Type == envelope.RecordSecret && strings.HasPrefix(rec.Key, secretKeyPrefix):
		name, v, ok := strings.Cut(rec.Key[len(secretKeyPrefix):], "\x00")
		if !ok || name == "" || name+"/"+v != rec.Ref.ID {
			return "", secretName{}, 0, false, mismatch
		}
		key := secretName{rec.Ref.MerchantID, name}
		for i, r := range s.secrets[key] {
			if versionString(r.Version) == v {
				return "", key, i, true, nil
			}
		}
		return "", key, 0, false, nil
	}
	return "", secretName{}, 0, false, mismatch
}

// ResealRecord implements vault.RotationStore: the new ciphertext is
// written only over the very one that was listed.
func (s *Store) ResealRecord(_ context.Context, rec vault.SealedRecord, sealed []byte, version uint32) error {
	if len(sealed) == 0 {
		return internalError("empty ciphertext to reseal with")
	}
	if len(rec.Sealed) == 0 {
		return vault.ErrConflict
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	token, secret, i, found, err := s.recordOf(rec)
	if err != nil {
		return err
	}
	if !found {
		return vault.ErrConflict
	}
	if token != "" {
		c := s.cards[token]
		if !bytes.Equal(c.Sealed, rec.Sealed) {
			return vault.ErrConflict
		}
		c.Sealed, c.KeyVersion = bytes.Clone(sealed), version
		s.cards[token] = c
		return nil
	}
	r := &s.secrets[secret][i]
	if !bytes.Equal(r.Sealed, rec.Sealed) {
		return vault.ErrConflict
	}
	r.Sealed, r.KeyVersion = bytes.Clone(sealed), version
	return nil
}

// DeleteRecord implements vault.RotationStore; a record already gone, or
// not the merchant's, is success.
func (s *Store) DeleteRecord(_ context.Context, rec vault.SealedRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	token, secret, i, found, err := s.recordOf(rec)
	if err != nil || !found {
		return err
	}
	if token != "" {
		_ = s.deleteCardLocked(token, rec.Ref.MerchantID)
		return nil
	}
	versions := append(s.secrets[secret][:i:i], s.secrets[secret][i+1:]...)
	if len(versions) == 0 {
		delete(s.secrets, secret)
	} else {
		s.secrets[secret] = versions
	}
	return nil
}

// RotationState implements vault.RotationStore.
func (s *Store) RotationState(_ context.Context, merchantID string) (vault.RotationState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.rotation[merchantID]
	if !ok {
		return vault.RotationState{MerchantID: merchantID}, nil
	}
	return st, nil
}

// SaveRotationState implements vault.RotationStore: st is stored with
// revision st.Revision+1 if the stored revision is st.Revision (0: none
// stored), else vault.ErrConflict.
func (s *Store) SaveRotationState(_ context.Context, st vault.RotationState) error {
	if st.MerchantID == "" || st.Revision < 0 {
		return internalError("rotation state without merchant or with a negative revision")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rotation[st.MerchantID].Revision != st.Revision {
		return vault.ErrConflict
	}
	st.Revision++
	s.rotation[st.MerchantID] = st
	return nil
}

// WithClearFields implements vault.RotationStore: rec with the clear
// fields of the stored record it names, or vault.ErrConflict if that
// record is gone or no longer holds rec.Sealed.
func (s *Store) WithClearFields(_ context.Context, rec vault.SealedRecord) (vault.SealedRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	token, secret, i, found, err := s.recordOf(rec)
	if err != nil {
		return vault.SealedRecord{}, err
	}
	if !found {
		return vault.SealedRecord{}, vault.ErrConflict
	}
	if token != "" {
		c := s.cards[token]
		if !bytes.Equal(c.Sealed, rec.Sealed) {
			return vault.SealedRecord{}, vault.ErrConflict
		}
		rec.Ref.Clear = vault.CardClearFields(c)
		return rec, nil
	}
	r := s.secrets[secret][i]
	if !bytes.Equal(r.Sealed, rec.Sealed) {
		return vault.SealedRecord{}, vault.ErrConflict
	}
	rec.Ref.Clear = vault.SecretClearFields(r)
	return rec, nil
}
