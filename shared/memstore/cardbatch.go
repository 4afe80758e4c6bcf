package memstore

import (
	"context"

	"github.com/cardvault/vault/shared/vault"
)

var _ vault.CardBatchStore = (*Store)(nil)

// CardIndexes implements vault.CardBatchStore: the token of each key's
// live entry, "" for none or an expired one.
func (s *Store) CardIndexes(_ context.Context, keys []vault.CardIndexKey) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tokens := make([]string, len(keys))
	for i, k := range keys {
		if cur, ok := s.index[k]; ok && !expired(cur.ttl, s.now()) {
			tokens[i] = cur.token
		}
	}
	return tokens, nil
}

// PutCards implements vault.CardBatchStore: each record overwrites
// whatever its token held, with no condition.
func (s *Store) PutCards(_ context.Context, recs []vault.CardRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rec := range recs {
		s.cards[rec.Token] = cloneCard(rec)
	}
	return nil
}

// PutCardIndexes implements vault.CardBatchStore: each entry overwrites
// whatever its key held, with no condition.
func (s *Store) PutCardIndexes(_ context.Context, entries []vault.CardIndexEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entries {
		s.index[e.Key] = indexEntry{token: e.Token, ttl: ttlSeconds(e.ExpiresAt)}
	}
	return nil
}
