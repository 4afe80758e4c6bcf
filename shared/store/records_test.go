package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

// rotationFixture is a merchant's records on several key versions, with
// the ids of what each listing must return.
type rotationFixture struct {
	merchant string
	// want maps a record's reference id to its stored record.
	want map[string]vault.SealedRecord
}

// token is the fixture's i-th card token: unique per merchant, with
// characters that need escaping in keys.
func (fx rotationFixture) token(i int) string { return fmt.Sprintf("tok_%s_%d#%%x", fx.merchant, i) }

// seedRecords stores, for merchant, cards (tokens from
// rotationFixture.token) on key versions 1..versions in turn,
// each with its index entry, and secrets on those versions too.
func seedRecords(tb testing.TB, s *Store, merchant string, cards, secrets int, versions uint32) rotationFixture {
	tb.Helper()
	ctx := context.Background()
	fx := rotationFixture{merchant: merchant, want: map[string]vault.SealedRecord{}}
	for i := range cards {
		rec := sampleCard(fx.token(i))
		rec.MerchantID = merchant
		rec.CustomerID = fmt.Sprintf("c_%d", i)
		rec.Fingerprint = fmt.Sprintf("fp_%d", i)
		rec.KeyVersion = uint32(i)%versions + 1
		rec.Sealed = []byte(fmt.Sprintf("sealed card %s %d v%d", merchant, i, rec.KeyVersion))
		if _, err := s.ClaimCardIndex(ctx, indexKeyOf(rec), rec.Token, rec.ExpiresAt); err != nil {
			tb.Fatal(err)
		}
		if err := s.CreateCard(ctx, rec); err != nil {
			tb.Fatal(err)
		}
		fx.want[rec.Token] = vault.SealedRecord{
			Ref:        envelope.RecordRef{Type: envelope.RecordCard, MerchantID: merchant, ID: rec.Token},
			Sealed:     rec.Sealed,
			KeyVersion: rec.KeyVersion,
		}
	}
	for i := range secrets {
		rec := sampleSecret(fmt.Sprintf("api#key%%%d", i/2), uint32(i%2)+1)
		rec.MerchantID = merchant
		rec.KeyVersion = uint32(i)%versions + 1
		rec.Sealed = []byte(fmt.Sprintf("sealed secret %s %d v%d", merchant, i, rec.KeyVersion))
		if err := s.CreateSecretVersion(ctx, rec); err != nil {
			tb.Fatal(err)
		}
		id := vault.SecretRecordID(rec.Name, rec.Version)
		fx.want[id] = vault.SealedRecord{
			Ref:        envelope.RecordRef{Type: envelope.RecordSecret, MerchantID: merchant, ID: id},
			Sealed:     rec.Sealed,
			KeyVersion: rec.KeyVersion,
		}
	}
	return fx
}

// listAll pages through a listing, checking page sizes, and returns every
// record by reference id; a record listed twice fails the test.
func listAll(t *testing.T, limit int, list func(cursor string) ([]vault.SealedRecord, string, error)) (map[string]vault.SealedRecord, int) {
	t.Helper()
	got := map[string]vault.SealedRecord{}
	cursor, pages := "", 0
	for {
		recs, next, err := list(cursor)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(recs) > limit {
			t.Fatalf("page of %d records, limit %d", len(recs), limit)
		}
		for _, r := range recs {
			if _, dup := got[r.Ref.ID]; dup {
				t.Fatalf("record %q listed twice", r.Ref.ID)
			}
			got[r.Ref.ID] = r
		}
		if next == "" {
			return got, pages
		}
		if pages > 10_000 {
			t.Fatal("listing never ends")
		}
		cursor = next
	}
}

func TestRecordsBelowListsEachOldRecordOnce(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	const merchant = "m#rot%1"
	fx := seedRecords(t, s, merchant, 60, 12, 3)
	seedRecords(t, s, "m", 10, 2, 1) // another merchant, all on version 1

	// A tombstone, as DeleteCard's first step leaves it: ciphertext and
	// index keys gone together, so it leaves the listing.
	tomb := fx.want[fx.token(0)]
	if tomb.KeyVersion != 1 {
		t.Fatal("fixture changed: tok_0 should be on version 1")
	}
	if _, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.table),
		Key:              itemKey(cardPK(tomb.Ref.ID), cardSK),
		UpdateExpression: aws.String("SET deleted = :t REMOVE sealed, gsi1pk, gsi1sk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":t": &types.AttributeValueMemberBOOL{Value: true},
		},
	}); err != nil {
		t.Fatal(err)
	}
	delete(fx.want, tomb.Ref.ID)

	for _, limit := range []int{1, 7, 500} {
		got, pages := listAll(t, limit, func(c string) ([]vault.SealedRecord, string, error) {
			return s.RecordsBelow(ctx, merchant, 3, c, limit)
		})
		wantBelow := 0
		for id, w := range fx.want {
			if w.KeyVersion >= 3 {
				if _, ok := got[id]; ok {
					t.Errorf("limit %d: %q on version %d listed below 3", limit, id, w.KeyVersion)
				}
				continue
			}
			wantBelow++
			r, ok := got[id]
			if !ok {
				t.Errorf("limit %d: %q (version %d) missing", limit, id, w.KeyVersion)
				continue
			}
			if r.Ref != w.Ref || !bytes.Equal(r.Sealed, w.Sealed) || r.KeyVersion != w.KeyVersion || r.Key == "" {
				t.Errorf("limit %d: listed %+v, want %+v", limit, r, w)
			}
		}
		if len(got) != wantBelow {
			t.Errorf("limit %d: %d records listed, want %d", limit, len(got), wantBelow)
		}
		if limit < wantBelow && pages < wantBelow/limit {
			t.Errorf("limit %d: %d pages for %d records", limit, pages, wantBelow)
		}
	}

	if recs, next, err := s.RecordsBelow(ctx, merchant, 1, "", 100); err != nil || len(recs) != 0 || next != "" {
		t.Fatalf("RecordsBelow(1) = %d records, %q, %v; want none", len(recs), next, err)
	}
	if recs, next, err := s.RecordsBelow(ctx, merchant, 0, "", 100); err != nil || len(recs) != 0 || next != "" {
		t.Fatalf("RecordsBelow(0) = %d records, %q, %v; want none", len(recs), next, err)
	}
}

func TestListingCursorStaysWithItsMerchant(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	seedRecords(t, s, "m_a", 20, 0, 1)
	seedRecords(t, s, "m_b", 20, 0, 1)
	_, cursor, err := s.RecordsOf(ctx, "m_a", "", 3)
	if err != nil || cursor == "" {
		t.Fatalf("first page: %q, %v", cursor, err)
	}
	if _, _, err := s.RecordsOf(ctx, "m_b", cursor, 3); err == nil {
		t.Fatal("m_a's cursor was accepted for m_b")
	}
	for _, bad := range []string{"%%%", "bm90IGpzb24", "eyJzIjoxNn0"} { // not base64, not JSON, shard 16
		if _, _, err := s.RecordsBelow(ctx, "m_a", 2, bad, 3); err == nil {
			t.Errorf("cursor %q accepted", bad)
		}
	}
}

// An index entry without its ciphertext is corrupt, never "nothing to
// re-encrypt": skipping it would let a rotation destroy a key version a
// record still uses.
func TestSealedRecordOfRefusesIncompleteIndexEntries(t *testing.T) {
	str := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	complete := func() map[string]types.AttributeValue {
		return map[string]types.AttributeValue{
			attrPK: str(cardPrefix + "tok_1"), attrSK: str(cardSK), "merchant_id": str("m_1"),
			"sealed": &types.AttributeValueMemberB{Value: []byte("ciphertext")}, "key_version": &types.AttributeValueMemberN{Value: "1"},
		}
	}
	if rec, err := sealedRecordOf(complete(), "m_1"); err != nil || rec.Ref.ID != "tok_1" || rec.KeyVersion != 1 {
		t.Fatalf("complete entry = %+v, %v", rec, err)
	}
	for _, drop := range []string{"sealed", "key_version", attrPK, attrSK, "merchant_id"} {
		av := complete()
		delete(av, drop)
		if _, err := sealedRecordOf(av, "m_1"); err == nil || vaulterr.CodeOf(err) != vaulterr.Internal {
			t.Errorf("entry without %s: err = %v, want an internal error", drop, err)
		}
	}
	if _, err := sealedRecordOf(complete(), "m_2"); err == nil {
		t.Error("another merchant's entry accepted")
	}
}

func TestResealRecord(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	const merchant = "m_1"
	fx := seedRecords(t, s, merchant, 10, 4, 2)
	recs, _ := listAll(t, 100, func(c string) ([]vault.SealedRecord, string, error) {
		return s.RecordsBelow(ctx, merchant, 2, c, 100)
	})
	count := func(v uint32) int {
		t.Helper()
		n, err := s.CountRecords(ctx, merchant, v)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count(1) != 7 || count(2) != 7 || count(3) != 0 {
		t.Fatalf("counts before = %d %d %d, want 7 7 0", count(1), count(2), count(3))
	}

	// Reseal every record but one card and one secret onto version 3.
	var keptCard, keptSecret string
	for id, r := range recs {
		switch {
		case keptCard == "" && r.Ref.Type == envelope.RecordCard:
			keptCard = id
			continue
		case keptSecret == "" && r.Ref.Type == envelope.RecordSecret:
			keptSecret = id
			continue
		}
		if err := s.ResealRecord(ctx, r, []byte("resealed "+id), 3); err != nil {
			t.Fatalf("ResealRecord(%q): %v", id, err)
		}
		// Resealing again from the listed ciphertext loses.
		if err := s.ResealRecord(ctx, r, []byte("again"), 3); !errors.Is(err, vault.ErrConflict) {
			t.Fatalf("second ResealRecord(%q) = %v, want ErrConflict", id, err)
		}
	}
	if count(1) != 2 || count(2) != 7 || count(3) != 5 {
		t.Fatalf("counts after = %d %d %d, want 2 7 5", count(1), count(2), count(3))
	}
	left, _ := listAll(t, 3, func(c string) ([]vault.SealedRecord, string, error) {
		return s.RecordsBelow(ctx, merchant, 2, c, 3)
	})
	if len(left) != 2 || left[keptCard].Ref.ID == "" || left[keptSecret].Ref.ID == "" {
		t.Fatalf("left below 2: %v, want only %q and %q", left, keptCard, keptSecret)
	}
	onNew, _ := listAll(t, 100, func(c string) ([]vault.SealedRecord, string, error) {
		return s.RecordsBelow(ctx, merchant, 4, c, 100)
	})
	for id, r := range onNew {
		if r.KeyVersion == 3 && string(r.Sealed) != "resealed "+id {
			t.Errorf("%q on version 3 holds %q", id, r.Sealed)
		}
	}
	if len(onNew) != len(fx.want) {
		t.Fatalf("%d records below 4, want all %d", len(onNew), len(fx.want))
	}

	// The resealed card reads back through the card port.
	for id, r := range recs {
		if r.Ref.Type != envelope.RecordCard || id == keptCard {
			continue
		}
		c, err := s.Card(ctx, id)
		if err != nil || string(c.Sealed) != "resealed "+id || c.KeyVersion != 3 {
			t.Fatalf("card after reseal: v%d %q, %v", c.KeyVersion, c.Sealed, err)
		}
		break
	}
}

func TestResealLosesToConcurrentWriters(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	fx := seedRecords(t, s, "m_1", 3, 2, 1)
	recs, _ := listAll(t, 100, func(c string) ([]vault.SealedRecord, string, error) {
		return s.RecordsBelow(ctx, "m_1", 2, c, 100)
	})
	if len(recs) != len(fx.want) {
		t.Fatalf("%d listed, want %d", len(recs), len(fx.want))
	}

	// A card re-vaulted (ReplaceCard) after the listing keeps its new
	// content.
	replaced := recs[fx.token(0)]
	current, err := s.Card(ctx, replaced.Ref.ID)
	if err != nil {
		t.Fatal(err)
	}
	current.Sealed, current.KeyVersion = []byte("sealed by a concurrent update"), 2
	if err := s.ReplaceCard(ctx, current); err != nil {
		t.Fatal(err)
	}
	if err := s.ResealRecord(ctx, replaced, []byte("stale reseal"), 2); !errors.Is(err, vault.ErrConflict) {
		t.Fatalf("ResealRecord after ReplaceCard = %v, want ErrConflict", err)
	}
	if got, _ := s.Card(ctx, replaced.Ref.ID); string(got.Sealed) != "sealed by a concurrent update" {
		t.Fatalf("concurrent update overwritten: %q", got.Sealed)
	}

	// A card deleted after the listing stays deleted.
	deleted := recs[fx.token(1)]
	c, err := s.Card(ctx, deleted.Ref.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteCard(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.ResealRecord(ctx, deleted, []byte("stale reseal"), 2); !errors.Is(err, vault.ErrConflict) {
		t.Fatalf("ResealRecord of a deleted card = %v, want ErrConflict", err)
	}
	if _, err := s.Card(ctx, deleted.Ref.ID); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("reseal brought a deleted card back: %v", err)
	}

	// A pruned secret version stays gone.
	secretID := vault.SecretRecordID("api#key%0", 1)
	if err := s.PruneSecretVersions(ctx, "m_1", "api#key%0", 2); err != nil {
		t.Fatal(err)
	}
	if err := s.ResealRecord(ctx, recs[secretID], []byte("stale reseal"), 2); !errors.Is(err, vault.ErrConflict) {
		t.Fatalf("ResealRecord of a pruned secret = %v, want ErrConflict", err)
	}
	if n, err := s.CountRecords(ctx, "m_1", 2); err != nil || n != 1 {
		t.Fatalf("CountRecords(2) = %d, %v; want only the replaced card", n, err)
	}
}

func TestResealRefusesAKeyThatIsNotItsRecord(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	fx := seedRecords(t, s, "m_1", 2, 2, 1)
	recs, _ := listAll(t, 100, func(c string) ([]vault.SealedRecord, string, error) {
		return s.RecordsOf(ctx, "m_1", c, 100)
	})
	card, other := recs[fx.token(0)], recs[fx.token(1)]
	secret := recs[vault.SecretRecordID("api#key%0", 1)]

	for name, rec := range map[string]vault.SealedRecord{
		"another card's key":   {Ref: card.Ref, Sealed: card.Sealed, Key: other.Key},
		"a secret's key":       {Ref: card.Ref, Sealed: card.Sealed, Key: secret.Key},
		"another version":      {Ref: envelope.RecordRef{Type: envelope.RecordSecret, MerchantID: "m_1", ID: vault.SecretRecordID("api#key%0", 2)}, Sealed: secret.Sealed, Key: secret.Key},
		"another merchant":     {Ref: envelope.RecordRef{Type: envelope.RecordSecret, MerchantID: "m_2", ID: secret.Ref.ID}, Sealed: secret.Sealed, Key: secret.Key},
		"an unknown type":      {Ref: envelope.RecordRef{Type: "other", MerchantID: "m_1", ID: card.Ref.ID}, Sealed: card.Sealed, Key: card.Key},
		"a key without its sk": {Ref: card.Ref, Sealed: card.Sealed, Key: strings.Split(card.Key, recordKeySep)[0]},
	} {
		if err := s.ResealRecord(ctx, rec, []byte("x"), 2); err == nil || errors.Is(err, vault.ErrConflict) {
			t.Errorf("%s: ResealRecord = %v, want an internal error", name, err)
		}
		if err := s.DeleteRecord(ctx, rec); err == nil {
			t.Errorf("%s: DeleteRecord succeeded", name)
		}
	}
	if n, err := s.CountRecords(ctx, "m_1", 1); err != nil || n != 4 {
		t.Fatalf("CountRecords = %d, %v; want all 4 untouched", n, err)
	}
}

func TestRecordsOfAndDeleteRecordPurgeAMerchant(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	fx := seedRecords(t, s, "m_shred", 25, 6, 3)
	other := seedRecords(t, s, "m_keep", 5, 2, 1)

	// Purge page by page, as a shredder does, deleting behind the cursor.
	deleted := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		recs, next, err := s.RecordsOf(ctx, "m_shred", cursor, 4)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if deleted[r.Ref.ID] {
				t.Fatalf("%q listed after its deletion", r.Ref.ID)
			}
			if err := s.DeleteRecord(ctx, r); err != nil {
				t.Fatalf("DeleteRecord(%q): %v", r.Ref.ID, err)
			}
			if err := s.DeleteRecord(ctx, r); err != nil {
				t.Fatalf("DeleteRecord(%q) again = %v, want success", r.Ref.ID, err)
			}
			deleted[r.Ref.ID] = true
		}
		if next == "" {
			break
		}
		if pages > 100 {
			t.Fatal("listing never ends")
		}
		cursor = next
	}
	if len(deleted) != len(fx.want) {
		t.Fatalf("deleted %d records, want %d", len(deleted), len(fx.want))
	}

	items, err := s.ScanAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	for _, it := range items {
		pk := it[attrPK].(*types.AttributeValueMemberS).Value
		if strings.Contains(pk, "m_shred") {
			t.Errorf("item %q left after the purge", pk)
		}
		if m, ok := it["merchant_id"].(*types.AttributeValueMemberS); ok && m.Value == "m_shred" {
			t.Errorf("item %q of the purged merchant left", pk)
		}
		if strings.HasPrefix(pk, cardIndexPfx) {
			kept++ // must be the other merchant's
		}
	}
	if kept != 5 {
		t.Errorf("%d card index entries left, want the other merchant's 5", kept)
	}
	for _, v := range []uint32{1, 2, 3} {
		if n, err := s.CountRecords(ctx, "m_shred", v); err != nil || n != 0 {
			t.Errorf("CountRecords(v%d) after purge = %d, %v", v, n, err)
		}
	}
	rest, _ := listAll(t, 100, func(c string) ([]vault.SealedRecord, string, error) {
		return s.RecordsOf(ctx, "m_keep", c, 100)
	})
	if len(rest) != len(other.want) {
		t.Fatalf("the other merchant has %d records left, want %d", len(rest), len(other.want))
	}
}
