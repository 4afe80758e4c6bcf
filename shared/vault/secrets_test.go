package vault_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

func TestPutSecretVersions(t *testing.T) {
	f := newFixture(t)
	first, trace, err := f.secrets.PutSecret(ctx, vault.PutSecretInput{Caller: f.caller("m1"), Name: "stripe.api-key",
		Value: secret.New("sk_test_0123456789abcd"), Metadata: map[string]string{"env": "test"}})
	if err != nil {
		t.Fatal(err)
	}
	if !first.Created || first.Version != 1 || first.Masked != "****abcd" || first.Metadata["env"] != "test" || trace.KeyVersion != 1 {
		t.Fatalf("first put = %+v (trace %+v)", first, trace)
	}
	f.clock.Advance(time.Minute)
	second := f.put("m1", "stripe.api-key", "short")
	if second.Created || second.Version != 2 || second.Masked != "****" || !second.CreatedAt.Equal(first.CreatedAt) || !second.UpdatedAt.After(first.UpdatedAt) {
		t.Fatalf("second put = %+v, first %+v", second, first)
	}
	// Only the latest two versions are kept.
	third := f.put("m1", "stripe.api-key", "third value")
	if third.Version != 3 {
		t.Fatalf("third put = %+v", third)
	}
	recs, _, err := f.store.RecordsOf(ctx, "m1", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, r := range recs {
		kept = append(kept, r.Ref.ID)
	}
	if strings.Join(kept, ",") != "stripe.api-key/2,stripe.api-key/3" {
		t.Fatalf("versions kept after three puts: %v", kept)
	}
	got, _, err := f.secrets.RevealSecret(ctx, f.caller("m1"), "stripe.api-key")
	if err != nil || got.Value.Reveal() != "third value" || got.Version != 3 || got.Name != "stripe.api-key" || got.MerchantID != "m1" {
		t.Fatalf("reveal of the latest = %+v, %v", got, err)
	}
}

func TestPutSecretRefusals(t *testing.T) {
	manyEntries := map[string]string{}
	for i := range vault.MaxMetadataEntries + 1 {
		manyEntries["k"+strconv.Itoa(i)] = "v"
	}
	tests := []struct {
		name     string
		secret   string
		value    string
		metadata map[string]string
		shred    bool
		code     vaulterr.Code
	}{
		{name: "empty name", secret: "", value: "v", code: vaulterr.InvalidSecret},
		{name: "name with a slash", secret: "a/b", value: "v", code: vaulterr.InvalidSecret},
		{name: "name too long", secret: strings.Repeat("a", 129), value: "v", code: vaulterr.InvalidSecret},
		{name: "empty value", secret: "s", value: "", code: vaulterr.InvalidSecret},
		{name: "value over 32 KiB", secret: "s", value: strings.Repeat("v", vault.MaxSecretValueBytes+1), code: vaulterr.InvalidSecret},
		{name: "value not UTF-8", secret: "s", value: "\xff\xfe", code: vaulterr.InvalidSecret},
		{name: "too many metadata entries", secret: "s", value: "v", metadata: manyEntries, code: vaulterr.InvalidSecret},
		{name: "empty metadata key", secret: "s", value: "v", metadata: map[string]string{"": "v"}, code: vaulterr.InvalidSecret},
		{name: "metadata key too long", secret: "s", value: "v", metadata: map[string]string{strings.Repeat("k", 129): "v"}, code: vaulterr.InvalidSecret},
		{name: "metadata value too long", secret: "s", value: "v", metadata: map[string]string{"k": strings.Repeat("v", 1025)}, code: vaulterr.InvalidSecret},
		{name: "shredded merchant", secret: "s", value: "v", shred: true, code: vaulterr.NotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.shred {
				if err := f.store.MarkShredded(ctx, "m1", f.clock.Now()); err != nil {
					t.Fatal(err)
				}
			}
			in := vault.PutSecretInput{Caller: f.caller("m1"), Name: tc.secret, Value: secret.New(tc.value), Metadata: tc.metadata}
			_, _, err := f.secrets.PutSecret(ctx, in)
			wantCode(t, err, tc.code)
			if n := f.records("m1"); n != 0 {
				t.Fatalf("a refused put stored %d records", n)
			}
			f.unspent(in.Caller)
		})
	}
	t.Run("replayed", func(t *testing.T) {
		f := newFixture(t)
		in := vault.PutSecretInput{Caller: f.caller("m1"), Name: "s", Value: secret.New("first")}
		if _, _, err := f.secrets.PutSecret(ctx, in); err != nil {
			t.Fatal(err)
		}
		in.Value = secret.New("second")
		_, _, err := f.secrets.PutSecret(ctx, in)
		wantCode(t, err, vaulterr.Replayed)
		if got, _, err := f.secrets.RevealSecret(ctx, f.caller("m1"), "s"); err != nil || got.Value.Reveal() != "first" {
			t.Fatalf("after a replayed put: %+v, %v", got, err)
		}
	})
	t.Run("limits are inclusive", func(t *testing.T) {
		f := newFixture(t)
		meta := map[string]string{strings.Repeat("k", vault.MaxMetadataKeyLen): strings.Repeat("v", vault.MaxMetadataValueLen)}
		in := vault.PutSecretInput{Caller: f.caller("m1"), Name: strings.Repeat("n", 128), Value: secret.New(strings.Repeat("v", vault.MaxSecretValueBytes)), Metadata: meta}
		if _, _, err := f.secrets.PutSecret(ctx, in); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPutSecretConcurrent puts one secret from many requests at once:
// each gets its own version, the versions are 1 to n, and the put that
// answered n is the one served. A put may read "no version yet" and lose
// the CPU while the others write and prune; the tombstones of pruned
// versions keep it from recreating one (docs/table.md, "Secret versions").
func TestPutSecretConcurrent(t *testing.T) {
	f := newFixture(t)
	const n = 12
	var wg sync.WaitGroup
	versions := make([]uint32, n)
	errs := make([]error, n)
	inputs := make([]vault.PutSecretInput, n)
	for i := range inputs {
		inputs[i] = vault.PutSecretInput{Caller: f.caller("m1"), Name: "s", Value: secret.New("value " + strconv.Itoa(i))}
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var view vault.SecretView
			view, _, errs[i] = f.secrets.PutSecret(ctx, inputs[i])
			versions[i] = view.Version
		}()
	}
	wg.Wait()
	seen := map[uint32]bool{}
	last := -1
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if seen[versions[i]] || versions[i] < 1 || versions[i] > n {
			t.Fatalf("put %d got version %d (all %v)", i, versions[i], versions)
		}
		seen[versions[i]] = true
		if versions[i] == n {
			last = i
		}
	}
	latest, err := f.store.LatestSecret(ctx, "m1", "s")
	if err != nil || latest.Version != n {
		t.Fatalf("latest = %+v, %v; want version %d", latest, err, n)
	}
	revealed, _, err := f.secrets.RevealSecret(ctx, f.caller("m1"), "s")
	if err != nil || revealed.Value.Reveal() != inputs[last].Value.Reveal() {
		t.Fatalf("reveal after the puts: version %d, %v; want put %d's value", revealed.Version, err, last)
	}
	if got := f.records("m1"); got != vault.KeptSecretVersions {
		t.Fatalf("%d versions kept after %d puts, want %d", got, n, vault.KeptSecretVersions)
	}
}

// secretStore wraps the fixture's store, letting a test change what one
// call answers.
type secretStore struct {
	vault.SecretStore
	onCreate func(err error) error
	onDelete func(err error) error
}

func (s *secretStore) CreateSecretVersion(ctx context.Context, rec vault.SecretRecord) error {
	err := s.SecretStore.CreateSecretVersion(ctx, rec)
	if s.onCreate != nil {
		return s.onCreate(err)
	}
	return err
}

func (s *secretStore) DeleteSecret(ctx context.Context, merchantID, name string) error {
	err := s.SecretStore.DeleteSecret(ctx, merchantID, name)
	if s.onDelete != nil {
		return s.onDelete(err)
	}
	return err
}

func TestPutSecretStoreOutcomes(t *testing.T) {
	t.Run("version keeps being taken", func(t *testing.T) {
		f := newFixture(t)
		f.rebuildWith(f.store, &secretStore{SecretStore: f.store, onCreate: func(error) error { return vault.ErrConflict }})
		_, _, err := f.secrets.PutSecret(ctx, vault.PutSecretInput{Caller: f.caller("m1"), Name: "s", Value: secret.New("v")})
		wantCode(t, err, vaulterr.Unavailable)
	})
	t.Run("storage fails", func(t *testing.T) {
		f := newFixture(t)
		f.rebuildWith(f.store, &secretStore{SecretStore: f.store, onCreate: func(error) error { return errStorage }})
		_, _, err := f.secrets.PutSecret(ctx, vault.PutSecretInput{Caller: f.caller("m1"), Name: "s", Value: secret.New("v")})
		if !errors.Is(err, errStorage) {
			t.Fatalf("err = %v, want the store's", err)
		}
	})
}

func TestGetAndDeleteSecret(t *testing.T) {
	f := newFixture(t)
	put := f.put("m1", "s", "a value of some length")
	got, trace, err := f.meta.GetSecret(ctx, f.caller("m1"), "s")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != put.Version || got.Masked != "****ngth" || got.Created || trace.KeyVersion != 1 {
		t.Fatalf("GetSecret = %+v (trace %+v)", got, trace)
	}
	f.put("m1", "s", "second")
	if _, err := f.meta.DeleteSecret(ctx, f.caller("m1"), "s"); err != nil {
		t.Fatal(err)
	}
	if n := f.records("m1"); n != 0 {
		t.Fatalf("%d versions left after delete_secret", n)
	}
	_, _, err = f.meta.GetSecret(ctx, f.caller("m1"), "s")
	wantCode(t, err, vaulterr.NotFound)
	_, err = f.meta.DeleteSecret(ctx, f.caller("m1"), "s")
	wantCode(t, err, vaulterr.NotFound)
}

func TestDeleteSecretLosesToAConcurrentDelete(t *testing.T) {
	f := newFixture(t)
	f.put("m1", "s", "v")
	f.rebuildWith(f.store, &secretStore{SecretStore: f.store, onDelete: func(error) error { return vault.ErrNotFound }})
	_, err := f.meta.DeleteSecret(ctx, f.caller("m1"), "s")
	wantCode(t, err, vaulterr.NotFound)
}

// TestSecretReadRefusals covers what reveal_secret, get_secret and
// delete_secret refuse alike, changing nothing.
func TestSecretReadRefusals(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *fixture) (name, merchant string)
	}{
		{"invalid name", func(*fixture) (string, string) { return "a/b", "m1" }},
		{"unknown name", func(*fixture) (string, string) { return "other", "m1" }},
		{"another merchant's secret", func(*fixture) (string, string) { return "s", "m2" }},
		{"shredded merchant", func(f *fixture) (string, string) {
			if _, err := f.keyLife.ShredMerchant(ctx, f.caller("m1")); err != nil {
				f.t.Fatal(err)
			}
			return "s", "m1"
		}},
	}
	ops := map[string]func(f *fixture, c vault.Caller, name string) error{
		"reveal_secret": func(f *fixture, c vault.Caller, name string) error {
			_, _, err := f.secrets.RevealSecret(ctx, c, name)
			return err
		},
		"get_secret": func(f *fixture, c vault.Caller, name string) error {
			_, _, err := f.meta.GetSecret(ctx, c, name)
			return err
		},
		"delete_secret": func(f *fixture, c vault.Caller, name string) error {
			_, err := f.meta.DeleteSecret(ctx, c, name)
			return err
		},
	}
	for opName, op := range ops {
		for _, tc := range tests {
			t.Run(opName+"/"+tc.name, func(t *testing.T) {
				f := newFixture(t)
				f.put("m1", "s", "v")
				name, merchant := tc.setup(f)
				c := f.caller(merchant)
				wantCode(t, op(f, c, name), vaulterr.NotFound)
				f.unspent(c)
			})
		}
		t.Run(opName+"/replayed", func(t *testing.T) {
			f := newFixture(t)
			f.put("m1", "s", "v")
			c := f.caller("m1")
			if err := f.store.Consume(ctx, c.ClientID, c.JTI, f.clock.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			wantCode(t, op(f, c, "s"), vaulterr.Replayed)
			if n := f.records("m1"); n != 1 {
				t.Fatalf("a replayed request changed the secret: %d versions", n)
			}
		})
	}
}

func TestRevealSecretIntegrity(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(f *fixture, rec *vault.SecretRecord)
		code   vaulterr.Code
	}{
		{"ciphertext of another secret", func(f *fixture, rec *vault.SecretRecord) {
			other, err := f.store.LatestSecret(ctx, "m1", "other")
			if err != nil {
				f.t.Fatal(err)
			}
			rec.Sealed = other.Sealed
		}, vaulterr.Integrity},
		{"key version that is not the ciphertext's", func(_ *fixture, rec *vault.SecretRecord) { rec.KeyVersion = 7 }, vaulterr.Integrity},
		{"garbage", func(_ *fixture, rec *vault.SecretRecord) { rec.Sealed = []byte("garbage") }, vaulterr.Integrity},
		{"key version destroyed", func(f *fixture, _ *vault.SecretRecord) {
			if err := f.store.DestroyKey(ctx, "m1", 1); err != nil {
				f.t.Fatal(err)
			}
		}, vaulterr.NotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.put("m1", "s", "the value")
			f.put("m1", "other", "another value")
			rec, err := f.store.LatestSecret(ctx, "m1", "s")
			if err != nil {
				t.Fatal(err)
			}
			tc.tamper(f, &rec)
			// Stored as a newer version, which is what reveal reads.
			rec.Version++
			if err := f.store.CreateSecretVersion(ctx, rec); err != nil {
				t.Fatal(err)
			}
			f.rebuild(f.store)
			got, _, err := f.secrets.RevealSecret(ctx, f.caller("m1"), "s")
			wantCode(t, err, tc.code)
			if got.Value.Reveal() != "" {
				t.Fatal("a refused reveal returned a value")
			}
		})
	}
}

func TestMaskSecret(t *testing.T) {
	for value, want := range map[string]string{
		"":                   "****",
		"short":              "****",
		"elevenchars":        "****",
		"twelve chars":       "****hars",
		"sk_live_abcdef1234": "****1234",
		"ünïcödé-välüé":      "****älüé",
	} {
		if got := vault.MaskSecret(value); got != want {
			t.Errorf("MaskSecret(%q) = %q, want %q", value, got, want)
		}
	}
}

func TestValidSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"a": true, "stripe.api-key_2": true, strings.Repeat("a", 128): true,
		"": false, strings.Repeat("a", 129): false, "a/b": false, "a b": false, "é": false, "a#b": false,
	} {
		if got := vault.ValidSecretName(name); got != want {
			t.Errorf("ValidSecretName(%q) = %v, want %v", name, got, want)
		}
	}
	if got := vault.SecretRecordID("s", 12); got != "s/12" {
		t.Errorf("SecretRecordID = %q", got)
	}
}

// holdingSecrets holds the first create of a put marked "stale" in its
// metadata until release is closed, signalling held once it waits: the
// put has read the latest version and sealed, and is about to write.
type holdingSecrets struct {
	vault.SecretStore
	once    sync.Once
	held    chan struct{}
	release chan struct{}
}

func (s *holdingSecrets) CreateSecretVersion(ctx context.Context, rec vault.SecretRecord) error {
	if rec.Metadata["put"] == "stale" {
		s.once.Do(func() {
			close(s.held)
			<-s.release
		})
	}
	return s.SecretStore.CreateSecretVersion(ctx, rec)
}

// TestPutSecretAfterAPruneOfItsVersion replays the race a pruned version's
// number invites: a put reads "no version yet" and is held before its
// write while three other puts write versions 1 to 3, the third pruning
// version 1. The held put must not recreate version 1 (an answer never
// served, since 3 is the latest): it must write the next version and be
// the latest.
func TestPutSecretAfterAPruneOfItsVersion(t *testing.T) {
	f := newFixture(t)
	store := &holdingSecrets{SecretStore: f.store, held: make(chan struct{}), release: make(chan struct{})}
	f.rebuildWith(f.store, store)
	type result struct {
		view vault.SecretView
		err  error
	}
	done := make(chan result, 1)
	go func() {
		in := vault.PutSecretInput{Caller: f.caller("m1"), Name: "s", Value: secret.New("the stale put's value"), Metadata: map[string]string{"put": "stale"}}
		view, _, err := f.secrets.PutSecret(ctx, in)
		done <- result{view, err}
	}()
	<-store.held
	for i := 1; i <= 3; i++ {
		if v := f.put("m1", "s", "value "+strconv.Itoa(i)); v.Version != uint32(i) { // #nosec G115 -- a small test index
			t.Fatalf("put %d answered version %d", i, v.Version)
		}
	}
	close(store.release)
	stale := <-done
	if stale.err != nil {
		t.Fatal(stale.err)
	}
	got, _, err := f.meta.GetSecret(ctx, f.caller("m1"), "s")
	if err != nil {
		t.Fatal(err)
	}
	if stale.view.Version != got.Version || got.Version != 4 {
		t.Fatalf("the held put answered version %d; the latest is %d, want both 4", stale.view.Version, got.Version)
	}
	revealed, _, err := f.secrets.RevealSecret(ctx, f.caller("m1"), "s")
	if err != nil || revealed.Value.Reveal() != "the stale put's value" {
		t.Fatalf("reveal after the held put: version %d, %v", revealed.Version, err)
	}
}

// TestPutSecretAfterATakeBackAndADelete: a put taken back (its audit event
// failed) and a deleted secret leave their version numbers taken, so the
// next put numbers above them; it answers 201 (created) when no version
// was live.
func TestPutSecretAfterATakeBackAndADelete(t *testing.T) {
	f := newFixture(t)
	first := f.put("m1", "s", "first")
	second, trace, err := f.secrets.PutSecret(ctx, vault.PutSecretInput{Caller: f.caller("m1"), Name: "s", Value: secret.New("second")})
	if err != nil || second.Version != 2 || trace.Undo == nil {
		t.Fatalf("second put: %+v, %v", second, err)
	}
	if err := trace.Undo(ctx); err != nil {
		t.Fatal(err)
	}
	got, _, err := f.meta.GetSecret(ctx, f.caller("m1"), "s")
	if err != nil || got.Version != first.Version {
		t.Fatalf("after the take-back: %+v, %v; want version %d", got, err, first.Version)
	}
	third := f.put("m1", "s", "third")
	if third.Version != 3 || third.Created || !third.CreatedAt.Equal(first.CreatedAt) {
		t.Fatalf("put after a take-back: %+v", third)
	}
	if n := f.records("m1"); n != 2 {
		t.Fatalf("%d versions live, want 1 and 3", n)
	}
	if _, err := f.meta.DeleteSecret(ctx, f.caller("m1"), "s"); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.secrets.RevealSecret(ctx, f.caller("m1"), "s")
	wantCode(t, err, vaulterr.NotFound)
	fourth := f.put("m1", "s", "fourth")
	if fourth.Version != 4 || !fourth.Created {
		t.Fatalf("put after delete_secret: %+v; want version 4, created", fourth)
	}
	revealed, _, err := f.secrets.RevealSecret(ctx, f.caller("m1"), "s")
	if err != nil || revealed.Version != 4 || revealed.Value.Reveal() != "fourth" {
		t.Fatalf("reveal after the last put: %+v, %v", revealed.Version, err)
	}
}

// deadlineSecrets records the deadline each create was given.
type deadlineSecrets struct {
	vault.SecretStore
	mu        sync.Mutex
	deadlines []time.Time
}

func (s *deadlineSecrets) CreateSecretVersion(ctx context.Context, rec vault.SecretRecord) error {
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Time{}
	}
	s.mu.Lock()
	s.deadlines = append(s.deadlines, dl)
	s.mu.Unlock()
	return s.SecretStore.CreateSecretVersion(ctx, rec)
}

// A put's create is cut off once its read of the latest version is
// MaxSecretReadAge old: the bound the tombstones' lifetime is set by.
func TestPutSecretWritesWithinTheReadAge(t *testing.T) {
	f := newFixture(t)
	store := &deadlineSecrets{SecretStore: f.store}
	f.rebuildWith(f.store, store)
	start := time.Now()
	f.put("m1", "s", "v")
	end := time.Now()
	if len(store.deadlines) != 1 {
		t.Fatalf("%d creates, want 1", len(store.deadlines))
	}
	dl := store.deadlines[0]
	if dl.IsZero() || dl.Before(start.Add(vault.MaxSecretReadAge)) || dl.After(end.Add(vault.MaxSecretReadAge)) {
		t.Fatalf("create deadline %v after the put began (which took %v), want %v after its read", dl.Sub(start), end.Sub(start), vault.MaxSecretReadAge)
	}
	if vault.SecretTombstoneLifetime <= vault.MaxSecretReadAge {
		t.Fatalf("tombstones last %v, not beyond the %v a put may write on its read", vault.SecretTombstoneLifetime, vault.MaxSecretReadAge)
	}
}
