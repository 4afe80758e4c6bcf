package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cardvault/vault/shared/vault"
)

// queryCounter counts Query calls: a listing page must cost one.
type queryCounter struct {
	DynamoAPI
	queries atomic.Int64
}

func (q *queryCounter) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	q.queries.Add(1)
	return q.DynamoAPI.Query(ctx, in, opts...)
}

// TestListCardsPagesOneQueryEach: newest first by second then token,
// tombstones and expired cards never listed, the masked view and nothing
// sealed, a page per query even when filtered entries leave it short.
func TestListCardsPagesOneQueryEach(t *testing.T) {
	base := newTestStore(t)
	counter := &queryCounter{DynamoAPI: base.db}
	s := New(counter, base.table)
	ctx := context.Background()
	now := time.Now().UTC()
	start := now.Add(-time.Hour).Truncate(time.Second)

	var live []string
	for i := range 12 {
		rec := sampleCard(fmt.Sprintf("tok_list%018d", i))
		rec.MerchantID, rec.CustomerID, rec.Fingerprint = "m_l", "c_l", "fp_l"
		rec.CreatedAt = start.Add(time.Duration(i/3) * time.Second).Add(time.Duration(i) * time.Millisecond)
		rec.ExpiresAt = time.Time{}
		switch i {
		case 5:
			rec.ExpiresAt = now.Add(-time.Minute) // past its ttl
		case 8:
			rec.ExpiresAt = now.Add(time.Hour)
		}
		if err := s.CreateCard(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			if err := s.DeleteCard(ctx, rec); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if i != 5 {
			live = append(live, rec.Token)
		}
	}
	// Newest first: later seconds first, and within one second by token,
	// descending (the milliseconds are not part of the order).
	want := []string{}
	for sec := 3; sec >= 0; sec-- {
		for i := sec*3 + 2; i >= sec*3; i-- {
			tok := fmt.Sprintf("tok_list%018d", i)
			for _, l := range live {
				if l == tok {
					want = append(want, tok)
				}
			}
		}
	}

	for _, by := range []vault.CardListBy{vault.ListByCustomer, vault.ListByFingerprint} {
		subject := map[vault.CardListBy]string{vault.ListByCustomer: "c_l", vault.ListByFingerprint: "fp_l"}[by]
		var got []string
		var after *vault.CardListPosition
		pages := 0
		counter.queries.Store(0)
		for {
			page, err := s.ListCards(ctx, vault.CardListQuery{MerchantID: "m_l", By: by, Subject: subject, Limit: 4, After: after, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(page.Cards) > 4 {
				t.Fatalf("%s: a page of %d with limit 4", by, len(page.Cards))
			}
			for _, c := range page.Cards {
				if c.Sealed != nil || c.MerchantID != "m_l" || c.Masked.Last4 != "4242" || c.Fingerprint != "fp_l" {
					t.Fatalf("%s: listed record %+v", by, c)
				}
				got = append(got, c.Token)
			}
			if page.Next == nil {
				break
			}
			after = page.Next
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: listed %v, want %v", by, got, want)
		}
		if q := counter.queries.Load(); q != int64(pages) {
			t.Errorf("%s: %d queries for %d pages", by, q, pages)
		}
	}
	// Another merchant's partition is another listing.
	page, err := s.ListCards(ctx, vault.CardListQuery{MerchantID: "m_other", By: vault.ListByCustomer, Subject: "c_l", Limit: 100, Now: now})
	if err != nil || len(page.Cards) != 0 || page.Next != nil {
		t.Errorf("another merchant: %v %v", page, err)
	}
}
