package localmode_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/card"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/internal/vaulttest"
	"github.com/cardvault/vault/shared/store"
	"github.com/cardvault/vault/shared/vault"
)

// fastKeys make a rotation finish within a test: containers switch to a
// new primary within PrimaryTTL and drop old keys within KeyTTL.
var fastKeys = vaulttest.Options{KeyTTL: 300 * time.Millisecond, PrimaryTTL: 100 * time.Millisecond}

func keyStatus(t *testing.T, c *vaulttest.Client, merchant string) map[string]any {
	t.Helper()
	r := c.Call(t, http.MethodGet, "/v1/merchants/"+merchant+"/keys", "get_keys", merchant, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("get_keys: %d %s", r.Status, r.Body)
	}
	return r.JSON
}

func rotate(t *testing.T, c *vaulttest.Client, merchant string) map[string]any {
	t.Helper()
	r := c.Call(t, http.MethodPost, "/v1/merchants/"+merchant+"/keys/rotate", "rotate_keys", merchant, nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("rotate_keys: %d %s", r.Status, r.Body)
	}
	return r.JSON
}

func pan(i int) string {
	base := fmt.Sprintf("411111%09d", i)
	return base + string(card.LuhnCheckDigit(base))
}

func putSecret(t *testing.T, c *vaulttest.Client, merchant, name, value string) {
	t.Helper()
	claims := c.Claims("put_secret", merchant, map[string]any{"name": name, "value": value})
	r := c.PostJOSE(http.MethodPut, "/v1/merchants/"+merchant+"/secrets/"+name, c.Encrypt(t, c.Sign(t, claims), jose.ECDH_ES_A256KW))
	if r.Status != http.StatusCreated && r.Status != http.StatusOK {
		t.Fatalf("put_secret: %d %s", r.Status, r.Body)
	}
}

func revealSecret(t *testing.T, c *vaulttest.Client, merchant, name string) *vaulttest.Response {
	t.Helper()
	return c.Call(t, http.MethodPost, "/v1/merchants/"+merchant+"/secrets/"+name+"/reveal", "reveal_secret", merchant, map[string]any{"name": name})
}

func TestRotateKeysReencryptsEveryRecord(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	v := vaulttest.StartWith(t, fastKeys, c)
	const m = "m_rot"
	tokens := map[string]string{}
	for i := range 40 {
		tokens[vaultOne(t, c, m, pan(i))] = pan(i)
	}
	putSecret(t, c, m, "api-key", testSecret)
	fp := c.VaultCard(t, m, map[string]any{"customer_id": "c_1", "card": testCard(pan(0))}, jose.ECDH_ES_A256KW).JSON["fingerprint"]

	st := rotate(t, c, m)
	if st["primary_version"] != float64(2) {
		t.Fatalf("rotate_keys: %v", st)
	}
	// New writes use the new primary at once in this process.
	newTok := vaultOne(t, c, m, pan(1000))
	v.Env.WaitForWork()

	st = keyStatus(t, c, m)
	versions := st["versions"].([]any)
	rot := st["rotation"].(map[string]any)
	if len(versions) != 1 || versions[0].(map[string]any)["version"] != float64(2) || rot["state"] != "idle" || rot["remaining"] != float64(0) {
		t.Fatalf("after rotation: %v", st)
	}
	if rot["reencrypted"].(float64) < 41 {
		t.Fatalf("reencrypted %v records, want at least 41", rot["reencrypted"])
	}
	if n := versions[0].(map[string]any)["records"].(float64); n != 42 {
		t.Fatalf("records on v2: %v, want 42", n)
	}
	tokens[newTok] = pan(1000)
	for tok, want := range tokens {
		r := reveal(t, c, m, tok)
		if r.Status != http.StatusOK || c.OpenResponse(t, r.Body)["card"].(map[string]any)["number"] != want {
			t.Fatalf("reveal after rotation: %d %s", r.Status, r.Body)
		}
	}
	if r := revealSecret(t, c, m, "api-key"); r.Status != http.StatusOK || c.OpenResponse(t, r.Body)["value"] != testSecret {
		t.Fatalf("secret after rotation: %d", r.Status)
	}
	// Fingerprints, and so duplicate detection, survive the rotation.
	again := c.VaultCard(t, m, map[string]any{"customer_id": "c_1", "card": testCard(pan(0))}, jose.ECDH_ES_A256KW)
	if again.JSON["fingerprint"] != fp || again.JSON["duplicate"] != true {
		t.Fatalf("fingerprint changed across rotation: %s", again.Body)
	}
	events := map[string]int{}
	for _, e := range v.AuditEvents() {
		events[e["action"].(string)]++
	}
	for _, a := range []string{"rotation_started", "rotation_page", "rotation_finished", "key_version_destroyed"} {
		if events[a] == 0 {
			t.Fatalf("no %s audit event: %v", a, events)
		}
	}
}

// faultyStore fails the n-th call of the methods rotation uses, once.
type faultyStore struct {
	*store.Store
	failAt int64
	calls  atomic.Int64
}

var errInjected = errors.New("injected fault")

func (f *faultyStore) fault() error {
	if f.calls.Add(1) == f.failAt {
		return errInjected
	}
	return nil
}

func (f *faultyStore) RecordsBelow(ctx context.Context, m string, below uint32, cursor string, limit int) ([]vault.SealedRecord, string, error) {
	if err := f.fault(); err != nil {
		return nil, "", err
	}
	return f.Store.RecordsBelow(ctx, m, below, cursor, limit)
}

func (f *faultyStore) ResealRecord(ctx context.Context, rec vault.SealedRecord, sealed []byte, version uint32) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.Store.ResealRecord(ctx, rec, sealed, version)
}

func (f *faultyStore) SaveRotationState(ctx context.Context, st vault.RotationState) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.Store.SaveRotationState(ctx, st)
}

// faultyKeyring fails the n-th unwrap, once.
type faultyKeyring struct {
	envelope.Keyring
	failAt int64
	calls  atomic.Int64
}

func (k *faultyKeyring) Unwrap(ctx context.Context, w envelope.WrappedKey, ec envelope.EncryptionContext) ([]byte, envelope.Call, error) {
	if k.calls.Add(1) == k.failAt {
		return nil, envelope.Call{}, errInjected
	}
	return k.Keyring.Unwrap(ctx, w, ec)
}

func TestRotationStoppedByFaultsResumesAndConverges(t *testing.T) {
	// Store faults at several points of the run (listing, resealing,
	// checkpointing); keyring faults at each of the few unwraps a rotation
	// makes (the cache serves the rest).
	for _, failAt := range []int64{1, 2, 3, 5, 17, 40} {
		for _, where := range []string{"store", "keyring"} {
			t.Run(fmt.Sprintf("%s-call-%d", where, failAt), func(t *testing.T) {
				c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
				v := vaulttest.StartWith(t, vaulttest.Options{KeyTTL: 50 * time.Millisecond, PrimaryTTL: 20 * time.Millisecond, InlineWork: true}, c)
				const m = "m_fault"
				tokens := map[string]string{}
				for i := range 30 {
					tokens[vaultOne(t, c, m, pan(i))] = pan(i)
				}
				ctx := context.Background()
				km, _ := v.Env.KeyManager()
				keyring, _ := envelope.LoadOrCreateLocalKeyring(v.Dir + "/master.key")
				var kr envelope.Keyring = keyring
				var rs vault.RotationStore = v.Env.Store
				var calls *atomic.Int64
				if where == "store" {
					fs := &faultyStore{Store: v.Env.Store, failAt: failAt}
					rs, calls = fs, &fs.calls
				} else {
					fk := &faultyKeyring{Keyring: keyring, failAt: failAt}
					kr, calls = fk, &fk.calls
				}
				// A fresh manager stands for a fresh container, so the
				// keyring is really asked.
				fresh := envelope.NewManager(kr, v.Env.Store, envelope.Options{KeyTTL: 50 * time.Millisecond, PrimaryTTL: 20 * time.Millisecond})
				defer fresh.Close()
				_ = km
				life := vault.NewKeyLifecycle(fresh, envelope.NewLifecycle(kr, v.Env.Store, fresh), v.Env.Store, rs, v.Env.Store,
					nopWork{}, nil, time.Now, vault.LifecycleOptions{PageSize: 7, Workers: 4, Logger: discardLogger()})
				failures := 0
				if _, err := life.Rotate(ctx, m); err != nil && !errors.Is(err, errInjected) {
					t.Fatal(err)
				} else if err != nil {
					failures++
					if _, err := life.Rotate(ctx, m); err != nil {
						t.Fatal(err)
					}
				}
				for attempt := 0; attempt < 10; attempt++ {
					done, err := life.ContinueRotation(ctx, m)
					if done {
						break
					}
					if err != nil {
						failures++
					}
				}
				if reached := calls.Load() >= failAt; reached != (failures > 0) {
					t.Fatalf("calls %d, fault at %d, failures seen %d", calls.Load(), failAt, failures)
				}
				if where == "store" && calls.Load() < failAt {
					t.Fatalf("rotation made %d store calls, fewer than the fault point %d", calls.Load(), failAt)
				}
				st := keyStatus(t, c, m)
				versions := st["versions"].([]any)
				if len(versions) != 1 || versions[0].(map[string]any)["records"] != float64(30) || st["rotation"].(map[string]any)["state"] != "idle" {
					t.Fatalf("rotation did not converge: %v", st)
				}
				for tok, want := range tokens {
					r := reveal(t, c, m, tok)
					if r.Status != http.StatusOK || c.OpenResponse(t, r.Body)["card"].(map[string]any)["number"] != want {
						t.Fatalf("reveal after resumed rotation: %d %s", r.Status, r.Body)
					}
				}
			})
		}
	}
}

type nopWork struct{}

func (nopWork) Start(context.Context, vault.WorkRequest) error { return nil }

func TestRotationBesideConcurrentWrites(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	v := vaulttest.StartWith(t, fastKeys, c)
	const m = "m_conc"
	var mu sync.Mutex
	live := map[string]string{} // token -> latest holder name
	for i := range 30 {
		tok := vaultOne(t, c, m, pan(i))
		live[tok] = testHolder
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Each worker updates its own cards: two concurrent updates
				// of one card have no "latest" a test could know.
				n := w*7 + i%7
				switch i % 4 {
				case 0: // update holder of an existing card (duplicate vault)
					holder := fmt.Sprintf("Holder %d-%d", w, i)
					card := testCard(pan(n))
					card["holder_name"] = holder
					r := c.VaultCard(t, m, map[string]any{"customer_id": "c_1", "card": card}, jose.ECDH_ES_A256KW)
					if r.Status == http.StatusOK || r.Status == http.StatusCreated {
						mu.Lock()
						live[r.JSON["token"].(string)] = holder
						mu.Unlock()
					}
				case 1: // a new card
					r := c.VaultCard(t, m, map[string]any{"customer_id": "c_new", "card": testCard(pan(100 + w*1000 + i))}, jose.ECDH_ES_A256KW)
					if r.Status == http.StatusCreated {
						mu.Lock()
						live[r.JSON["token"].(string)] = testHolder
						mu.Unlock()
					}
				case 2: // delete one
					mu.Lock()
					var tok string
					for k := range live {
						tok = k
						break
					}
					mu.Unlock()
					if r := c.Call(t, http.MethodDelete, "/v1/cards/"+tok, "delete_card", m, map[string]any{"token": tok}); r.Status == http.StatusNoContent {
						mu.Lock()
						delete(live, tok)
						mu.Unlock()
					}
				case 3:
					mu.Lock()
					var tok string
					for k := range live {
						tok = k
						break
					}
					mu.Unlock()
					reveal(t, c, m, tok)
				}
			}
		}()
	}
	rotate(t, c, m)
	time.Sleep(300 * time.Millisecond)
	rotate(t, c, m) // a second rotation while the first runs
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	v.Env.WaitForWork()
	life, _ := v.Env.KeyLifecycle()
	for i := 0; i < 5; i++ {
		if done, err := life.ContinueRotation(context.Background(), m); done || err != nil {
			if err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	st := keyStatus(t, c, m)
	if st["rotation"].(map[string]any)["state"] != "idle" || len(st["versions"].([]any)) != 1 || st["primary_version"] != float64(3) {
		t.Fatalf("after concurrent rotation: %v", st)
	}
	// The dedupe index may point two live tokens at one number only if a
	// delete raced; every live token must reveal its latest content.
	for tok, holder := range live {
		r := reveal(t, c, m, tok)
		if r.Status != http.StatusOK {
			t.Fatalf("live card %s: %d %s", tok, r.Status, r.Body)
		}
		if got := c.OpenResponse(t, r.Body)["card"].(map[string]any)["holder_name"]; got != holder {
			t.Fatalf("card %s holds %v, latest write was %v", tok, got, holder)
		}
	}
}

func TestShredMerchant(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	v := vaulttest.Start(t, c)
	const m = "m_shred"
	var tokens []string
	for i := range 10 {
		tokens = append(tokens, vaultOne(t, c, m, pan(i)))
	}
	putSecret(t, c, m, "api-key", testSecret)
	other := vaultOne(t, c, "m_keep", testPAN)

	if r := c.Call(t, http.MethodDelete, "/v1/merchants/"+m, "shred_merchant", m, nil); r.Status != http.StatusNoContent {
		t.Fatalf("shred_merchant: %d %s", r.Status, r.Body)
	}
	for _, r := range []*vaulttest.Response{
		c.GetMasked(t, m, tokens[0]), reveal(t, c, m, tokens[1]), revealSecret(t, c, m, "api-key"),
		c.Call(t, http.MethodGet, "/v1/merchants/"+m+"/secrets/api-key", "get_secret", m, map[string]any{"name": "api-key"}),
		c.Call(t, http.MethodGet, "/v1/merchants/"+m+"/keys", "get_keys", m, nil),
		c.VaultCard(t, m, map[string]any{"card": testCard(testPAN)}, jose.ECDH_ES_A256KW),
		c.Call(t, http.MethodDelete, "/v1/merchants/"+m, "shred_merchant", m, nil),
	} {
		if r.Status != http.StatusNotFound || r.Code() != "not_found" {
			t.Fatalf("after shredding: %d %s", r.Status, r.Body)
		}
	}
	// With direct access to the table and the keyring, nothing of the
	// merchant can be decrypted: its keys are gone.
	ctx := context.Background()
	keys, err := v.Env.Store.Keys(ctx, m)
	if err != nil || len(keys) != 0 {
		t.Fatalf("keys left after shredding: %d (%v)", len(keys), err)
	}
	if _, err := v.Env.Store.KeyVersion(ctx, m, 1); !errors.Is(err, envelope.ErrNoKey) {
		t.Fatalf("version 1 still readable: %v", err)
	}
	fresh := envelope.NewManager(mustKeyring(t, v), v.Env.Store, envelope.Options{})
	defer fresh.Close()
	if _, _, err := fresh.Version(ctx, m, 1); err == nil {
		t.Fatal("a fresh process unwrapped a shredded merchant's key")
	}
	v.Env.WaitForWork()
	if dump := v.TableDump(); containsAny(dump, tokens...) {
		t.Fatal("shredded merchant's records were not purged")
	}
	if r := reveal(t, c, "m_keep", other); r.Status != http.StatusOK {
		t.Fatalf("another merchant's card after shredding: %d", r.Status)
	}
}

func mustKeyring(t *testing.T, v *vaulttest.Vault) envelope.Keyring {
	kr, err := envelope.LoadOrCreateLocalKeyring(v.Dir + "/master.key")
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func containsAny(s string, needles ...string) bool {
	for _, n := range needles {
		if len(n) > 0 && contains(s, n) {
			return true
		}
	}
	return false
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
