package memstore

import (
	"bytes"
	"context"
	"time"

	"github.com/cardvault/vault/shared/vault"
)

// ClaimCardIndex implements vault.CardStore: key points at token unless a
// live entry points elsewhere (then that token and vault.ErrConflict). An
// expired entry is taken, and one already pointing at token counts as the
// caller's own.
func (s *Store) ClaimCardIndex(_ context.Context, key vault.CardIndexKey, token string, expiresAt time.Time) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.index[key]; ok && cur.token != token && !expired(cur.ttl, s.now()) {
		return cur.token, vault.ErrConflict
	}
	s.index[key] = indexEntry{token: token, ttl: ttlSeconds(expiresAt)}
	return "", nil
}

// CardIndex implements vault.CardStore: the token a live entry points
// at, or vault.ErrNotFound.
func (s *Store) CardIndex(_ context.Context, key vault.CardIndexKey) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.index[key]
	if !ok || expired(cur.ttl, s.now()) {
		return "", vault.ErrNotFound
	}
	return cur.token, nil
}

// TakeOverCardIndex implements vault.CardStore.
func (s *Store) TakeOverCardIndex(_ context.Context, key vault.CardIndexKey, oldToken, newToken string, expiresAt time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.index[key]
	if !ok || cur.token != oldToken {
		return vault.ErrConflict
	}
	s.index[key] = indexEntry{token: newToken, ttl: ttlSeconds(expiresAt)}
	return nil
}

// CreateCard implements vault.CardStore. A record with the very same
// ciphertext is this write already done, not a conflict.
func (s *Store) CreateCard(_ context.Context, rec vault.CardRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.cards[rec.Token]; ok {
		if len(rec.Sealed) > 0 && bytes.Equal(cur.Sealed, rec.Sealed) {
			return nil
		}
		return vault.ErrConflict
	}
	s.cards[rec.Token] = cloneCard(rec)
	return nil
}

// ReplaceCard implements vault.CardStore: rec is written as given,
// provided the card exists, is the same card of rec's merchant and
// customer (fingerprint), is not deleted and has not expired; else
// vault.ErrNotFound.
func (s *Store) ReplaceCard(_ context.Context, rec vault.CardRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.cards[rec.Token]
	if !ok || cur.MerchantID != rec.MerchantID || cur.CustomerID != rec.CustomerID || cur.Fingerprint != rec.Fingerprint ||
		cur.Deleted || expired(ttlSeconds(cur.ExpiresAt), s.now()) {
		return vault.ErrNotFound
	}
	s.cards[rec.Token] = cloneCard(rec)
	return nil
}

// Card implements vault.CardStore. An expired card is returned as stored:
// the caller decides what a dead card means.
func (s *Store) Card(_ context.Context, token string) (vault.CardRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.cards[token]
	if !ok {
		return vault.CardRecord{}, vault.ErrNotFound
	}
	return cloneCard(rec), nil
}

// DeleteCard implements vault.CardStore. The adapter's three steps are one
// here: nothing can crash between them.
func (s *Store) DeleteCard(_ context.Context, rec vault.CardRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleteCardLocked(rec.Token, rec.MerchantID)
}

func (s *Store) deleteCardLocked(token, merchantID string) error {
	cur, ok := s.cards[token]
	if !ok || cur.MerchantID != merchantID {
		return vault.ErrNotFound
	}
	key := vault.CardIndexKey{MerchantID: cur.MerchantID, CustomerID: cur.CustomerID, Fingerprint: cur.Fingerprint}
	if e, ok := s.index[key]; ok && e.token == token {
		delete(s.index, key)
	}
	delete(s.cards, token)
	return nil
}

// DeleteCreatedCard implements vault.CardStore: the record goes only if it
// still holds rec.Sealed, then the index entry only if it still points at
// rec.Token, so nothing another request wrote is undone.
func (s *Store) DeleteCreatedCard(_ context.Context, rec vault.CardRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.cards[rec.Token]; ok {
		if !bytes.Equal(cur.Sealed, rec.Sealed) {
			return nil
		}
		delete(s.cards, rec.Token)
	}
	key := vault.CardIndexKey{MerchantID: rec.MerchantID, CustomerID: rec.CustomerID, Fingerprint: rec.Fingerprint}
	if e, ok := s.index[key]; ok && e.token == rec.Token {
		delete(s.index, key)
	}
	return nil
}
