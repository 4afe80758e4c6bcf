package vault_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

func TestVaultCardStoresANewCard(t *testing.T) {
	f := newFixture(t)
	in := f.cardInput("m1", "cus_1", "4242 4242-4242 4242")
	in.TTL = time.Hour
	view, trace, err := f.cards.VaultCard(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(view.Token, "tok_") || len(view.Token) != 26 {
		t.Fatalf("token %q is not tok_ and 22 characters", view.Token)
	}
	if view.Duplicate || view.MerchantID != "m1" || view.CustomerID != "cus_1" || !strings.HasPrefix(view.Fingerprint, "fp_") {
		t.Fatalf("view = %+v", view)
	}
	if m := view.Masked; m.Brand != "visa" || m.First4 != "4242" || m.Last4 != "4242" || m.ExpMonth != 12 {
		t.Fatalf("masked = %+v", m)
	}
	if trace.Token != view.Token || trace.KeyVersion != 1 || trace.KeyCacheMisses != 1 {
		t.Fatalf("trace = %+v", trace)
	}
	rec, err := f.store.Card(ctx, view.Token)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(rec.Sealed), visa) || rec.KeyVersion != 1 {
		t.Fatalf("stored record is not sealed: key version %d", rec.KeyVersion)
	}
	if want := rec.CreatedAt.Add(time.Hour); !rec.ExpiresAt.Equal(want) {
		t.Fatalf("ExpiresAt = %v, want %v", rec.ExpiresAt, want)
	}
	// The second card of the merchant hits the key cache.
	_, trace, err = f.cards.VaultCard(ctx, f.cardInput("m1", "cus_2", visa))
	if err != nil || trace.KeyCacheHits != 1 || trace.KeyCacheMisses != 0 {
		t.Fatalf("second card: trace %+v, %v", trace, err)
	}
}

func TestVaultCardRefusals(t *testing.T) {
	tests := []struct {
		name   string
		change func(f *fixture, in *vault.VaultCardInput)
		code   vaulterr.Code
	}{
		{"number fails Luhn", func(_ *fixture, in *vault.VaultCardInput) { in.Card.Number = secret.New("4242424242424241") }, vaulterr.InvalidCard},
		{"number has letters", func(_ *fixture, in *vault.VaultCardInput) { in.Card.Number = secret.New("4242x24242424242") }, vaulterr.InvalidCard},
		{"number too short", func(_ *fixture, in *vault.VaultCardInput) { in.Card.Number = secret.New("4242") }, vaulterr.InvalidCard},
		{"month 13", func(_ *fixture, in *vault.VaultCardInput) { in.Card.ExpMonth = 13 }, vaulterr.InvalidCard},
		{"expired", func(f *fixture, in *vault.VaultCardInput) { in.Card.ExpYear = f.clock.Now().Year() - 1 }, vaulterr.InvalidCard},
		{"holder with a control character", func(_ *fixture, in *vault.VaultCardInput) { in.Card.HolderName = secret.New("Ada\nLovelace") }, vaulterr.InvalidCard},
		{"holder too long", func(_ *fixture, in *vault.VaultCardInput) {
			in.Card.HolderName = secret.New(strings.Repeat("a", 101))
		}, vaulterr.InvalidCard},
		{"ttl under a minute", func(_ *fixture, in *vault.VaultCardInput) { in.TTL = 59 * time.Second }, vaulterr.InvalidCard},
		{"ttl over ten years", func(_ *fixture, in *vault.VaultCardInput) { in.TTL = vault.MaxCardTTL + time.Second }, vaulterr.InvalidCard},
		{"shredded merchant", func(f *fixture, in *vault.VaultCardInput) {
			if err := f.store.MarkShredded(ctx, in.MerchantID, f.clock.Now()); err != nil {
				f.t.Fatal(err)
			}
		}, vaulterr.NotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			in := f.cardInput("m1", "cus_1", visa)
			tc.change(f, &in)
			_, _, err := f.cards.VaultCard(ctx, in)
			wantCode(t, err, tc.code)
			if n := f.records("m1"); n != 0 {
				t.Fatalf("a refused vault_card stored %d records", n)
			}
			f.unspent(in.Caller)
		})
	}
}

func TestVaultCardRefusesAReplay(t *testing.T) {
	f := newFixture(t)
	in := f.cardInput("m1", "cus_1", visa)
	first, _, err := f.cards.VaultCard(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	again := in
	again.Card.Number = secret.New(mastercard)
	_, _, err = f.cards.VaultCard(ctx, again)
	wantCode(t, err, vaulterr.Replayed)
	if n := f.records("m1"); n != 1 {
		t.Fatalf("%d records after a replay, want the first card only", n)
	}
	if _, err := f.store.Card(ctx, first.Token); err != nil {
		t.Fatal(err)
	}
}

func TestVaultCardStorageFailure(t *testing.T) {
	f := newFixture(t)
	f.rebuild(&cardStore{CardStore: f.store, onClaim: func(string, error) (string, error) { return "", errStorage }})
	_, _, err := f.cards.VaultCard(ctx, f.cardInput("m1", "cus_1", visa))
	if !errors.Is(err, errStorage) {
		t.Fatalf("err = %v, want the store's", err)
	}
}

func TestVaultCardDuplicates(t *testing.T) {
	f := newFixture(t)
	first := f.vault("m1", "cus_1", visa)

	f.clock.Advance(time.Minute)
	in := f.cardInput("m1", "cus_1", "4242-4242-4242-4242")
	in.Card.ExpMonth = 6
	in.Card.ExpYear++
	dup, _, err := f.cards.VaultCard(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if dup.Token != first.Token || !dup.Duplicate || dup.Fingerprint != first.Fingerprint || !dup.CreatedAt.Equal(first.CreatedAt) {
		t.Fatalf("same card again = %+v, want %s as a duplicate with its creation time", dup, first.Token)
	}
	if dup.Masked.ExpMonth != 6 || dup.Masked.ExpYear != in.Card.ExpYear {
		t.Fatalf("duplicate kept the old expiry: %+v", dup.Masked)
	}
	revealed, _, err := f.cards.RevealCard(ctx, f.caller("m1"), first.Token)
	if err != nil || revealed.ExpMonth != 6 {
		t.Fatalf("reveal after update = %+v, %v; want the new expiry", revealed, err)
	}

	// Another customer, another merchant, another number: new cards.
	for _, other := range []struct{ m, customer, number string }{{"m1", "cus_2", visa}, {"m2", "cus_1", visa}, {"m1", "cus_1", mastercard}} {
		v := f.vault(other.m, other.customer, other.number)
		if v.Token == first.Token || v.Duplicate {
			t.Fatalf("%+v = %+v, want a new card", other, v)
		}
		if other.m == "m2" && v.Fingerprint == first.Fingerprint {
			t.Fatal("two merchants share a fingerprint: fingerprints must be keyed per merchant")
		}
	}
}

// TestVaultCardConcurrentDuplicates vaults one card from many requests at
// once: they agree on one token and one record.
func TestVaultCardConcurrentDuplicates(t *testing.T) {
	f := newFixture(t)
	const n = 12
	views := make([]vault.CardView, n)
	errs := make([]error, n)
	inputs := make([]vault.VaultCardInput, n)
	for i := range inputs {
		inputs[i] = f.cardInput("m1", "cus_1", visa)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			views[i], _, errs[i] = f.cards.VaultCard(ctx, inputs[i])
		}()
	}
	wg.Wait()
	fresh := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if views[i].Token != views[0].Token {
			t.Fatalf("concurrent duplicates got tokens %s and %s", views[0].Token, views[i].Token)
		}
		if !views[i].Duplicate {
			fresh++
		}
	}
	if fresh > 1 {
		t.Fatalf("%d requests were told the card is new", fresh)
	}
	if got := f.records("m1"); got != 1 {
		t.Fatalf("%d records for one card", got)
	}
}

// TestVaultCardRaces runs another request at the one moment of a
// vault_card that a race can fall into, and checks the outcome.
func TestVaultCardRaces(t *testing.T) {
	t.Run("duplicate writes the record of a claim not yet written", func(t *testing.T) {
		// Request A claims the index entry; before it writes its record,
		// request B (the same card) finds the entry, writes the record for
		// A's token, and answers. A then finds its token taken and updates
		// the record as B's duplicate.
		f := newFixture(t)
		wrapped := &cardStore{CardStore: f.store}
		f.rebuild(wrapped)
		var b vault.CardView
		var bErr error
		runB := once(func() { b, _, bErr = f.cards.VaultCard(ctx, f.cardInput("m1", "cus_1", visa)) })
		wrapped.beforeWrite = func(vault.CardRecord) { runB() }
		a, _, err := f.cards.VaultCard(ctx, f.cardInput("m1", "cus_1", visa))
		if err != nil || bErr != nil {
			t.Fatalf("A: %v, B: %v", err, bErr)
		}
		if a.Token != b.Token || !a.Duplicate || !b.Duplicate {
			t.Fatalf("A = %+v, B = %+v; want one token, both duplicates of the claim", a, b)
		}
		if n := f.records("m1"); n != 1 {
			t.Fatalf("%d records", n)
		}
	})

	t.Run("delete between the read and the update", func(t *testing.T) {
		// The card is deleted after the duplicate read it: the update finds
		// nothing, and the card is vaulted anew under a new token.
		f := newFixture(t)
		first := f.vault("m1", "cus_1", visa)
		wrapped := &cardStore{CardStore: f.store}
		f.rebuild(wrapped)
		deleteIt := once(func() {
			if _, err := f.deleter.DeleteCard(ctx, f.caller("m1"), first.Token); err != nil {
				t.Fatal(err)
			}
		})
		wrapped.beforeWrite = func(rec vault.CardRecord) {
			if rec.Token == first.Token {
				deleteIt()
			}
		}
		again, _, err := f.cards.VaultCard(ctx, f.cardInput("m1", "cus_1", visa))
		if err != nil {
			t.Fatal(err)
		}
		if again.Token == first.Token || again.Duplicate {
			t.Fatalf("vault after a concurrent delete = %+v, want a new card", again)
		}
		if _, _, err := f.masked.GetMasked(ctx, f.caller("m1"), first.Token); vaulterr.CodeOf(err) != vaulterr.NotFound {
			t.Fatalf("deleted card: %v", err)
		}
		if _, _, err := f.cards.RevealCard(ctx, f.caller("m1"), again.Token); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("claimed token whose request died", func(t *testing.T) {
		// An index entry points at a token whose record was never
		// written: the next request writes it.
		f := newFixture(t)
		first := f.vault("m1", "cus_1", visa)
		rec, err := f.store.Card(ctx, first.Token)
		if err != nil {
			t.Fatal(err)
		}
		orphan := "tok_AAAAAAAAAAAAAAAAAAAAAA"
		if err := f.store.TakeOverCardIndex(ctx, vault.CardIndexKey{MerchantID: "m1", CustomerID: "cus_1", Fingerprint: rec.Fingerprint}, first.Token, orphan, time.Time{}); err != nil {
			t.Fatal(err)
		}
		again, _, err := f.cards.VaultCard(ctx, f.cardInput("m1", "cus_1", visa))
		if err != nil || again.Token != orphan || !again.Duplicate {
			t.Fatalf("vault over an orphan claim = %+v, %v; want %s", again, err, orphan)
		}
		if _, _, err := f.cards.RevealCard(ctx, f.caller("m1"), orphan); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("index entry outlived a deletion cut short", func(t *testing.T) {
		f := newFixture(t)
		first := f.vault("m1", "cus_1", visa)
		rec, err := f.store.Card(ctx, first.Token)
		if err != nil {
			t.Fatal(err)
		}
		rec.Deleted, rec.Sealed = true, nil
		if err := f.store.ReplaceCard(ctx, rec); err != nil {
			t.Fatal(err)
		}
		again, _, err := f.cards.VaultCard(ctx, f.cardInput("m1", "cus_1", visa))
		if err != nil || again.Token == first.Token || again.Duplicate {
			t.Fatalf("vault over a tombstone = %+v, %v; want a new card", again, err)
		}
	})

	t.Run("index entry outlived its expired card", func(t *testing.T) {
		f := newFixture(t)
		first := f.vault("m1", "cus_1", visa)
		rec, err := f.store.Card(ctx, first.Token)
		if err != nil {
			t.Fatal(err)
		}
		rec.ExpiresAt = f.clock.Now().Add(-time.Second)
		if err := f.store.ReplaceCard(ctx, rec); err != nil {
			t.Fatal(err)
		}
		again, _, err := f.cards.VaultCard(ctx, f.cardInput("m1", "cus_1", visa))
		if err != nil || again.Token == first.Token || again.Duplicate {
			t.Fatalf("vault over an expired card = %+v, %v; want a new card", again, err)
		}
	})

	t.Run("expired card vaulted again", func(t *testing.T) {
		f := newFixture(t)
		in := f.cardInput("m1", "cus_1", visa)
		in.TTL = vault.MinCardTTL
		first, _, err := f.cards.VaultCard(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(vault.MinCardTTL + time.Second)
		again := f.vault("m1", "cus_1", visa)
		if again.Token == first.Token || again.Duplicate {
			t.Fatalf("vault after expiry = %+v, want a new card", again)
		}
	})

	t.Run("index points at another merchant's card", func(t *testing.T) {
		f := newFixture(t)
		mine := f.vault("m1", "cus_1", visa)
		theirs := f.vault("m2", "cus_1", visa)
		rec, err := f.store.Card(ctx, mine.Token)
		if err != nil {
			t.Fatal(err)
		}
		key := vault.CardIndexKey{MerchantID: "m1", CustomerID: "cus_1", Fingerprint: rec.Fingerprint}
		if err := f.store.TakeOverCardIndex(ctx, key, mine.Token, theirs.Token, time.Time{}); err != nil {
			t.Fatal(err)
		}
		_, _, err = f.cards.VaultCard(ctx, f.cardInput("m1", "cus_1", visa))
		wantCode(t, err, vaulterr.Integrity)
	})

	t.Run("record keeps changing", func(t *testing.T) {
		f := newFixture(t)
		f.vault("m1", "cus_1", visa)
		f.rebuild(&cardStore{CardStore: f.store, onReplace: func(error) error { return vault.ErrNotFound }})
		_, _, err := f.cards.VaultCard(ctx, f.cardInput("m1", "cus_1", visa))
		wantCode(t, err, vaulterr.Unavailable)
	})

	t.Run("storage fails mid-way", func(t *testing.T) {
		for name, store := range map[string]func(f *fixture) *cardStore{
			"create": func(f *fixture) *cardStore {
				return &cardStore{CardStore: f.store, onCreate: func(vault.CardRecord, error) error { return errStorage }}
			},
			"read": func(f *fixture) *cardStore {
				return &cardStore{CardStore: f.store, onClaim: func(string, error) (string, error) { return "tok_AAAAAAAAAAAAAAAAAAAAAA", vault.ErrConflict },
					beforeCard: func(string) {}, onCreate: func(vault.CardRecord, error) error { return errStorage }}
			},
			"replace": func(f *fixture) *cardStore {
				return &cardStore{CardStore: f.store, onReplace: func(error) error { return errStorage }}
			},
		} {
			t.Run(name, func(t *testing.T) {
				f := newFixture(t)
				f.vault("m1", "cus_1", visa)
				f.rebuild(store(f))
				customer := "cus_1" // the duplicate path
				if name == "create" {
					customer = "cus_2" // a new card
				}
				if _, _, err := f.cards.VaultCard(ctx, f.cardInput("m1", customer, visa)); !errors.Is(err, errStorage) {
					t.Fatalf("err = %v, want the store's", err)
				}
			})
		}
	})
}
