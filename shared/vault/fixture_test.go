package vault_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/memstore"
	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

// The operations' tests run over the in-memory ports (shared/memstore,
// held to the DynamoDB adapter's contract) and the local keyring: no
// database, no network, a few milliseconds each. What only a running
// stack shows is tested in shared/localmode.

var ctx = context.Background()

// Key cache lifetimes of the tests: short, so that a rotation's waits
// (for every process to switch primaries, then to drop old keys) pass in
// milliseconds.
const (
	testPrimaryTTL = 20 * time.Millisecond
	testKeyTTL     = 40 * time.Millisecond
)

// clock runs in real time (rotation sleeps on real timers) from an offset
// that tests move forward to expire cards and request ids.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// fixture is one vault over fresh in-memory ports.
type fixture struct {
	t       *testing.T
	clock   *clock
	store   *memstore.Store
	keyring envelope.Keyring
	keys    *envelope.Manager
	life    *envelope.Lifecycle
	work    *memstore.Work
	audit   *memstore.Audit

	cards   *vault.CardVault
	masked  *vault.MaskedViews
	deleter *vault.CardDeleter
	secrets *vault.SecretVault
	meta    *vault.SecretMetadata
	keyLife *vault.KeyLifecycle

	jti atomic.Int64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: &clock{}, work: &memstore.Work{}, audit: &memstore.Audit{}}
	f.store = memstore.New(memstore.WithClock(f.clock.Now))
	master := make([]byte, envelope.MasterKeySize)
	for i := range master {
		master[i] = byte(i + 1)
	}
	keyring, err := envelope.NewLocalKeyring(secret.New(master))
	if err != nil {
		t.Fatal(err)
	}
	f.keyring = keyring
	f.rebuild(f.store)
	return f
}

// rebuild makes the operations anew over cards (the fixture's store, or
// a wrapper of it), with a fresh key manager: nothing cached.
func (f *fixture) rebuild(cards vault.CardStore) {
	f.rebuildWith(cards, f.store)
}

func (f *fixture) rebuildWith(cards vault.CardStore, secrets vault.SecretStore) {
	f.rebuildCaches(cards, secrets, testKeyTTL, testPrimaryTTL)
}

// rebuildCaches is rebuildWith with the key cache's lifetimes given.
func (f *fixture) rebuildCaches(cards vault.CardStore, secrets vault.SecretStore, keyTTL, primaryTTL time.Duration) {
	f.keys = envelope.NewManager(f.keyring, f.store, envelope.Options{KeyTTL: keyTTL, PrimaryTTL: primaryTTL, Now: f.clock.Now})
	f.life = envelope.NewLifecycle(f.keyring, f.store, f.keys)
	f.cards = vault.NewCardVault(cards, f.store, f.store, f.keys, f.clock.Now)
	f.masked = vault.NewMaskedViews(cards, f.store, f.store, f.clock.Now)
	f.deleter = vault.NewCardDeleter(cards, f.store, f.store, f.clock.Now)
	f.secrets = vault.NewSecretVault(secrets, f.store, f.store, f.keys, f.clock.Now)
	f.meta = vault.NewSecretMetadata(secrets, f.store, f.store, f.clock.Now)
	f.keyLife = vault.NewKeyLifecycle(f.keys, f.life, f.store, f.store, f.store, f.work, f.audit, f.clock.Now,
		vault.LifecycleOptions{PageSize: 3, Workers: 2, Logger: quiet})
}

// caller is a request of merchant m with a fresh request id.
func (f *fixture) caller(m string) vault.Caller {
	return vault.Caller{ClientID: "client-" + m, MerchantID: m, JTI: "jti-" + strconv.FormatInt(f.jti.Add(1), 10)}
}

const (
	visa       = "4242424242424242"
	mastercard = "5555555555554444"
)

func (f *fixture) cardInput(m, customer, number string) vault.VaultCardInput {
	return vault.VaultCardInput{
		Caller:     f.caller(m),
		CustomerID: customer,
		Card: vault.CardInput{
			Number:     secret.New(number),
			ExpMonth:   12,
			ExpYear:    f.clock.Now().Year() + 2,
			HolderName: secret.New("Ada Lovelace"),
		},
	}
}

// vault stores a card and fails the test if it cannot.
func (f *fixture) vault(m, customer, number string) vault.CardView {
	f.t.Helper()
	view, _, err := f.cards.VaultCard(ctx, f.cardInput(m, customer, number))
	if err != nil {
		f.t.Fatalf("VaultCard: %v", err)
	}
	return view
}

func (f *fixture) put(m, name, value string) vault.SecretView {
	f.t.Helper()
	view, _, err := f.secrets.PutSecret(ctx, vault.PutSecretInput{Caller: f.caller(m), Name: name, Value: secret.New(value)})
	if err != nil {
		f.t.Fatalf("PutSecret: %v", err)
	}
	return view
}

// records counts the merchant's stored records of every key version.
func (f *fixture) records(m string) int {
	f.t.Helper()
	recs, _, err := f.store.RecordsOf(ctx, m, "", 10_000)
	if err != nil {
		f.t.Fatal(err)
	}
	return len(recs)
}

// unspent fails the test if c's request id was spent: a refused request
// must change nothing, its jti included.
func (f *fixture) unspent(c vault.Caller) {
	f.t.Helper()
	if err := f.store.Consume(ctx, c.ClientID, c.JTI, f.clock.Now().Add(vault.ReplayWindow)); err != nil {
		f.t.Fatalf("a refused request spent its request id: %v", err)
	}
}

func wantCode(t *testing.T, err error, code vaulterr.Code) {
	t.Helper()
	if got := vaulterr.CodeOf(err); err == nil || got != code {
		t.Fatalf("err = %v (code %q), want code %q", err, got, code)
	}
}

// cardStore wraps the fixture's store, letting a test run code around
// one call of the card store: another request's writes, a failure. Hooks
// are set before the operation runs.
type cardStore struct {
	vault.CardStore
	onClaim     func(existing string, err error) (string, error)
	beforeCard  func(token string)
	beforeWrite func(rec vault.CardRecord)
	onCreate    func(rec vault.CardRecord, err error) error
	onReplace   func(err error) error
}

func (s *cardStore) ClaimCardIndex(ctx context.Context, key vault.CardIndexKey, token string, expiresAt time.Time) (string, error) {
	existing, err := s.CardStore.ClaimCardIndex(ctx, key, token, expiresAt)
	if s.onClaim != nil {
		return s.onClaim(existing, err)
	}
	return existing, err
}

func (s *cardStore) Card(ctx context.Context, token string) (vault.CardRecord, error) {
	if s.beforeCard != nil {
		s.beforeCard(token)
	}
	return s.CardStore.Card(ctx, token)
}

func (s *cardStore) CreateCard(ctx context.Context, rec vault.CardRecord) error {
	if s.beforeWrite != nil {
		s.beforeWrite(rec)
	}
	err := s.CardStore.CreateCard(ctx, rec)
	if s.onCreate != nil {
		return s.onCreate(rec, err)
	}
	return err
}

func (s *cardStore) ReplaceCard(ctx context.Context, rec vault.CardRecord) error {
	if s.beforeWrite != nil {
		s.beforeWrite(rec)
	}
	err := s.CardStore.ReplaceCard(ctx, rec)
	if s.onReplace != nil {
		return s.onReplace(err)
	}
	return err
}

// once runs fn the first time only; a call from inside fn returns at
// once (the hooked operation may run the hook again).
func once(fn func()) func() {
	var done atomic.Bool
	return func() {
		if done.CompareAndSwap(false, true) {
			fn()
		}
	}
}

var errStorage = errors.New("storage unreachable")

// quiet drops the lifecycle's log lines: a rotation kept from finishing
// logs each pass.
var quiet = slog.New(slog.DiscardHandler)
