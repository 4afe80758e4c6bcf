package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cardvault/vault/shared/vault"
)

func indexKeyOf(rec vault.CardRecord) vault.CardIndexKey {
	return vault.CardIndexKey{MerchantID: rec.MerchantID, CustomerID: rec.CustomerID, Fingerprint: rec.Fingerprint}
}

func TestDeleteCardRemovesCardAndIndex(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	rec := sampleCard("tok_del")
	if _, err := s.ClaimCardIndex(ctx, indexKeyOf(rec), rec.Token, rec.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateCard(ctx, rec); err != nil {
		t.Fatal(err)
	}

	foreign := rec
	foreign.MerchantID = "m_other"
	if err := s.DeleteCard(ctx, foreign); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("DeleteCard by another merchant = %v, want ErrNotFound", err)
	}
	if err := s.DeleteCard(ctx, rec); err != nil {
		t.Fatalf("DeleteCard: %v", err)
	}
	if _, err := s.Card(ctx, rec.Token); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("Card after delete = %v, want ErrNotFound", err)
	}
	if err := s.DeleteCard(ctx, rec); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("second DeleteCard = %v, want ErrNotFound", err)
	}
	items, err := s.ScanAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 0 {
		t.Fatalf("%d items left after delete: %v", len(items), items)
	}
	// The same card vaulted again claims the index afresh.
	if _, err := s.ClaimCardIndex(ctx, indexKeyOf(rec), "tok_new", time.Time{}); err != nil {
		t.Fatalf("claim after delete: %v", err)
	}
}

func TestDeleteCardKeepsAnIndexEntryTakenOver(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	old := sampleCard("tok_old")
	if _, err := s.ClaimCardIndex(ctx, indexKeyOf(old), old.Token, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateCard(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := s.TakeOverCardIndex(ctx, indexKeyOf(old), old.Token, "tok_newer", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteCard(ctx, old); err != nil {
		t.Fatal(err)
	}
	existing, err := s.ClaimCardIndex(ctx, indexKeyOf(old), "tok_third", time.Time{})
	if !errors.Is(err, vault.ErrConflict) || existing != "tok_newer" {
		t.Fatalf("index after deleting the old card = %q, %v; want tok_newer kept", existing, err)
	}
}

// A delete cut short after its first step leaves a tombstone: readable as
// Deleted, without ciphertext, never replaceable, and purgeable.
func TestDeletedCardTombstone(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	rec := sampleCard("tok_tomb")
	if err := s.CreateCard(ctx, rec); err != nil {
		t.Fatal(err)
	}
	cut := &cutAfterUpdate{DynamoAPI: s.db}
	if err := New(cut, s.table).DeleteCard(ctx, rec); err == nil {
		t.Fatal("DeleteCard succeeded though its deletes failed")
	}

	got, err := s.Card(ctx, rec.Token)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Deleted || len(got.Sealed) != 0 {
		t.Fatalf("tombstone = deleted %v, sealed %d bytes; want deleted, no ciphertext", got.Deleted, len(got.Sealed))
	}
	if err := s.ReplaceCard(ctx, rec); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("ReplaceCard over a tombstone = %v, want ErrNotFound", err)
	}
	items, err := s.ScanAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, item := range items {
		if _, ok := item[attrGSI1PK]; ok {
			t.Error("tombstone still in the by_merchant index")
		}
	}
	n, err := s.PurgeExpired(ctx, time.Now().Add(time.Second), 10)
	if err != nil || n != 1 {
		t.Fatalf("PurgeExpired = %d, %v; want the tombstone purged", n, err)
	}
}

func TestTakeOverCardIndex(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	key := vault.CardIndexKey{MerchantID: "m", Fingerprint: "fp"}

	if err := s.TakeOverCardIndex(ctx, key, "tok_a", "tok_b", time.Time{}); !errors.Is(err, vault.ErrConflict) {
		t.Fatalf("take over of a missing entry = %v, want ErrConflict", err)
	}
	if _, err := s.ClaimCardIndex(ctx, key, "tok_a", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := s.TakeOverCardIndex(ctx, key, "tok_a", "tok_b", time.Time{}); err != nil {
		t.Fatalf("take over: %v", err)
	}
	if err := s.TakeOverCardIndex(ctx, key, "tok_a", "tok_c", time.Time{}); !errors.Is(err, vault.ErrConflict) {
		t.Fatalf("second take over from the same old token = %v, want ErrConflict", err)
	}
	existing, err := s.ClaimCardIndex(ctx, key, "tok_d", time.Time{})
	if !errors.Is(err, vault.ErrConflict) || existing != "tok_b" {
		t.Fatalf("entry = %q, %v; want tok_b", existing, err)
	}
}

// cutAfterUpdate lets DeleteCard's first step through and fails the rest,
// as a crash between them would.
type cutAfterUpdate struct{ DynamoAPI }

var errCut = errors.New("connection reset")

func (c *cutAfterUpdate) DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return nil, errCut
}

// DeleteCreatedCard takes back only the very card it is given: a record
// rewritten since (another ciphertext) stays with its index entry.
func TestDeleteCreatedCard(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	rec := sampleCard("tok_undo")
	if _, err := s.ClaimCardIndex(ctx, indexKeyOf(rec), rec.Token, rec.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateCard(ctx, rec); err != nil {
		t.Fatal(err)
	}
	other := rec
	other.Sealed = []byte("another request's ciphertext")
	if err := s.DeleteCreatedCard(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Card(ctx, rec.Token); err != nil {
		t.Fatalf("a card rewritten since was taken back: %v", err)
	}
	if err := s.DeleteCreatedCard(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Card(ctx, rec.Token); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("Card after DeleteCreatedCard = %v, want ErrNotFound", err)
	}
	if existing, err := s.ClaimCardIndex(ctx, indexKeyOf(rec), "tok_next", time.Time{}); err != nil {
		t.Fatalf("index entry still held by %q after DeleteCreatedCard: %v", existing, err)
	}
}
