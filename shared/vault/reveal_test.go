package vault_test

import (
	"context"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

func TestRevealCard(t *testing.T) {
	f := newFixture(t)
	view := f.vault("m1", "cus_1", visa)
	f.rebuild(f.store) // nothing cached: the reveal unwraps the key
	got, trace, err := f.cards.RevealCard(ctx, f.caller("m1"), view.Token)
	if err != nil {
		t.Fatal(err)
	}
	if got.Token != view.Token || got.MerchantID != "m1" || got.Number.Reveal() != visa || got.ExpMonth != 12 ||
		got.ExpYear != f.clock.Now().Year()+2 || got.HolderName.Reveal() != "Ada Lovelace" {
		t.Fatalf("revealed %+v", got)
	}
	if trace.Token != view.Token || trace.KeyVersion != 1 || trace.KeyCacheMisses != 1 {
		t.Fatalf("trace = %+v", trace)
	}
}

func TestGetMasked(t *testing.T) {
	f := newFixture(t)
	view := f.vault("m1", "cus_1", visa)
	got, trace, err := f.masked.GetMasked(ctx, f.caller("m1"), view.Token)
	if err != nil {
		t.Fatal(err)
	}
	if got.Token != view.Token || got.Masked != view.Masked || got.Fingerprint != view.Fingerprint || got.Duplicate ||
		!got.CreatedAt.Equal(view.CreatedAt) || trace.KeyVersion != 1 || trace.Token != view.Token {
		t.Fatalf("masked view %+v (trace %+v), vaulted %+v", got, trace, view)
	}
}

func TestDeleteCard(t *testing.T) {
	f := newFixture(t)
	view := f.vault("m1", "cus_1", visa)
	trace, err := f.deleter.DeleteCard(ctx, f.caller("m1"), view.Token)
	if err != nil || trace.Token != view.Token {
		t.Fatalf("DeleteCard = %+v, %v", trace, err)
	}
	if n := f.records("m1"); n != 0 {
		t.Fatalf("%d records after the delete", n)
	}
	_, err = f.deleter.DeleteCard(ctx, f.caller("m1"), view.Token)
	wantCode(t, err, vaulterr.NotFound)
	again := f.vault("m1", "cus_1", visa)
	if again.Token == view.Token || again.Duplicate {
		t.Fatalf("the card vaulted after its delete = %+v, want a new token", again)
	}
}

func TestDeleteCardLosesToAConcurrentDelete(t *testing.T) {
	f := newFixture(t)
	view := f.vault("m1", "cus_1", visa)
	rec, err := f.store.Card(ctx, view.Token)
	if err != nil {
		t.Fatal(err)
	}
	// Another request deletes the card between this one's read and its
	// delete: this one answers not_found.
	f.rebuild(&deleteAfterRead{CardStore: f.store, rec: rec})
	_, err = f.deleter.DeleteCard(ctx, f.caller("m1"), view.Token)
	wantCode(t, err, vaulterr.NotFound)
}

// deleteAfterRead deletes rec right after the operation read it.
type deleteAfterRead struct {
	vault.CardStore
	rec vault.CardRecord
}

func (d *deleteAfterRead) Card(ctx context.Context, token string) (vault.CardRecord, error) {
	rec, err := d.CardStore.Card(ctx, token)
	if err == nil {
		_ = d.CardStore.DeleteCard(ctx, d.rec)
	}
	return rec, err
}

// TestCardReadRefusals covers what get_masked, reveal_card and
// delete_card refuse alike: each answers not_found (or replayed) and
// changes nothing, its request id included.
func TestCardReadRefusals(t *testing.T) {
	tests := []struct {
		name string
		// setup returns the token to ask for and the caller's merchant.
		setup func(f *fixture, token string) (string, string)
		code  vaulterr.Code
	}{
		{"malformed token", func(*fixture, string) (string, string) { return "tok_short", "m1" }, vaulterr.NotFound},
		{"token of another shape", func(*fixture, string) (string, string) { return "card_AAAAAAAAAAAAAAAAAAAAAA", "m1" }, vaulterr.NotFound},
		{"token not base64url", func(*fixture, string) (string, string) { return "tok_AAAAAAAAAAAAAAAAAAAAA!", "m1" }, vaulterr.NotFound},
		{"unknown token", func(*fixture, string) (string, string) { return "tok_AAAAAAAAAAAAAAAAAAAAAA", "m1" }, vaulterr.NotFound},
		{"another merchant's card", func(_ *fixture, token string) (string, string) { return token, "m2" }, vaulterr.NotFound},
		{"expired card", func(f *fixture, token string) (string, string) {
			f.clock.Advance(time.Hour + time.Second)
			return token, "m1"
		}, vaulterr.NotFound},
		{"deletion begun", func(f *fixture, token string) (string, string) {
			rec, err := f.store.Card(ctx, token)
			if err != nil {
				f.t.Fatal(err)
			}
			rec.Deleted, rec.Sealed = true, nil
			if err := f.store.ReplaceCard(ctx, rec); err != nil {
				f.t.Fatal(err)
			}
			return token, "m1"
		}, vaulterr.NotFound},
		{"shredded merchant", func(f *fixture, token string) (string, string) {
			if _, err := f.keyLife.ShredMerchant(ctx, f.caller("m1")); err != nil {
				f.t.Fatal(err)
			}
			return token, "m1"
		}, vaulterr.NotFound},
	}
	ops := map[string]func(f *fixture, c vault.Caller, token string) error{
		"get_masked": func(f *fixture, c vault.Caller, token string) error {
			_, _, err := f.masked.GetMasked(ctx, c, token)
			return err
		},
		"reveal_card": func(f *fixture, c vault.Caller, token string) error {
			_, _, err := f.cards.RevealCard(ctx, c, token)
			return err
		},
		"delete_card": func(f *fixture, c vault.Caller, token string) error {
			_, err := f.deleter.DeleteCard(ctx, c, token)
			return err
		},
	}
	for opName, op := range ops {
		for _, tc := range tests {
			t.Run(opName+"/"+tc.name, func(t *testing.T) {
				f := newFixture(t)
				in := f.cardInput("m1", "cus_1", visa)
				in.TTL = time.Hour
				view, _, err := f.cards.VaultCard(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				token, merchant := tc.setup(f, view.Token)
				c := f.caller(merchant)
				wantCode(t, op(f, c, token), tc.code)
				f.unspent(c)
			})
		}
		t.Run(opName+"/replayed", func(t *testing.T) {
			f := newFixture(t)
			view := f.vault("m1", "cus_1", visa)
			c := f.caller("m1")
			if err := f.store.Consume(ctx, c.ClientID, c.JTI, f.clock.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			wantCode(t, op(f, c, view.Token), vaulterr.Replayed)
			if _, err := f.store.Card(ctx, view.Token); err != nil {
				t.Fatalf("a replayed request changed the card: %v", err)
			}
		})
	}
}

// TestRevealCardIntegrity tampers with a stored record in each way a
// table write could, and expects integrity_error, never another card's
// data.
func TestRevealCardIntegrity(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(f *fixture, rec, other *vault.CardRecord)
		code   vaulterr.Code
	}{
		{"ciphertext of another card", func(_ *fixture, rec, other *vault.CardRecord) { rec.Sealed = other.Sealed }, vaulterr.Integrity},
		{"masked view of another number", func(_ *fixture, rec, other *vault.CardRecord) { rec.Masked = other.Masked }, vaulterr.Integrity},
		{"key version that is not the ciphertext's", func(_ *fixture, rec, _ *vault.CardRecord) { rec.KeyVersion = 2 }, vaulterr.Integrity},
		{"ciphertext cut short", func(_ *fixture, rec, _ *vault.CardRecord) { rec.Sealed = rec.Sealed[:len(rec.Sealed)-1] }, vaulterr.Integrity},
		{"no ciphertext", func(_ *fixture, rec, _ *vault.CardRecord) { rec.Sealed = nil }, vaulterr.Integrity},
		{"one bit flipped", func(_ *fixture, rec, _ *vault.CardRecord) {
			rec.Sealed = append([]byte(nil), rec.Sealed...)
			rec.Sealed[len(rec.Sealed)-3] ^= 1
		}, vaulterr.Integrity},
		{"key version destroyed", func(f *fixture, _, _ *vault.CardRecord) {
			if err := f.store.DestroyKey(ctx, "m1", 1); err != nil {
				f.t.Fatal(err)
			}
		}, vaulterr.NotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			mine := f.vault("m1", "cus_1", visa)
			theirs := f.vault("m1", "cus_2", mastercard)
			rec, err := f.store.Card(ctx, mine.Token)
			if err != nil {
				t.Fatal(err)
			}
			other, err := f.store.Card(ctx, theirs.Token)
			if err != nil {
				t.Fatal(err)
			}
			tc.tamper(f, &rec, &other)
			if err := f.store.ReplaceCard(ctx, rec); err != nil {
				t.Fatal(err)
			}
			f.rebuild(f.store) // no cached key
			got, _, err := f.cards.RevealCard(ctx, f.caller("m1"), mine.Token)
			wantCode(t, err, tc.code)
			if got.Number.Reveal() != "" {
				t.Fatal("a refused reveal returned a number")
			}
		})
	}
}
