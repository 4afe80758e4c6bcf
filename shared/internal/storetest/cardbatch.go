package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/vault"
)

// testCardBatchReads: CardIndexes answers each key (more than one
// round trip's worth) with its live entry's token, "" for a key with no
// entry or an expired one, and a key given twice twice.
func testCardBatchReads(t *testing.T, p Ports, clock *Clock) {
	if got, err := p.CardIndexes(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("CardIndexes of no keys = %v, %v", got, err)
	}
	const n = 130
	keys := make([]vault.CardIndexKey, n)
	want := make([]string, n)
	for i := range keys {
		keys[i] = vault.CardIndexKey{MerchantID: "m1", CustomerID: "c1", Fingerprint: fmt.Sprintf("fp_%03d", i)}
		if i%3 == 0 {
			want[i] = token(fmt.Sprintf("r%03d", i))
			_, err := p.ClaimCardIndex(ctx, keys[i], want[i], time.Time{})
			must(t, err)
		}
	}
	// One that expires, and one of another customer (not asked for).
	_, err := p.ClaimCardIndex(ctx, keys[1], token("expiring"), clock.Now().Add(time.Minute))
	must(t, err)
	_, err = p.ClaimCardIndex(ctx, vault.CardIndexKey{MerchantID: "m1", CustomerID: "c2", Fingerprint: keys[2].Fingerprint}, token("other"), time.Time{})
	must(t, err)
	clock.Advance(time.Minute)
	got, err := p.CardIndexes(ctx, append(keys, keys[0]))
	must(t, err)
	if len(got) != n+1 || got[n] != want[0] {
		t.Fatalf("CardIndexes gave %d answers for %d keys, the repeated key %q", len(got), n+1, got[len(got)-1])
	}
	for i := range keys {
		if got[i] != want[i] {
			t.Fatalf("CardIndexes[%d] = %q, want %q", i, got[i], want[i])
		}
	}
}

// testCardBatchWrites: PutCards and PutCardIndexes store what CreateCard
// and ClaimCardIndex would (read back, listed, counted, claimed against),
// more than one round trip's worth, and overwrite what was there: they
// have no condition.
func testCardBatchWrites(t *testing.T, p Ports, clock *Clock) {
	must(t, p.PutCards(ctx, nil))
	must(t, p.PutCardIndexes(ctx, nil))
	const n = 60
	recs := make([]vault.CardRecord, n)
	entries := make([]vault.CardIndexEntry, n)
	for i := range recs {
		recs[i] = cardRecord("m1", token(fmt.Sprintf("w%03d", i)), 1, clock.Now())
		recs[i].CustomerID = fmt.Sprintf("cus_%d", i%4)
		entries[i] = vault.CardIndexEntry{Key: indexKeyOf(recs[i]), Token: recs[i].Token}
	}
	recs[0].ExpiresAt = clock.Now().Add(time.Hour)
	entries[0].ExpiresAt = recs[0].ExpiresAt
	// One token already holds a record, one key an entry: both are
	// overwritten.
	vaultCard(t, p, cardRecord("m1", recs[1].Token, 1, clock.Now()))
	_, err := p.ClaimCardIndex(ctx, entries[2].Key, token("before"), time.Time{})
	must(t, err)

	must(t, p.PutCards(ctx, recs))
	must(t, p.PutCardIndexes(ctx, entries))
	for i, rec := range recs {
		got, err := p.Card(ctx, rec.Token)
		must(t, err)
		checkCard(t, got, rec)
		if tok, err := p.CardIndex(ctx, entries[i].Key); err != nil || tok != rec.Token {
			t.Fatalf("entry %d points at %q, %v; want %q", i, tok, err, rec.Token)
		}
	}
	if existing, err := p.ClaimCardIndex(ctx, entries[5].Key, token("late"), time.Time{}); err == nil || existing != recs[5].Token {
		t.Fatalf("a claim against a batch-written entry = %q, %v; want %q and a conflict", existing, err, recs[5].Token)
	}
	if c := countOf(t, p, "m1", 1); c != n {
		t.Fatalf("CountRecords = %d, want the %d written (one of them over a card of its token)", c, n)
	}
	// Written records are ordinary records: replaced and deleted as any.
	updated := recs[3]
	updated.Sealed = []byte("updated")
	must(t, p.ReplaceCard(ctx, updated))
	must(t, p.DeleteCard(ctx, recs[4]))
	if _, err := p.CardIndex(ctx, entries[4].Key); err == nil {
		t.Fatal("the entry of a deleted batch-written card is still there")
	}
	// The entry with an expiry lapses with its card.
	clock.Advance(time.Hour)
	if _, err := p.CardIndex(ctx, entries[0].Key); err == nil {
		t.Fatal("a batch-written entry outlived its expiry")
	}
}
