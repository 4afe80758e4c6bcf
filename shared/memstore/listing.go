package memstore

import (
	"cmp"
	"context"
	"slices"

	"github.com/cardvault/vault/shared/vault"
)

var _ vault.CardLister = (*Store)(nil)

// ListCards implements vault.CardLister as the listing indexes answer a
// query: the merchant's cards of one customer or fingerprint, newest first
// (creation time to the second, then token), deleted cards absent, expired
// ones read and dropped, so a page may hold fewer than Limit cards and
// still have a Next.
func (s *Store) ListCards(_ context.Context, q vault.CardListQuery) (vault.CardListPage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var entries []vault.CardRecord
	for _, c := range s.cards {
		if c.MerchantID != q.MerchantID || c.Deleted {
			continue
		}
		if (q.By == vault.ListByFingerprint && c.Fingerprint != q.Subject) ||
			(q.By != vault.ListByFingerprint && c.CustomerID != q.Subject) {
			continue
		}
		entries = append(entries, cloneCard(c))
	}
	// newestFirst orders positions as the index is read: a before b is
	// negative.
	newestFirst := func(a, b vault.CardListPosition) int {
		return cmp.Or(cmp.Compare(b.CreatedAt.Unix(), a.CreatedAt.Unix()), cmp.Compare(b.Token, a.Token))
	}
	posOf := func(c vault.CardRecord) vault.CardListPosition {
		return vault.CardListPosition{CreatedAt: c.CreatedAt, Token: c.Token}
	}
	slices.SortFunc(entries, func(a, b vault.CardRecord) int { return newestFirst(posOf(a), posOf(b)) })
	if q.After != nil {
		entries = slices.DeleteFunc(entries, func(c vault.CardRecord) bool { return newestFirst(*q.After, posOf(c)) >= 0 })
	}
	limit := min(max(q.Limit, 1), vault.MaxListLimit)
	page := vault.CardListPage{Cards: []vault.CardRecord{}}
	for i, c := range entries {
		if i == limit {
			last := posOf(entries[i-1])
			page.Next = &last
			break
		}
		if !expired(ttlSeconds(c.ExpiresAt), q.Now) {
			page.Cards = append(page.Cards, c)
		}
	}
	return page, nil
}
