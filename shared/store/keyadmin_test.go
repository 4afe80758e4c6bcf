package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/vault"
)

func TestKeysListsVersionsOldestFirst(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	for _, v := range []uint32{10, 1, 2} {
		if err := s.CreateKey(ctx, sampleKey("m_1", v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateKey(ctx, sampleKey("m_10", 3)); err != nil {
		t.Fatal(err)
	}
	// The rotation state shares the key partition and is no key.
	if err := s.SaveRotationState(ctx, vault.RotationState{MerchantID: "m_1", Running: true, TargetVersion: 2}); err != nil {
		t.Fatal(err)
	}
	keys, err := s.Keys(ctx, "m_1")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 {
		t.Fatalf("Keys = %d versions, want 3 (the rotation state is no key)", len(keys))
	}
	for i, v := range []uint32{1, 2, 10} {
		sameKey(t, keys[i], sampleKey("m_1", v))
	}
	if keys, err := s.Keys(ctx, "m_none"); err != nil || len(keys) != 0 {
		t.Fatalf("Keys of a merchant without keys = %v, %v", keys, err)
	}
}

func TestKeysPagesThroughManyVersions(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	// A wrapped key big enough that the versions exceed one 1 MB page.
	big := make([]byte, 60<<10)
	for v := uint32(1); v <= 20; v++ {
		k := sampleKey("m_big", v)
		k.Wrapped.Ciphertext = append([]byte{byte(v)}, big...)
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := s.Keys(ctx, "m_big")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 20 || keys[0].Version != 1 || keys[19].Version != 20 {
		t.Fatalf("Keys = %d versions, want 1..20", len(keys))
	}
}

func TestSetKeyState(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	if err := s.CreateKey(ctx, sampleKey("m_1", 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetKeyState(ctx, "m_1", 1, envelope.KeyRetiring); err != nil {
		t.Fatal(err)
	}
	got, err := s.KeyVersion(ctx, "m_1", 1)
	if err != nil {
		t.Fatal(err)
	}
	want := sampleKey("m_1", 1)
	want.State = envelope.KeyRetiring
	sameKey(t, got, want)

	if err := s.SetKeyState(ctx, "m_1", 2, envelope.KeyRetiring); !errors.Is(err, envelope.ErrNoKey) {
		t.Fatalf("SetKeyState of a missing version = %v, want ErrNoKey", err)
	}
	if _, err := s.KeyVersion(ctx, "m_1", 2); !errors.Is(err, envelope.ErrNoKey) {
		t.Fatalf("SetKeyState created a key: %v", err)
	}
}

func TestReplaceWrapped(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	orig := sampleKey("m_1", 1)
	if err := s.CreateKey(ctx, orig); err != nil {
		t.Fatal(err)
	}
	next := envelope.WrappedKey{MasterKeyID: "arn:aws:kms:us-east-1:111122223333:key/new", Ciphertext: []byte("wrapped under the new master key")}
	if err := s.ReplaceWrapped(ctx, "m_1", 1, orig.Wrapped, next); err != nil {
		t.Fatal(err)
	}
	got, err := s.KeyVersion(ctx, "m_1", 1)
	if err != nil {
		t.Fatal(err)
	}
	want := orig
	want.Wrapped = next
	sameKey(t, got, want)

	// A second re-wrap from the stale wrap loses, and changes nothing.
	other := envelope.WrappedKey{MasterKeyID: "arn:other", Ciphertext: []byte("another re-wrap")}
	if err := s.ReplaceWrapped(ctx, "m_1", 1, orig.Wrapped, other); !errors.Is(err, envelope.ErrKeyChanged) {
		t.Fatalf("ReplaceWrapped from a stale wrap = %v, want ErrKeyChanged", err)
	}
	// Same ciphertext, another master key id: not what is stored either.
	stale := envelope.WrappedKey{MasterKeyID: orig.Wrapped.MasterKeyID, Ciphertext: next.Ciphertext}
	if err := s.ReplaceWrapped(ctx, "m_1", 1, stale, other); !errors.Is(err, envelope.ErrKeyChanged) {
		t.Fatalf("ReplaceWrapped with the wrong master key id = %v, want ErrKeyChanged", err)
	}
	if got, _ := s.KeyVersion(ctx, "m_1", 1); got.Wrapped.MasterKeyID != next.MasterKeyID {
		t.Fatalf("a lost re-wrap changed the key: %+v", got.Wrapped.MasterKeyID)
	}
	if err := s.ReplaceWrapped(ctx, "m_1", 2, next, other); !errors.Is(err, envelope.ErrKeyChanged) {
		t.Fatalf("ReplaceWrapped of a missing version = %v, want ErrKeyChanged", err)
	}
	if _, err := s.KeyVersion(ctx, "m_1", 2); !errors.Is(err, envelope.ErrNoKey) {
		t.Fatalf("ReplaceWrapped created a key: %v", err)
	}
}

func TestDestroyKey(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	for v := uint32(1); v <= 2; v++ {
		if err := s.CreateKey(ctx, sampleKey("m_1", v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DestroyKey(ctx, "m_1", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.DestroyKey(ctx, "m_1", 1); err != nil {
		t.Fatalf("destroying a destroyed version again = %v, want success", err)
	}
	if _, err := s.KeyVersion(ctx, "m_1", 1); !errors.Is(err, envelope.ErrNoKey) {
		t.Fatalf("KeyVersion after destroy = %v, want ErrNoKey", err)
	}
	if latest, err := s.LatestKey(ctx, "m_1"); err != nil || latest.Version != 2 {
		t.Fatalf("LatestKey = v%d, %v; want v2", latest.Version, err)
	}
}

func TestShredding(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	for v := uint32(1); v <= 3; v++ {
		if err := s.CreateKey(ctx, sampleKey("m_1", v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateKey(ctx, sampleKey("m_2", 1)); err != nil {
		t.Fatal(err)
	}
	if shredded, err := s.Shredded(ctx, "m_1"); err != nil || shredded {
		t.Fatalf("Shredded before shredding = %v, %v", shredded, err)
	}

	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := s.MarkShredded(ctx, "m_1", at); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkShredded(ctx, "m_1", at.Add(time.Hour)); err != nil {
		t.Fatalf("second MarkShredded = %v, want success", err)
	}
	if shredded, err := s.Shredded(ctx, "m_1"); err != nil || !shredded {
		t.Fatalf("Shredded after shredding = %v, %v", shredded, err)
	}
	// Marked, versions still there: LatestKey already refuses.
	if _, err := s.LatestKey(ctx, "m_1"); !errors.Is(err, envelope.ErrShredded) {
		t.Fatalf("LatestKey of a shredded merchant = %v, want ErrShredded", err)
	}
	keys, err := s.Keys(ctx, "m_1")
	if err != nil || len(keys) != 3 {
		t.Fatalf("Keys before destruction = %d, %v; want the 3 versions to destroy", len(keys), err)
	}
	for _, k := range keys {
		if err := s.DestroyKey(ctx, "m_1", k.Version); err != nil {
			t.Fatal(err)
		}
	}
	if keys, err := s.Keys(ctx, "m_1"); err != nil || len(keys) != 0 {
		t.Fatalf("Keys after shredding = %v, %v; want none", keys, err)
	}
	for v := uint32(1); v <= 3; v++ {
		if _, err := s.KeyVersion(ctx, "m_1", v); !errors.Is(err, envelope.ErrNoKey) {
			t.Fatalf("KeyVersion(%d) after shredding = %v, want ErrNoKey", v, err)
		}
	}
	if _, err := s.LatestKey(ctx, "m_1"); !errors.Is(err, envelope.ErrShredded) {
		t.Fatalf("LatestKey after destruction = %v, want ErrShredded", err)
	}

	// A key created after the mark (a rotation racing the shred) does not
	// survive, and the merchant stays shredded.
	for _, v := range []uint32{1, 4} {
		if err := s.CreateKey(ctx, sampleKey("m_1", v)); !errors.Is(err, envelope.ErrShredded) {
			t.Fatalf("CreateKey v%d after shredding = %v, want ErrShredded", v, err)
		}
	}
	if keys, err := s.Keys(ctx, "m_1"); err != nil || len(keys) != 0 {
		t.Fatalf("Keys after a late CreateKey = %v, %v; want none", keys, err)
	}
	if _, err := s.LatestKey(ctx, "m_1"); !errors.Is(err, envelope.ErrShredded) {
		t.Fatalf("LatestKey after a late CreateKey = %v, want ErrShredded", err)
	}

	// Another merchant, even one whose id extends this one's, is untouched.
	if latest, err := s.LatestKey(ctx, "m_2"); err != nil || latest.Version != 1 {
		t.Fatalf("LatestKey of another merchant = %+v, %v", latest, err)
	}
	if shredded, err := s.Shredded(ctx, "m_10"); err != nil || shredded {
		t.Fatalf("Shredded(m_10) = %v, %v", shredded, err)
	}
}

func TestMerchantDirectory(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	const merchants = 250
	want := map[string]bool{}
	for i := range merchants {
		m := fmt.Sprintf("m_%03d", i)
		if i%50 == 0 {
			m += "#with%separators" // escaped in the sort key, returned as is
		}
		want[m] = true
		if err := s.CreateKey(ctx, sampleKey(m, 1)); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 { // later versions and lost races add no entries
			if err := s.CreateKey(ctx, sampleKey(m, 2)); err != nil {
				t.Fatal(err)
			}
			rival := sampleKey(m, 1)
			rival.Wrapped.Ciphertext = []byte("a losing writer's wrap")
			if err := s.CreateKey(ctx, rival); !errors.Is(err, envelope.ErrKeyExists) {
				t.Fatalf("rival CreateKey = %v, want ErrKeyExists", err)
			}
		}
	}

	seen := map[string]int{}
	cursor, pages := "", 0
	for {
		ids, next, err := s.Merchants(ctx, cursor, 100)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(ids) > 100 {
			t.Fatalf("page of %d, want at most 100", len(ids))
		}
		for _, id := range ids {
			seen[id]++
		}
		if next == "" {
			break
		}
		if pages > 10 {
			t.Fatal("Merchants never ends")
		}
		cursor = next
	}
	if pages < 3 {
		t.Errorf("%d pages for %d merchants at 100 a page", pages, merchants)
	}
	if len(seen) != merchants {
		t.Fatalf("listed %d merchants, want %d", len(seen), merchants)
	}
	for id, n := range seen {
		if !want[id] || n != 1 {
			t.Errorf("merchant %q listed %d times (known: %v)", id, n, want[id])
		}
	}

	items, err := s.ScanAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	entries := 0
	for _, it := range items {
		if pk, ok := it[attrPK].(*types.AttributeValueMemberS); ok && pk.Value == merchantDirPK {
			entries++
		}
	}
	if entries != merchants {
		t.Fatalf("%d directory entries, want one per merchant (%d)", entries, merchants)
	}
	if _, _, err := s.Merchants(ctx, "!not a cursor!", 10); err == nil {
		t.Fatal("Merchants accepted a malformed cursor")
	}
}
