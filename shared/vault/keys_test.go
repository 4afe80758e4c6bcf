package vault_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

func (f *fixture) actions() []string {
	var out []string
	for _, e := range f.audit.Events() {
		out = append(out, e.Action)
	}
	return out
}

func (f *fixture) count(m string, version uint32) int {
	f.t.Helper()
	n, err := f.store.CountRecords(ctx, m, version)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) versions(m string) []uint32 {
	f.t.Helper()
	keys, err := f.store.Keys(ctx, m)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []uint32
	for _, k := range keys {
		out = append(out, k.Version)
	}
	return out
}

func TestRotateKeys(t *testing.T) {
	f := newFixture(t)
	f.vault("m1", "cus_1", visa)
	f.put("m1", "s", "v")
	status, trace, err := f.keyLife.RotateKeys(ctx, f.caller("m1"))
	if err != nil {
		t.Fatal(err)
	}
	if status.MerchantID != "m1" || status.PrimaryVersion != 2 || trace.KeyVersion != 2 || !status.Rotation.Running || status.Rotation.Remaining != 2 {
		t.Fatalf("status after rotate_keys = %+v (trace %+v)", status, trace)
	}
	if len(status.Versions) != 2 || status.Versions[0].Version != 2 || status.Versions[0].State != envelope.KeyPrimary ||
		status.Versions[1].Version != 1 || status.Versions[1].State != envelope.KeyRetiring || status.Versions[1].Records != 2 {
		t.Fatalf("versions after rotate_keys = %+v", status.Versions)
	}
	if got := f.work.Started(); len(got) != 1 || got[0] != (vault.WorkRequest{Action: vault.ActionContinueRotation, MerchantID: "m1"}) {
		t.Fatalf("background work started: %+v", got)
	}
	if got := f.actions(); !slices.Equal(got, []string{audit.ActionRotationStarted}) {
		t.Fatalf("audit events: %v", got)
	}
	// New records are sealed with the new primary once the old one's
	// cache lifetime is over.
	time.Sleep(testPrimaryTTL)
	view := f.vault("m1", "cus_2", visa)
	if rec, err := f.store.Card(ctx, view.Token); err != nil || rec.KeyVersion != 2 {
		t.Fatalf("card vaulted after the rotation: key version %d, %v", rec.KeyVersion, err)
	}
}

func TestRotateKeysOfAMerchantWithoutKeys(t *testing.T) {
	f := newFixture(t)
	status, _, err := f.keyLife.RotateKeys(ctx, f.caller("m1"))
	if err != nil {
		t.Fatal(err)
	}
	if status.PrimaryVersion != 1 || status.Rotation.Running || len(status.Versions) != 1 {
		t.Fatalf("first rotation = %+v, want version 1 and nothing to move", status)
	}
	if len(f.actions()) != 0 {
		t.Fatalf("audit events for a first key: %v", f.actions())
	}
}

func TestRotateKeysGoesOnWhenBackgroundWorkCannotStart(t *testing.T) {
	f := newFixture(t)
	f.vault("m1", "cus_1", visa)
	f.work.Run = func(context.Context, vault.WorkRequest) error { return errors.New("bus unreachable") }
	status, _, err := f.keyLife.RotateKeys(ctx, f.caller("m1"))
	if err != nil || !status.Rotation.Running {
		t.Fatalf("rotate_keys = %+v, %v; want the rotation recorded for the schedule to resume", status, err)
	}
}

func TestKeyOperationRefusals(t *testing.T) {
	ops := map[string]func(f *fixture, c vault.Caller) error{
		"rotate_keys": func(f *fixture, c vault.Caller) error {
			_, _, err := f.keyLife.RotateKeys(ctx, c)
			return err
		},
		"get_keys": func(f *fixture, c vault.Caller) error {
			_, _, err := f.keyLife.GetKeys(ctx, c)
			return err
		},
		"shred_merchant": func(f *fixture, c vault.Caller) error {
			_, err := f.keyLife.ShredMerchant(ctx, c)
			return err
		},
	}
	for name, op := range ops {
		t.Run(name+"/shredded merchant", func(t *testing.T) {
			f := newFixture(t)
			f.vault("m1", "cus_1", visa)
			if _, err := f.keyLife.ShredMerchant(ctx, f.caller("m1")); err != nil {
				t.Fatal(err)
			}
			c := f.caller("m1")
			wantCode(t, op(f, c), vaulterr.NotFound)
			f.unspent(c)
		})
		t.Run(name+"/replayed", func(t *testing.T) {
			f := newFixture(t)
			f.vault("m1", "cus_1", visa)
			c := f.caller("m1")
			if err := f.store.Consume(ctx, c.ClientID, c.JTI, f.clock.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			wantCode(t, op(f, c), vaulterr.Replayed)
			if got := f.versions("m1"); !slices.Equal(got, []uint32{1}) {
				t.Fatalf("a replayed request changed the keys: %v", got)
			}
			if shredded, _ := f.store.Shredded(ctx, "m1"); shredded {
				t.Fatal("a replayed request shredded the merchant")
			}
		})
	}
}

func TestGetKeys(t *testing.T) {
	f := newFixture(t)
	f.vault("m1", "cus_1", visa)
	status, trace, err := f.keyLife.GetKeys(ctx, f.caller("m1"))
	if err != nil {
		t.Fatal(err)
	}
	if status.PrimaryVersion != 1 || trace.KeyVersion != 1 || len(status.Versions) != 1 || status.Versions[0].Records != 1 || status.Rotation.Running {
		t.Fatalf("get_keys = %+v", status)
	}
}

func TestShredMerchant(t *testing.T) {
	f := newFixture(t)
	card := f.vault("m1", "cus_1", visa)
	f.vault("m1", "cus_2", mastercard)
	f.put("m1", "s", "v")
	other := f.vault("m2", "cus_1", visa)
	if _, err := f.keyLife.ShredMerchant(ctx, f.caller("m1")); err != nil {
		t.Fatal(err)
	}
	if got := f.versions("m1"); len(got) != 0 {
		t.Fatalf("key versions left after the shred: %v", got)
	}
	if got := f.work.Started(); len(got) != 1 || got[0] != (vault.WorkRequest{Action: vault.ActionPurgeMerchant, MerchantID: "m1"}) {
		t.Fatalf("background work started: %+v", got)
	}
	// Nothing of the merchant can be read, even with the records still
	// in the table...
	_, _, err := f.cards.RevealCard(ctx, f.caller("m1"), card.Token)
	wantCode(t, err, vaulterr.NotFound)
	_, _, err = f.cards.VaultCard(ctx, f.cardInput("m1", "cus_1", visa))
	wantCode(t, err, vaulterr.NotFound)
	// ...and the purge removes them.
	n, err := f.keyLife.PurgeMerchant(ctx, "m1")
	if err != nil || n != 3 || f.records("m1") != 0 {
		t.Fatalf("purge = %d, %v; %d records left", n, err, f.records("m1"))
	}
	if got := f.actions(); !slices.Equal(got, []string{audit.ActionMerchantShredded, audit.ActionRecordsPurged}) {
		t.Fatalf("audit events: %v", got)
	}
	if n, err := f.keyLife.PurgeMerchant(ctx, "m1"); err != nil || n != 0 {
		t.Fatalf("second purge = %d, %v", n, err)
	}
	// Another merchant is untouched, and is not purged.
	if _, _, err := f.cards.RevealCard(ctx, f.caller("m2"), other.Token); err != nil {
		t.Fatal(err)
	}
	if n, err := f.keyLife.PurgeMerchant(ctx, "m2"); err != nil || n != 0 {
		t.Fatalf("purge of a live merchant = %d, %v", n, err)
	}
}

// vaultMany vaults n cards and two secret versions for m.
func (f *fixture) vaultMany(m string, n int) []vault.CardView {
	var views []vault.CardView
	for i := range n {
		views = append(views, f.vault(m, "cus_"+string(rune('a'+i)), visa))
	}
	f.put(m, "s", "first value")
	f.put(m, "s", "second value")
	return views
}

func TestContinueRotationMovesEveryRecord(t *testing.T) {
	f := newFixture(t)
	views := f.vaultMany("m1", 7)
	if _, _, err := f.keyLife.RotateKeys(ctx, f.caller("m1")); err != nil {
		t.Fatal(err)
	}
	done, err := f.keyLife.ContinueRotation(ctx, "m1")
	if err != nil || !done {
		t.Fatalf("ContinueRotation = %v, %v", done, err)
	}
	if n1, n2 := f.count("m1", 1), f.count("m1", 2); n1 != 0 || n2 != 9 {
		t.Fatalf("records by key version after the rotation: %d at 1, %d at 2", n1, n2)
	}
	if got := f.versions("m1"); !slices.Equal(got, []uint32{2}) {
		t.Fatalf("key versions after the rotation: %v, want the old one destroyed", got)
	}
	status, err := f.keyLife.Status(ctx, "m1")
	if err != nil || status.Rotation.Running || status.Rotation.Reencrypted != 9 {
		t.Fatalf("status after the rotation = %+v, %v", status, err)
	}
	acts := f.actions()
	for _, want := range []string{audit.ActionRotationStarted, audit.ActionRotationPage, audit.ActionKeyVersionDestroyed, audit.ActionRotationFinished} {
		if !slices.Contains(acts, want) {
			t.Fatalf("audit events %v lack %s", acts, want)
		}
	}
	f.rebuild(f.store)
	for _, v := range views {
		got, trace, err := f.cards.RevealCard(ctx, f.caller("m1"), v.Token)
		if err != nil || got.Number.Reveal() != visa || trace.KeyVersion != 2 {
			t.Fatalf("reveal after the rotation: %+v, %v", trace, err)
		}
	}
	if got, _, err := f.secrets.RevealSecret(ctx, f.caller("m1"), "s"); err != nil || got.Value.Reveal() != "second value" {
		t.Fatalf("secret after the rotation: %v", err)
	}
	// Nothing left to do.
	if done, err := f.keyLife.ContinueRotation(ctx, "m1"); err != nil || !done {
		t.Fatalf("ContinueRotation with no rotation running = %v, %v", done, err)
	}
}

func TestContinueRotationFollowsANewerRotation(t *testing.T) {
	f := newFixture(t)
	f.vaultMany("m1", 2)
	for range 2 {
		if _, _, err := f.keyLife.RotateKeys(ctx, f.caller("m1")); err != nil {
			t.Fatal(err)
		}
	}
	done, err := f.keyLife.ContinueRotation(ctx, "m1")
	if err != nil || !done {
		t.Fatalf("ContinueRotation = %v, %v", done, err)
	}
	if got := f.versions("m1"); !slices.Equal(got, []uint32{3}) {
		t.Fatalf("key versions: %v, want only the newest", got)
	}
	if f.count("m1", 3) != 4 {
		t.Fatalf("%d records at version 3, want 4", f.count("m1", 3))
	}
}

// TestRotationKeepsATamperedRecordsVersion: a record that fails
// authentication stays on its version, which is then never destroyed.
func TestRotationKeepsATamperedRecordsVersion(t *testing.T) {
	f := newFixture(t)
	views := f.vaultMany("m1", 3)
	rec, err := f.store.Card(ctx, views[0].Token)
	if err != nil {
		t.Fatal(err)
	}
	other, err := f.store.Card(ctx, views[1].Token)
	if err != nil {
		t.Fatal(err)
	}
	rec.Sealed = other.Sealed
	if err := f.store.ReplaceCard(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.keyLife.RotateKeys(ctx, f.caller("m1")); err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	done, err := f.keyLife.ContinueRotation(c, "m1")
	// Cut off at its deadline, the rotation stops between pages (no
	// error) or inside a key lookup (an error after the deadline).
	if done || (err != nil && c.Err() == nil) {
		t.Fatalf("ContinueRotation = %v, %v; want it to keep trying until its deadline", done, err)
	}
	if got := f.versions("m1"); !slices.Equal(got, []uint32{1, 2}) {
		t.Fatalf("key versions: %v, want version 1 kept for the tampered record", got)
	}
	if f.count("m1", 1) != 1 {
		t.Fatalf("%d records at version 1, want the tampered one only", f.count("m1", 1))
	}
}

// TestRevealOfARecordResealedMeanwhile reads a card, lets a rotation move
// it to the new version, then opens what was read: the old version stays
// until every process can have stopped using it, so the reveal succeeds.
func TestRevealOfARecordResealedMeanwhile(t *testing.T) {
	f := newFixture(t)
	// Caches that live for an hour: the rotation's first pass moves every
	// record, then it must wait an hour before it may destroy version 1,
	// and its deadline stops it there.
	f.rebuildCaches(f.store, f.store, time.Hour, time.Hour)
	views := f.vaultMany("m1", 4)
	if _, _, err := f.keyLife.RotateKeys(ctx, f.caller("m1")); err != nil {
		t.Fatal(err)
	}
	reseal := once(func() {
		c, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if done, err := f.keyLife.ContinueRotation(c, "m1"); err != nil || done {
			t.Errorf("ContinueRotation = %v, %v; want the first pass only", done, err)
		}
	})
	f.cards = vault.NewCardVault(&resealAfterRead{CardStore: f.store, after: reseal}, f.store, f.store, f.keys, f.clock.Now)
	got, trace, err := f.cards.RevealCard(ctx, f.caller("m1"), views[0].Token)
	if err != nil || got.Number.Reveal() != visa || trace.KeyVersion != 1 {
		t.Fatalf("reveal of a record resealed under it = %+v, %v", trace, err)
	}
	if rec, _ := f.store.Card(ctx, views[0].Token); rec.KeyVersion != 2 {
		t.Fatalf("the record was not resealed meanwhile (key version %d)", rec.KeyVersion)
	}
}

// TestRevealsDuringRotation reveals every card over and over while a
// rotation moves them and destroys the old version: every reveal
// succeeds.
func TestRevealsDuringRotation(t *testing.T) {
	f := newFixture(t)
	// A reveal that read a record just before its reseal must then get
	// the old key before it is destroyed: cache lifetimes far above any
	// scheduling stall keep this test about the vault, not the machine.
	f.rebuildCaches(f.store, f.store, 300*time.Millisecond, 100*time.Millisecond)
	views := f.vaultMany("m1", 4)
	if _, _, err := f.keyLife.RotateKeys(ctx, f.caller("m1")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 1)
	reveals := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, v := range views {
				if _, _, err := f.cards.RevealCard(ctx, f.caller("m1"), v.Token); err != nil {
					errs <- err
					return
				}
				reveals++
			}
		}
	}()
	done, err := f.keyLife.ContinueRotation(ctx, "m1")
	close(stop)
	wg.Wait()
	if err != nil || !done {
		t.Fatalf("ContinueRotation = %v, %v", done, err)
	}
	select {
	case err := <-errs:
		t.Fatalf("a reveal during the rotation failed: %v", err)
	default:
	}
	if reveals == 0 {
		t.Fatal("no reveal ran during the rotation")
	}
}

// resealAfterRead runs after once the operation has read a card.
type resealAfterRead struct {
	vault.CardStore
	after func()
}

func (r *resealAfterRead) Card(ctx context.Context, token string) (vault.CardRecord, error) {
	rec, err := r.CardStore.Card(ctx, token)
	r.after()
	return rec, err
}

// TestVaultDuringRotation: a card vaulted again while its record is being
// moved ends up sealed once, readable, under one token.
func TestVaultDuringRotation(t *testing.T) {
	f := newFixture(t)
	views := f.vaultMany("m1", 6)
	if _, _, err := f.keyLife.RotateKeys(ctx, f.caller("m1")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	var again []vault.CardView
	go func() {
		defer wg.Done()
		for i := range views {
			again = append(again, f.vault("m1", "cus_"+string(rune('a'+i)), visa))
		}
	}()
	done, err := f.keyLife.ContinueRotation(ctx, "m1")
	wg.Wait()
	if err != nil || !done {
		t.Fatalf("ContinueRotation = %v, %v", done, err)
	}
	for i, v := range again {
		if v.Token != views[i].Token {
			t.Fatalf("card %d got a new token during the rotation", i)
		}
		if _, _, err := f.cards.RevealCard(ctx, f.caller("m1"), v.Token); err != nil {
			t.Fatal(err)
		}
	}
	if f.count("m1", 1) != 0 {
		t.Fatal("records left at version 1 after the rotation finished")
	}
}

func TestRunWork(t *testing.T) {
	t.Run("rotate-due forced", func(t *testing.T) {
		f := newFixture(t)
		f.vault("m1", "cus_1", visa)
		f.vault("m2", "cus_1", visa)
		res, err := f.keyLife.RunWork(ctx, vault.WorkRequest{Action: vault.ActionRotateDue, Force: true})
		if err != nil || res.Merchants != 2 || res.Rotated != 2 || !res.Done {
			t.Fatalf("RunWork = %+v, %v", res, err)
		}
		if len(f.work.Started()) != 2 {
			t.Fatalf("work started: %+v, want a continue-rotation per merchant", f.work.Started())
		}
	})
	t.Run("rotate-due by age", func(t *testing.T) {
		f := newFixture(t)
		f.vault("m1", "cus_1", visa)
		res, err := f.keyLife.RunWork(ctx, vault.WorkRequest{Action: vault.ActionRotateDue, MaxAgeDays: 30})
		if err != nil || res.Rotated != 0 {
			t.Fatalf("RunWork before the key is due = %+v, %v", res, err)
		}
		f.clock.Advance(31 * 24 * time.Hour)
		res, err = f.keyLife.RunWork(ctx, vault.WorkRequest{Action: vault.ActionRotateDue, MaxAgeDays: 30})
		if err != nil || res.Rotated != 1 {
			t.Fatalf("RunWork once the key is due = %+v, %v", res, err)
		}
		// A running rotation is resumed, not restarted.
		res, err = f.keyLife.RunWork(ctx, vault.WorkRequest{Action: vault.ActionRotateDue, MaxAgeDays: 30})
		if err != nil || res.Rotated != 0 || len(f.work.Started()) != 2 {
			t.Fatalf("RunWork during a rotation = %+v, %v; work %+v", res, err, f.work.Started())
		}
	})
	t.Run("rotate-due by records", func(t *testing.T) {
		f := newFixture(t)
		f.vault("m1", "cus_1", visa)
		f.vault("m1", "cus_2", visa)
		f.vault("m2", "cus_1", visa)
		res, err := f.keyLife.RunWork(ctx, vault.WorkRequest{Action: vault.ActionRotateDue, MaxRecords: 1})
		if err != nil || res.Merchants != 2 || res.Rotated != 1 {
			t.Fatalf("RunWork = %+v, %v; want m1 (2 records) rotated only", res, err)
		}
	})
	t.Run("rotate-due purges shredded merchants", func(t *testing.T) {
		f := newFixture(t)
		f.vault("m1", "cus_1", visa)
		if _, err := f.keyLife.ShredMerchant(ctx, f.caller("m1")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.keyLife.RunWork(ctx, vault.WorkRequest{Action: vault.ActionRotateDue, Force: true}); err != nil {
			t.Fatal(err)
		}
		got := f.work.Started()
		if len(got) != 2 || got[1] != (vault.WorkRequest{Action: vault.ActionPurgeMerchant, MerchantID: "m1"}) {
			t.Fatalf("work started: %+v", got)
		}
	})
	t.Run("rewrap only", func(t *testing.T) {
		f := newFixture(t)
		f.vault("m1", "cus_1", visa)
		res, err := f.keyLife.RunWork(ctx, vault.WorkRequest{Action: vault.ActionReWrap})
		if err != nil || res.Merchants != 1 || res.Rotated != 0 || res.ReWrapped != 0 || !res.Done {
			t.Fatalf("RunWork = %+v, %v", res, err)
		}
	})
	t.Run("continue-rotation and purge-merchant", func(t *testing.T) {
		f := newFixture(t)
		f.vaultMany("m1", 2)
		if _, _, err := f.keyLife.RotateKeys(ctx, f.caller("m1")); err != nil {
			t.Fatal(err)
		}
		res, err := f.keyLife.RunWork(ctx, vault.WorkRequest{Action: vault.ActionContinueRotation, MerchantID: "m1"})
		if err != nil || !res.Done || res.Merchants != 1 {
			t.Fatalf("continue-rotation = %+v, %v", res, err)
		}
		if _, err := f.keyLife.ShredMerchant(ctx, f.caller("m1")); err != nil {
			t.Fatal(err)
		}
		res, err = f.keyLife.RunWork(ctx, vault.WorkRequest{Action: vault.ActionPurgeMerchant, MerchantID: "m1"})
		if err != nil || !res.Done || res.Purged != 4 {
			t.Fatalf("purge-merchant = %+v, %v", res, err)
		}
	})
	t.Run("work cut off by its deadline is handed on", func(t *testing.T) {
		f := newFixture(t)
		// Keys stay cached: past the deadline only the cache answers.
		f.rebuildCaches(f.store, f.store, time.Hour, time.Hour)
		f.vaultMany("m1", 2)
		if _, _, err := f.keyLife.RotateKeys(ctx, f.caller("m1")); err != nil {
			t.Fatal(err)
		}
		// The deadline leaves no time past withMargin's margin: nothing
		// is done, and the rest is started again in the background.
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		res, err := f.keyLife.RunWork(c, vault.WorkRequest{Action: vault.ActionContinueRotation, MerchantID: "m1"})
		if err != nil || res.Done {
			t.Fatalf("RunWork = %+v, %v; want it not done", res, err)
		}
		got := f.work.Started()
		if len(got) != 2 || got[1] != (vault.WorkRequest{Action: vault.ActionContinueRotation, MerchantID: "m1"}) {
			t.Fatalf("work started: %+v, want the rotation handed on", got)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		f := newFixture(t)
		for _, req := range []vault.WorkRequest{
			{Action: vault.ActionContinueRotation},
			{Action: vault.ActionPurgeMerchant},
			{Action: "compact"},
		} {
			if _, err := f.keyLife.RunWork(ctx, req); err == nil {
				t.Errorf("RunWork(%+v) succeeded", req)
			}
		}
	})
}

// TestScheduleGoesOnPastAFailingMerchant: one merchant's failure leaves
// the run not done and fails it (so the function's error alarm fires),
// but does not stop the others' rotation.
func TestScheduleGoesOnPastAFailingMerchant(t *testing.T) {
	f := newFixture(t)
	f.vault("m1", "cus_1", visa)
	f.vault("m2", "cus_1", visa)
	failing := &failingRotation{RotationStore: f.store, merchant: "m1"}
	f.keyLife = vault.NewKeyLifecycle(f.keys, f.life, f.store, failing, f.store, f.work, f.audit, f.clock.Now, vault.LifecycleOptions{Logger: quiet})
	res, err := f.keyLife.RunWork(ctx, vault.WorkRequest{Action: vault.ActionRotateDue, Force: true})
	if err == nil || !strings.Contains(err.Error(), "1 of 2 merchants") || res.Done || res.Rotated != 1 {
		t.Fatalf("RunWork = %+v, %v; want m2 rotated, the run not done and failed for 1 of 2 merchants", res, err)
	}
}

type failingRotation struct {
	vault.RotationStore
	merchant string
}

func (r *failingRotation) RotationState(ctx context.Context, merchantID string) (vault.RotationState, error) {
	if merchantID == r.merchant {
		return vault.RotationState{}, errStorage
	}
	return r.RotationStore.RotationState(ctx, merchantID)
}

// TestBackgroundAuditFailureIsNotTheWorksFailure: the work is
// checkpointed and repeatable, so an audit event that cannot be recorded
// is logged, and the work goes on.
func TestBackgroundAuditFailureIsNotTheWorksFailure(t *testing.T) {
	f := newFixture(t)
	f.vaultMany("m1", 2)
	f.audit.Fail(errors.New("bus unreachable"))
	if _, _, err := f.keyLife.RotateKeys(ctx, f.caller("m1")); err != nil {
		t.Fatal(err)
	}
	if done, err := f.keyLife.ContinueRotation(ctx, "m1"); err != nil || !done {
		t.Fatalf("ContinueRotation = %v, %v", done, err)
	}
}

// notYetShredded answers as if the merchant's shred had not landed yet:
// the shred races the request's check.
type notYetShredded struct{}

func (notYetShredded) Shredded(context.Context, string) (bool, error) { return false, nil }

// TestShredRacingARequest: a merchant shredded after the request checked
// it still gets no key: the key store refuses, and the request answers
// not_found.
func TestShredRacingARequest(t *testing.T) {
	f := newFixture(t)
	f.vault("m1", "cus_1", visa)
	if _, err := f.keyLife.ShredMerchant(ctx, f.caller("m1")); err != nil {
		t.Fatal(err)
	}
	cards := vault.NewCardVault(f.store, f.store, notYetShredded{}, f.keys, f.clock.Now)
	_, _, err := cards.VaultCard(ctx, f.cardInput("m1", "cus_2", visa))
	wantCode(t, err, vaulterr.NotFound)
	secrets := vault.NewSecretVault(f.store, f.store, notYetShredded{}, f.keys, f.clock.Now)
	_, _, err = secrets.PutSecret(ctx, vault.PutSecretInput{Caller: f.caller("m1"), Name: "s", Value: secret.New("v")})
	wantCode(t, err, vaulterr.NotFound)
	if n := f.records("m1"); n != 1 {
		t.Fatalf("%d records: a request racing the shred stored something", n)
	}
}

// TestRotationWhoseTargetIsGone: a rotation whose target version no
// longer exists (the merchant was shredded meanwhile) is ended.
func TestRotationWhoseTargetIsGone(t *testing.T) {
	f := newFixture(t)
	f.vaultMany("m1", 2)
	if _, _, err := f.keyLife.RotateKeys(ctx, f.caller("m1")); err != nil {
		t.Fatal(err)
	}
	if err := f.store.DestroyKey(ctx, "m1", 2); err != nil {
		t.Fatal(err)
	}
	f.rebuild(f.store)
	if done, err := f.keyLife.ContinueRotation(ctx, "m1"); err != nil || !done {
		t.Fatalf("ContinueRotation = %v, %v", done, err)
	}
	if st, err := f.store.RotationState(ctx, "m1"); err != nil || st.Running {
		t.Fatalf("rotation state = %+v, %v; want it ended", st, err)
	}
}
