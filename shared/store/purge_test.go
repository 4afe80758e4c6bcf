package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/vault"
)

func TestPurgeExpired(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	past, future := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)

	for i := range 5 {
		if err := s.Consume(ctx, "iss", fmt.Sprintf("old-%d", i), past); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Consume(ctx, "iss", "live", future); err != nil {
		t.Fatal(err)
	}
	gone := sampleCard("tok_gone")
	gone.ExpiresAt = past
	if err := s.CreateCard(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateCard(ctx, sampleCard("tok_kept")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimCardIndex(ctx, vault.CardIndexKey{MerchantID: "m", Fingerprint: "fp"}, "tok_forever", time.Time{}); err != nil {
		t.Fatal(err)
	}

	n, err := s.PurgeExpired(ctx, time.Now(), 4)
	if err != nil || n != 4 {
		t.Fatalf("PurgeExpired(limit 4) = %d, %v; want 4", n, err)
	}
	n, err = s.PurgeExpired(ctx, time.Now(), 100)
	if err != nil || n != 2 {
		t.Fatalf("second PurgeExpired = %d, %v; want the remaining 2", n, err)
	}
	items, err := s.ScanAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 {
		t.Fatalf("%d items left, want the live replay entry, live card and index entry", len(items))
	}
	if _, err := s.Card(ctx, "tok_gone"); err == nil {
		t.Fatal("expired card survived the purge")
	}
}
