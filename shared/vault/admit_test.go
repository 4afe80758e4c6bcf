package vault_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/forward"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
	"github.com/cardvault/vault/shared/wire"
)

// forward and vault_card spend their request id while they read what
// decides whether the request is refused, and take the spend back when
// it is. These tests hold that a refused request still changes nothing.

// providerAnswer is what the test destination answers.
const providerAnswer = `{"id":"pm_1"}`

// countingSender stands in for the provider: it counts the requests that
// reached it.
type countingSender struct{ sent atomic.Int32 }

func (s *countingSender) Send(context.Context, *forward.Destination, *forward.Outgoing) (forward.Answer, error) {
	s.sent.Add(1)
	return forward.Answer{Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(providerAnswer)}, nil
}

// forwarder is a Forwarder over the fixture's store (or the given replay
// guard) to one destination, "psp", whose credential is the merchant
// secret "psp_key".
func (f *fixture) forwarder(replay vault.UndoableReplayGuard, sender forward.Sender) *vault.Forwarder {
	f.t.Helper()
	dests, err := forward.ParseDestinations([]byte(`{"destinations": [{"id": "psp", "url": "https://psp.example",
		"routes": [{"method": "POST", "path": "/v1/payment_methods"}],
		"credential": {"secret": "psp_key", "header": "Authorization", "prefix": "Bearer "}}]}`))
	if err != nil {
		f.t.Fatal(err)
	}
	return vault.NewForwarder(vault.ForwarderDeps{
		Cards: f.store, Secrets: f.store, Replay: replay, Merchants: f.store, Keys: f.keys,
		Destinations: forward.StaticSource(dests), Sender: sender, Audit: audit.Discard{}, Now: f.clock.Now,
	})
}

// forwardInput sends the card behind token to psp for c.
func (f *fixture) forwardInput(c vault.Caller, token string) vault.ForwardInput {
	f.t.Helper()
	o, err := wire.ParseObject([]byte(`{"method": "POST", "path": "/v1/payment_methods",
		"content_type": "application/x-www-form-urlencoded", "body": {"card[number]": "{{card.number}}"}}`))
	if err != nil {
		f.t.Fatal(err)
	}
	r, err := forward.ParseRequest(o)
	if err != nil {
		f.t.Fatal(err)
	}
	return vault.ForwardInput{Caller: c, RequestID: "req-1", Allowed: []string{"psp"}, Destination: "psp", Token: token, Request: r}
}

// undoFails is the fixture's replay guard with every undo failing.
type undoFails struct {
	vault.UndoableReplayGuard
	undos atomic.Int32
}

func (g *undoFails) Unspend(context.Context, vault.ReplaySpend) error {
	g.undos.Add(1)
	return errStorage
}

// spendFails is the fixture's replay guard whose spends are written and
// then answer a failure, as a put whose answer was lost does.
type spendFails struct{ vault.UndoableReplayGuard }

func (g spendFails) Spend(ctx context.Context, issuer, jti string, until time.Time) (vault.ReplaySpend, error) {
	spend, err := g.UndoableReplayGuard.Spend(ctx, issuer, jti, until)
	if err != nil {
		return spend, err
	}
	return spend, vaulterr.Wrap(vaulterr.Unavailable, "storage unavailable", errStorage)
}

// failingIndex answers every duplicate lookup with a store failure.
type failingIndex struct{ vault.CardStore }

func (failingIndex) CardIndex(context.Context, vault.CardIndexKey) (string, error) {
	return "", errStorage
}

// warmFixture is a fixture whose process keeps m1's keys for the
// test's length, once the first card is vaulted: its vault_card looks
// for a duplicate beside the merchant's state.
func warmFixture(t *testing.T) *fixture {
	f := newFixture(t)
	f.rebuildCaches(f.store, f.store, time.Hour, time.Hour)
	f.vault("m1", "cus_1", visa)
	return f
}

// forwardSetup vaults a card of m1 and puts the destination's
// credential, unless the case leaves it out.
func forwardSetup(t *testing.T, withKey bool) (*fixture, string) {
	f := newFixture(t)
	view := f.vault("m1", "cus_1", visa)
	if withKey {
		f.put("m1", "psp_key", "sk_live_0123456789")
	}
	return f, view.Token
}

func TestRefusedForwardLeavesItsRequestIDUnspent(t *testing.T) {
	tests := []struct {
		name    string
		withKey bool
		setup   func(f *fixture, token string) (string, string) // token and merchant to ask with
		code    vaulterr.Code
	}{
		{"unknown token", true, func(*fixture, string) (string, string) { return "tok_AAAAAAAAAAAAAAAAAAAAAA", "m1" }, vaulterr.NotFound},
		{"another merchant's card", true, func(_ *fixture, token string) (string, string) { return token, "m2" }, vaulterr.NotFound},
		{"credential secret missing", false, func(_ *fixture, token string) (string, string) { return token, "m1" }, vaulterr.NotFound},
		{"deletion begun", true, func(f *fixture, token string) (string, string) {
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
		{"shredded merchant", true, func(f *fixture, token string) (string, string) {
			if _, err := f.keyLife.ShredMerchant(ctx, f.caller("m1")); err != nil {
				f.t.Fatal(err)
			}
			return token, "m1"
		}, vaulterr.NotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, real := forwardSetup(t, tc.withKey)
			sender := &countingSender{}
			fwd := f.forwarder(f.store, sender)
			token, merchant := tc.setup(f, real)
			c := f.caller(merchant)
			_, _, err := fwd.Forward(ctx, f.forwardInput(c, token))
			wantCode(t, err, tc.code)
			if n := sender.sent.Load(); n != 0 {
				t.Fatalf("a refused forward reached the provider %d times", n)
			}
			f.unspent(c)
		})
	}
}

// TestForwardRequestIDIsUsableAfterARefusal: the very request id of a
// refused forward carries a later, valid one, which spends it for good.
func TestForwardRequestIDIsUsableAfterARefusal(t *testing.T) {
	f, token := forwardSetup(t, true)
	sender := &countingSender{}
	fwd := f.forwarder(f.store, sender)
	c := f.caller("m1")
	_, _, err := fwd.Forward(ctx, f.forwardInput(c, "tok_AAAAAAAAAAAAAAAAAAAAAA"))
	wantCode(t, err, vaulterr.NotFound)
	res, _, err := fwd.Forward(ctx, f.forwardInput(c, token))
	if err != nil {
		t.Fatalf("forward with the refused request's id: %v", err)
	}
	if res.Status != http.StatusOK || string(res.Body) != providerAnswer || sender.sent.Load() != 1 {
		t.Fatalf("forward answered %d %q after %d sends", res.Status, res.Body, sender.sent.Load())
	}
	_, _, err = fwd.Forward(ctx, f.forwardInput(c, token))
	wantCode(t, err, vaulterr.Replayed)
	if n := sender.sent.Load(); n != 1 {
		t.Fatalf("a replayed forward reached the provider (%d sends)", n)
	}
}

// TestForwardReplayPrecedence: a read's refusal wins over a replay, and
// neither undoes the spend of the request that used the id first.
func TestForwardReplayPrecedence(t *testing.T) {
	f, token := forwardSetup(t, true)
	sender := &countingSender{}
	fwd := f.forwarder(f.store, sender)
	c := f.caller("m1")
	if _, _, err := fwd.Forward(ctx, f.forwardInput(c, token)); err != nil {
		t.Fatal(err)
	}
	_, _, err := fwd.Forward(ctx, f.forwardInput(c, "tok_AAAAAAAAAAAAAAAAAAAAAA"))
	wantCode(t, err, vaulterr.NotFound)
	// The replay refusal wrote nothing and the refused read took nothing
	// back: the first request's spend stands.
	_, _, err = fwd.Forward(ctx, f.forwardInput(c, token))
	wantCode(t, err, vaulterr.Replayed)
	if n := sender.sent.Load(); n != 1 {
		t.Fatalf("%d sends, want the first request's only", n)
	}
}

func TestForwardUndoFailureAnswersUnavailable(t *testing.T) {
	f, _ := forwardSetup(t, true)
	guard := &undoFails{UndoableReplayGuard: f.store}
	sender := &countingSender{}
	fwd := f.forwarder(guard, sender)
	_, _, err := fwd.Forward(ctx, f.forwardInput(f.caller("m1"), "tok_AAAAAAAAAAAAAAAAAAAAAA"))
	wantCode(t, err, vaulterr.Unavailable)
	if guard.undos.Load() != 1 || sender.sent.Load() != 0 {
		t.Fatalf("%d undos, %d sends; want one undo and no send", guard.undos.Load(), sender.sent.Load())
	}
}

// TestForwardSpendFailureIsTakenBack: a spend whose put landed but whose
// answer was lost is still taken back when the reads refuse.
func TestForwardSpendFailureIsTakenBack(t *testing.T) {
	f, _ := forwardSetup(t, true)
	fwd := f.forwarder(spendFails{f.store}, &countingSender{})
	c := f.caller("m1")
	_, _, err := fwd.Forward(ctx, f.forwardInput(c, "tok_AAAAAAAAAAAAAAAAAAAAAA"))
	wantCode(t, err, vaulterr.NotFound)
	f.unspent(c)
}

// TestRefusedVaultCardLeavesItsRequestIDUnspent covers what the cold
// refusals (TestVaultCardRefusals) do not: a warm process, whose reads
// include the duplicate lookup.
func TestRefusedVaultCardLeavesItsRequestIDUnspent(t *testing.T) {
	t.Run("shredded merchant", func(t *testing.T) {
		f := warmFixture(t)
		if err := f.store.MarkShredded(ctx, "m1", f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		in := f.cardInput("m1", "cus_2", visa)
		_, _, err := f.cards.VaultCard(ctx, in)
		wantCode(t, err, vaulterr.NotFound)
		f.unspent(in.Caller)
	})
	t.Run("duplicate lookup fails", func(t *testing.T) {
		f := warmFixture(t)
		cards := vault.NewCardVault(failingIndex{f.store}, f.store, f.store, f.keys, f.clock.Now)
		in := f.cardInput("m1", "cus_2", visa)
		_, _, err := cards.VaultCard(ctx, in)
		if !errors.Is(err, errStorage) {
			t.Fatalf("VaultCard = %v, want the lookup's failure", err)
		}
		if n := f.records("m1"); n != 1 {
			t.Fatalf("%d records, want the first card only", n)
		}
		f.unspent(in.Caller)
	})
}

func TestVaultCardRequestIDIsUsableAfterARefusal(t *testing.T) {
	f := warmFixture(t)
	in := f.cardInput("m1", "cus_2", visa)
	in.TTL = time.Second // refused: under a minute
	_, _, err := f.cards.VaultCard(ctx, in)
	wantCode(t, err, vaulterr.InvalidCard)
	// The store refuses the next try with the same id: its index lookup
	// fails after the spend went out.
	in.TTL = 0
	_, _, err = vault.NewCardVault(failingIndex{f.store}, f.store, f.store, f.keys, f.clock.Now).VaultCard(ctx, in)
	if !errors.Is(err, errStorage) {
		t.Fatalf("VaultCard = %v, want the lookup's failure", err)
	}
	view, _, err := f.cards.VaultCard(ctx, in)
	if err != nil || view.Duplicate {
		t.Fatalf("VaultCard with the refused requests' id = %+v, %v; want a new card", view, err)
	}
	_, _, err = f.cards.VaultCard(ctx, in)
	wantCode(t, err, vaulterr.Replayed)
}

func TestVaultCardReplayPrecedence(t *testing.T) {
	for _, warm := range []bool{false, true} {
		name := map[bool]string{false: "cold", true: "warm"}[warm]
		t.Run(name+"/refusal wins", func(t *testing.T) {
			f := newFixture(t)
			if warm {
				f = warmFixture(t)
			}
			in := f.cardInput("m1", "cus_2", mastercard)
			if err := f.store.Consume(ctx, in.ClientID, in.JTI, f.clock.Now().Add(vault.ReplayWindow)); err != nil {
				t.Fatal(err)
			}
			if err := f.store.MarkShredded(ctx, "m1", f.clock.Now()); err != nil {
				t.Fatal(err)
			}
			_, _, err := f.cards.VaultCard(ctx, in)
			wantCode(t, err, vaulterr.NotFound)
			// The refusal did not take back the spend it did not make.
			if err := f.store.Consume(ctx, in.ClientID, in.JTI, f.clock.Now().Add(vault.ReplayWindow)); !errors.Is(err, vault.ErrReplayed) {
				t.Fatalf("the id spent before is free again: %v", err)
			}
		})
		t.Run(name+"/replay writes nothing", func(t *testing.T) {
			f, before := newFixture(t), 0
			if warm {
				f, before = warmFixture(t), 1
			}
			in := f.cardInput("m1", "cus_2", mastercard)
			if err := f.store.Consume(ctx, in.ClientID, in.JTI, f.clock.Now().Add(vault.ReplayWindow)); err != nil {
				t.Fatal(err)
			}
			_, _, err := f.cards.VaultCard(ctx, in)
			wantCode(t, err, vaulterr.Replayed)
			if n := f.records("m1"); n != before {
				t.Fatalf("a replayed vault_card left %d records, want %d", n, before)
			}
		})
	}
}

func TestVaultCardUndoFailureAnswersUnavailable(t *testing.T) {
	for _, warm := range []bool{false, true} {
		f := newFixture(t)
		if warm {
			f = warmFixture(t)
		}
		if err := f.store.MarkShredded(ctx, "m1", f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		guard := &undoFails{UndoableReplayGuard: f.store}
		cards := vault.NewCardVault(f.store, guard, f.store, f.keys, f.clock.Now)
		_, _, err := cards.VaultCard(ctx, f.cardInput("m1", "cus_2", mastercard))
		wantCode(t, err, vaulterr.Unavailable)
		if guard.undos.Load() != 1 {
			t.Fatalf("warm=%v: %d undos, want 1", warm, guard.undos.Load())
		}
		if strings.Contains(err.Error(), mastercard) {
			t.Fatal("the error names the card number")
		}
	}
}

// TestVaultCardAcceptedKeepsItsSpend: an admitted request's id stays
// spent, new card or duplicate, warm or cold.
func TestVaultCardAcceptedKeepsItsSpend(t *testing.T) {
	f := newFixture(t)
	for i, number := range []string{visa, visa, mastercard} {
		if i == 1 {
			f.rebuild(f.store) // cold: the keys are loaded after admission
		}
		in := f.cardInput("m1", "cus_1", number)
		if _, _, err := f.cards.VaultCard(ctx, in); err != nil {
			t.Fatal(err)
		}
		err := f.store.Consume(ctx, in.ClientID, in.JTI, f.clock.Now().Add(vault.ReplayWindow))
		if !errors.Is(err, vault.ErrReplayed) {
			t.Fatalf("request %d: its id is unspent after it was carried out: %v", i, err)
		}
	}
}
