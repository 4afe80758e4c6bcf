package memstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/card"
	"github.com/cardvault/vault/shared/memstore"
	"github.com/cardvault/vault/shared/vault"
)

// The listing reads newest first, pages by position, leaves deleted cards
// out and drops expired ones while still counting them against the page.
func TestListCardsPagesNewestFirst(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0).UTC()
	s := memstore.New(memstore.WithClock(func() time.Time { return now }))
	add := func(token string, age time.Duration, expires time.Time, deleted bool) {
		rec := vault.CardRecord{Token: token, MerchantID: "m1", CustomerID: "c1", Fingerprint: "fp_1",
			Masked: card.Masked{First4: "4242", Last4: "4242"}, Sealed: []byte(token),
			CreatedAt: now.Add(-age), UpdatedAt: now.Add(-age), ExpiresAt: expires}
		if err := s.CreateCard(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if deleted {
			if err := s.DeleteCard(ctx, rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	add("tok_a", 3*time.Second, time.Time{}, false)
	add("tok_b", 2*time.Second, time.Time{}, false)
	add("tok_c", 2*time.Second, now.Add(-time.Second), false) // expired
	add("tok_d", 1*time.Second, time.Time{}, true)            // deleted
	add("tok_e", 0, time.Time{}, false)
	other := vault.CardRecord{Token: "tok_x", MerchantID: "m2", CustomerID: "c1", Fingerprint: "fp_1", Sealed: []byte("x"), CreatedAt: now}
	if err := s.CreateCard(ctx, other); err != nil {
		t.Fatal(err)
	}

	q := vault.CardListQuery{MerchantID: "m1", By: vault.ListByCustomer, Subject: "c1", Limit: 2, Now: now}
	var got []string
	pages := 0
	for {
		page, err := s.ListCards(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, c := range page.Cards {
			got = append(got, c.Token)
		}
		if page.Next == nil {
			break
		}
		q.After = page.Next
	}
	want := []string{"tok_e", "tok_b", "tok_a"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("listed %v, want %v", got, want)
	}
	if pages != 2 {
		t.Fatalf("%d pages, want 2 (the expired card counts against its page)", pages)
	}
	fp, err := s.ListCards(ctx, vault.CardListQuery{MerchantID: "m1", By: vault.ListByFingerprint, Subject: "fp_1", Limit: 10, Now: now})
	if err != nil || len(fp.Cards) != 3 || fp.Next != nil {
		t.Fatalf("by fingerprint: %+v, %v", fp, err)
	}
}
