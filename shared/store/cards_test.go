package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/card"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/vault"
)

// sampleCard is a record with every field set, times with nanoseconds and
// in a zone other than UTC, so a round trip that loses anything shows.
func sampleCard(token string) vault.CardRecord {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	created := time.Date(2026, 11, 22, 10, 0, 0, 123456789, zone)
	return vault.CardRecord{
		Token:       token,
		MerchantID:  "m_123",
		CustomerID:  "c_9",
		Fingerprint: "fp_abc",
		Masked: card.Masked{
			First4: "4242", Last4: "4242", Display: "4242 **** **** 4242",
			Brand: card.Visa, ExpMonth: 12, ExpYear: 2030,
		},
		Sealed:     []byte{0x01, 0x00, 0xff, 0x10, 0x20},
		KeyVersion: 4294967295,
		CreatedAt:  created,
		UpdatedAt:  created.Add(time.Second + 7),
		ExpiresAt:  time.Now().Add(24*time.Hour + 999999999),
	}
}

// sameCard compares records field by field, times by instant.
func sameCard(t *testing.T, got, want vault.CardRecord) {
	t.Helper()
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("times = %v %v %v, want %v %v %v", got.CreatedAt, got.UpdatedAt, got.ExpiresAt, want.CreatedAt, want.UpdatedAt, want.ExpiresAt)
	}
	if !bytes.Equal(got.Sealed, want.Sealed) {
		t.Errorf("sealed = %x, want %x", got.Sealed, want.Sealed)
	}
	got.CreatedAt, got.UpdatedAt, got.ExpiresAt, got.Sealed = time.Time{}, time.Time{}, time.Time{}, nil
	want.CreatedAt, want.UpdatedAt, want.ExpiresAt, want.Sealed = time.Time{}, time.Time{}, time.Time{}, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("record = %+v, want %+v", got, want)
	}
}

func TestCardRoundTripKeepsEveryField(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()

	full := sampleCard("tok_full")
	bare := sampleCard("tok_bare")
	bare.CustomerID, bare.ExpiresAt = "", time.Time{}

	for _, rec := range []vault.CardRecord{full, bare} {
		if err := s.CreateCard(ctx, rec); err != nil {
			t.Fatalf("CreateCard %s: %v", rec.Token, err)
		}
		got, err := s.Card(ctx, rec.Token)
		if err != nil {
			t.Fatalf("Card %s: %v", rec.Token, err)
		}
		sameCard(t, got, rec)
	}
}

func TestCreateCardRefusesATakenToken(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	first := sampleCard("tok_1")
	if err := s.CreateCard(ctx, first); err != nil {
		t.Fatal(err)
	}
	second := sampleCard("tok_1")
	second.MerchantID = "m_other"
	second.Sealed = []byte("another request's ciphertext")
	if err := s.CreateCard(ctx, second); !errors.Is(err, vault.ErrConflict) {
		t.Fatalf("CreateCard over an existing token = %v, want ErrConflict", err)
	}
	got, err := s.Card(ctx, "tok_1")
	if err != nil {
		t.Fatal(err)
	}
	sameCard(t, got, first)
}

func TestCardNotFound(t *testing.T) {
	s := newTestStore(t)
	if _, err := s.Card(context.Background(), "tok_missing"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("Card(missing) = %v, want ErrNotFound", err)
	}
}

func TestReplaceCard(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	rec := sampleCard("tok_r")
	if err := s.CreateCard(ctx, rec); err != nil {
		t.Fatal(err)
	}
	stored, err := s.Card(ctx, rec.Token)
	if err != nil {
		t.Fatal(err)
	}

	updated := stored
	updated.Masked.ExpMonth, updated.Masked.ExpYear = 1, 2031
	updated.Sealed = []byte("new ciphertext")
	updated.KeyVersion = 2
	updated.UpdatedAt = stored.UpdatedAt.Add(time.Hour)
	updated.ExpiresAt = time.Time{}
	if err := s.ReplaceCard(ctx, updated); err != nil {
		t.Fatalf("ReplaceCard: %v", err)
	}
	got, err := s.Card(ctx, rec.Token)
	if err != nil {
		t.Fatal(err)
	}
	sameCard(t, got, updated)
	if !got.CreatedAt.Equal(rec.CreatedAt) {
		t.Errorf("created_at changed: %v, want %v", got.CreatedAt, rec.CreatedAt)
	}

	items, err := s.ScanAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 {
		t.Fatalf("items = %d, want 1", len(items))
	}
	if _, ok := items[0][attrTTL]; ok {
		t.Error("ttl kept after the expiry was removed")
	}
	if gsk := items[0][attrGSI1SK]; gsk == nil {
		t.Error("gsi1sk missing")
	}
}

func TestReplaceCardRefusesMissingForeignAndExpired(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()

	if err := s.ReplaceCard(ctx, sampleCard("tok_none")); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("ReplaceCard(missing) = %v, want ErrNotFound", err)
	}

	mine := sampleCard("tok_mine")
	if err := s.CreateCard(ctx, mine); err != nil {
		t.Fatal(err)
	}
	foreign := mine
	foreign.MerchantID = "m_other"
	if err := s.ReplaceCard(ctx, foreign); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("ReplaceCard(other merchant) = %v, want ErrNotFound", err)
	}
	if got, err := s.Card(ctx, mine.Token); err != nil || got.MerchantID != mine.MerchantID {
		t.Errorf("after a refused replace: %+v, %v", got, err)
	}

	gone := sampleCard("tok_gone")
	gone.ExpiresAt = time.Now().Add(-time.Minute)
	if err := s.CreateCard(ctx, gone); err != nil {
		t.Fatal(err)
	}
	gone.ExpiresAt = time.Time{}
	if err := s.ReplaceCard(ctx, gone); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("ReplaceCard(expired) = %v, want ErrNotFound", err)
	}
}

func TestExpiredCardIsReturnedForTheCallerToJudge(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	rec := sampleCard("tok_exp")
	rec.ExpiresAt = time.Now().Add(-2 * time.Second)
	if err := s.CreateCard(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got, err := s.Card(ctx, rec.Token)
	if err != nil {
		t.Fatalf("Card(expired) = %v; the record must stay readable until purged", err)
	}
	sameCard(t, got, rec)
}

func TestCardIndexShardsSpreadAMerchant(t *testing.T) {
	seen := map[int]bool{}
	for i := range 1000 {
		seen[shardOf(fmt.Sprintf("tok_%d", i))] = true
	}
	if len(seen) != merchantShards {
		t.Fatalf("1000 tokens fell in %d shards, want all %d", len(seen), merchantShards)
	}
	if pk := merchantIndexPK("m#1", 7); pk != "MERCHANT#m%231#07" {
		t.Errorf("merchantIndexPK = %q", pk)
	}
}

// WithClearFields gives rotation the clear fields a listed record's
// ciphertext binds, encoded as the vault encodes them, and refuses a
// listing that is stale.
func TestWithClearFields(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	rec := sampleCard("tok_clear")
	if err := s.CreateCard(ctx, rec); err != nil {
		t.Fatal(err)
	}
	listed := vault.SealedRecord{
		Ref:        envelope.RecordRef{Type: envelope.RecordCard, MerchantID: rec.MerchantID, ID: rec.Token},
		Sealed:     rec.Sealed,
		KeyVersion: rec.KeyVersion,
		Key:        cardPK(rec.Token) + recordKeySep + cardSK,
	}
	got, err := s.WithClearFields(ctx, listed)
	if err != nil {
		t.Fatal(err)
	}
	if got.Ref.Clear != vault.CardClearFields(rec) || got.Ref.Clear == "" {
		t.Fatalf("clear fields %q, want %q", got.Ref.Clear, vault.CardClearFields(rec))
	}
	stale := listed
	stale.Sealed = []byte("an older ciphertext")
	if _, err := s.WithClearFields(ctx, stale); !errors.Is(err, vault.ErrConflict) {
		t.Fatalf("WithClearFields of a stale listing = %v, want ErrConflict", err)
	}
	gone := listed
	gone.Ref.ID, gone.Key = "tok_gone", cardPK("tok_gone")+recordKeySep+cardSK
	if _, err := s.WithClearFields(ctx, gone); !errors.Is(err, vault.ErrConflict) {
		t.Fatalf("WithClearFields of a deleted record = %v, want ErrConflict", err)
	}
}
