package memstore

import (
	"context"
	"time"

	"github.com/cardvault/vault/shared/vault"
)

// Consume implements vault.ReplayGuard: the pair is kept until `until`,
// and an expired pair is taken again, as the adapter's conditional put
// does.
func (s *Store) Consume(_ context.Context, issuer, jti string, until time.Time) error {
	if until.IsZero() {
		return internalError("replay entry without expiry")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := replayKey{issuer, jti}
	if ttl, ok := s.replay[key]; ok && !expired(ttl, s.now()) {
		return vault.ErrReplayed
	}
	s.replay[key] = ttlSeconds(until)
	return nil
}

// PurgeExpired implements vault.Purger: it deletes up to limit expired
// items (cards, index entries, replay entries, secret tombstones) and
// returns how many.
func (s *Store) PurgeExpired(_ context.Context, now time.Time, limit int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	purged := 0
	for token, rec := range s.cards {
		if purged == limit {
			return purged, nil
		}
		if expired(ttlSeconds(rec.ExpiresAt), now) {
			delete(s.cards, token)
			purged++
		}
	}
	for key, e := range s.index {
		if purged == limit {
			return purged, nil
		}
		if expired(e.ttl, now) {
			delete(s.index, key)
			purged++
		}
	}
	for key, ttl := range s.replay {
		if purged == limit {
			return purged, nil
		}
		if expired(ttl, now) {
			delete(s.replay, key)
			purged++
		}
	}
	for key, tombstones := range s.secretTombstones {
		for v, t := range tombstones {
			if purged == limit {
				return purged, nil
			}
			if expired(t.ttl, now) {
				delete(tombstones, v)
				purged++
			}
		}
		if len(tombstones) == 0 {
			delete(s.secretTombstones, key)
		}
	}
	return purged, nil
}
