package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/vault"
)

func TestClaimCardIndexRaceHasOneWinner(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	key := vault.CardIndexKey{MerchantID: "m_1", CustomerID: "c_1", Fingerprint: "fp_1"}

	const claimers = 50
	type result struct {
		token, existing string
		err             error
	}
	results := make([]result, claimers)
	var wg sync.WaitGroup
	for i := range claimers {
		wg.Go(func() {
			token := fmt.Sprintf("tok_%02d", i)
			existing, err := s.ClaimCardIndex(ctx, key, token, time.Time{})
			results[i] = result{token, existing, err}
		})
	}
	wg.Wait()

	var winner string
	for _, r := range results {
		if r.err == nil {
			if winner != "" {
				t.Fatalf("two winners: %s and %s", winner, r.token)
			}
			winner = r.token
		}
	}
	if winner == "" {
		t.Fatal("no claimer won")
	}
	for _, r := range results {
		if r.err == nil {
			continue
		}
		if !errors.Is(r.err, vault.ErrConflict) {
			t.Errorf("%s: err = %v, want ErrConflict", r.token, r.err)
		}
		if r.existing != winner {
			t.Errorf("%s: existing = %q, want the winner %q", r.token, r.existing, winner)
		}
	}
}

func TestClaimCardIndexTakesOverAnExpiredEntry(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	key := vault.CardIndexKey{MerchantID: "m_1", Fingerprint: "fp_1"}

	if _, err := s.ClaimCardIndex(ctx, key, "tok_old", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimCardIndex(ctx, key, "tok_new", time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("claim over an expired entry: %v", err)
	}
	existing, err := s.ClaimCardIndex(ctx, key, "tok_third", time.Time{})
	if !errors.Is(err, vault.ErrConflict) || existing != "tok_new" {
		t.Fatalf("claim over a live entry = %q, %v; want tok_new, ErrConflict", existing, err)
	}
}

func TestClaimCardIndexKeysAreDistinct(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	keys := []vault.CardIndexKey{
		{MerchantID: "m", Fingerprint: "fp_x", CustomerID: "c"},
		{MerchantID: "m", Fingerprint: "fp_x"},                       // no customer
		{MerchantID: "m2", Fingerprint: "fp_x", CustomerID: "c"},     // other merchant
		{MerchantID: "a#fp_x", Fingerprint: "fp_y", CustomerID: "c"}, // '#' in ids must not
		{MerchantID: "a", Fingerprint: "fp_x", CustomerID: "fp_y#c"}, // make these two collide
		{MerchantID: "a%23fp_x", Fingerprint: "fp_y", CustomerID: "c"},
	}
	for i, key := range keys {
		if existing, err := s.ClaimCardIndex(ctx, key, fmt.Sprintf("tok_%d", i), time.Time{}); err != nil {
			t.Errorf("key %d %+v collided with %q: %v", i, key, existing, err)
		}
	}
}

func TestStoreJudgesExpiryByItsClock(t *testing.T) {
	base := newTestStore(t)
	ctx := context.Background()
	key := vault.CardIndexKey{MerchantID: "m", Fingerprint: "fp"}
	if _, err := base.ClaimCardIndex(ctx, key, "tok_a", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	later := New(base.db, base.table, WithClock(func() time.Time { return time.Now().Add(2 * time.Hour) }))
	if _, err := later.ClaimCardIndex(ctx, key, "tok_b", time.Time{}); err != nil {
		t.Fatalf("claim two hours later by the store's clock: %v", err)
	}
}

func TestCardIndexReadsTheLiveEntryOnly(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	key := vault.CardIndexKey{MerchantID: "m_1", CustomerID: "c_1", Fingerprint: "fp_read"}
	if _, err := s.CardIndex(ctx, key); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("CardIndex of no entry = %v, want ErrNotFound", err)
	}
	if _, err := s.ClaimCardIndex(ctx, key, "tok_live", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if token, err := s.CardIndex(ctx, key); err != nil || token != "tok_live" {
		t.Fatalf("CardIndex = %q, %v; want tok_live", token, err)
	}
	other := key
	other.CustomerID = "c_2"
	if _, err := s.CardIndex(ctx, other); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("CardIndex of another customer's entry = %v, want ErrNotFound", err)
	}

	expiring := vault.CardIndexKey{MerchantID: "m_1", CustomerID: "c_1", Fingerprint: "fp_gone"}
	if _, err := s.ClaimCardIndex(ctx, expiring, "tok_old", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CardIndex(ctx, expiring); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("CardIndex of an expired entry = %v, want ErrNotFound", err)
	}
}
