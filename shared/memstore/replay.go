package memstore

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/cardvault/vault/shared/vault"
)

// Consume implements vault.ReplayGuard: the pair is kept until `until`,
// and an expired pair is taken again, as the adapter's conditional put
// does.
func (s *Store) Consume(ctx context.Context, issuer, jti string, until time.Time) error {
	_, err := s.Spend(ctx, issuer, jti, until)
	return err
}

// Spend implements vault.UndoableReplayGuard: Consume, with an attempt
// value of its own on the entry, as the adapter writes one.
func (s *Store) Spend(_ context.Context, issuer, jti string, until time.Time) (vault.ReplaySpend, error) {
	if until.IsZero() {
		return vault.ReplaySpend{}, internalError("replay entry without expiry")
	}
	var attempt [16]byte
	_, _ = rand.Read(attempt[:]) // crypto/rand.Read never fails (Go 1.24+)
	s.mu.Lock()
	defer s.mu.Unlock()
	key := replayKey{issuer, jti}
	if e, ok := s.replay[key]; ok && !expired(e.ttl, s.now()) {
		return vault.ReplaySpend{}, vault.ErrReplayed
	}
	s.replay[key] = replayEntry{ttl: ttlSeconds(until), attempt: string(attempt[:])}
	return vault.ReplaySpend{Issuer: issuer, JTI: jti, Attempt: attempt[:]}, nil
}

// Unspend implements vault.UndoableReplayGuard: the entry goes only if it
// is still the one spend wrote.
func (s *Store) Unspend(_ context.Context, spend vault.ReplaySpend) error {
	if len(spend.Attempt) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := replayKey{spend.Issuer, spend.JTI}
	if e, ok := s.replay[key]; ok && e.attempt == string(spend.Attempt) {
		delete(s.replay, key)
	}
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
	for key, e := range s.replay {
		if purged == limit {
			return purged, nil
		}
		if expired(e.ttl, now) {
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
