package envelope

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vaulterr"
)

// memKeyStore is an in-memory KeyStore with the same conditional-create
// semantics as the DynamoDB adapter.
type memKeyStore struct {
	mu   sync.Mutex
	keys map[string]map[uint32]StoredKey
}

func newMemKeyStore() *memKeyStore { return &memKeyStore{keys: map[string]map[uint32]StoredKey{}} }

func (s *memKeyStore) LatestKey(_ context.Context, m string) (StoredKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best StoredKey
	for v, k := range s.keys[m] {
		if v > best.Version {
			best = k
		}
	}
	if best.Version == 0 {
		return StoredKey{}, ErrNoKey
	}
	return best, nil
}

func (s *memKeyStore) KeyVersion(_ context.Context, m string, v uint32) (StoredKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[m][v]
	if !ok {
		return StoredKey{}, ErrNoKey
	}
	return k, nil
}

func (s *memKeyStore) CreateKey(_ context.Context, k StoredKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys[k.MerchantID] == nil {
		s.keys[k.MerchantID] = map[uint32]StoredKey{}
	}
	if _, ok := s.keys[k.MerchantID][k.Version]; ok {
		return ErrKeyExists
	}
	s.keys[k.MerchantID][k.Version] = k
	return nil
}

var _ KeyStore = (*memKeyStore)(nil)

// countingKeyring counts calls and can delay them, to widen race windows.
type countingKeyring struct {
	Keyring
	wraps, unwraps atomic.Int64
	delay          time.Duration
}

func (k *countingKeyring) Wrap(ctx context.Context, key []byte, ec EncryptionContext) (WrappedKey, Call, error) {
	k.wraps.Add(1)
	time.Sleep(k.delay)
	return k.Keyring.Wrap(ctx, key, ec)
}

func (k *countingKeyring) Unwrap(ctx context.Context, w WrappedKey, ec EncryptionContext) ([]byte, Call, error) {
	k.unwraps.Add(1)
	time.Sleep(k.delay)
	return k.Keyring.Unwrap(ctx, w, ec)
}

func newTestKeyring(t testing.TB) *LocalKeyring {
	t.Helper()
	kr, err := NewLocalKeyring(secret.New(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestSealOpenRoundTripAndOverhead(t *testing.T) {
	m := NewManager(newTestKeyring(t), newMemKeyStore(), Options{})
	keys, _, err := m.Primary(context.Background(), "m_1")
	if err != nil {
		t.Fatal(err)
	}
	ref := RecordRef{Type: RecordCard, MerchantID: "m_1", ID: "tok_a"}
	plaintext := []byte(`{"n":"4242424242424242","m":12,"y":2030}`)
	sealed, err := keys.Seal(ref, plaintext)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(sealed) - len(plaintext); got != Overhead || Overhead > 40 {
		t.Fatalf("overhead %d bytes, want %d (<= 40)", got, Overhead)
	}
	if bytes.Contains(sealed, []byte("4242")) {
		t.Fatal("ciphertext contains plaintext digits")
	}
	v, err := KeyVersionOf(sealed)
	if err != nil || v != 1 {
		t.Fatalf("KeyVersionOf = %d, %v", v, err)
	}
	got, err := keys.Open(ref, sealed)
	if err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("Open = %q, %v", got, err)
	}
}

func TestCiphertextIsBoundToItsRecord(t *testing.T) {
	ctx := context.Background()
	m := NewManager(newTestKeyring(t), newMemKeyStore(), Options{})
	keys, _, _ := m.Primary(ctx, "m_1")
	ref := RecordRef{Type: RecordCard, MerchantID: "m_1", ID: "tok_a"}
	sealed, _ := keys.Seal(ref, []byte("card"))
	other, _, _ := m.Primary(ctx, "m_2")
	otherSealed, _ := other.Seal(RecordRef{Type: RecordCard, MerchantID: "m_2", ID: "tok_a"}, []byte("card"))

	relabelled := bytes.Clone(sealed)
	relabelled[4] = 2 // claims key version 2
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1

	cases := []struct {
		name   string
		keys   *MerchantKeys
		ref    RecordRef
		sealed []byte
	}{
		{"another record id", keys, RecordRef{Type: RecordCard, MerchantID: "m_1", ID: "tok_b"}, sealed},
		{"another record type", keys, RecordRef{Type: RecordSecret, MerchantID: "m_1", ID: "tok_a"}, sealed},
		{"another merchant's keys", other, RecordRef{Type: RecordCard, MerchantID: "m_2", ID: "tok_a"}, sealed},
		{"altered clear fields", keys, RecordRef{Type: RecordCard, MerchantID: "m_1", ID: "tok_a", Clear: "x"}, sealed},
		{"another merchant's record", keys, ref, otherSealed},
		{"relabelled key version", keys, ref, relabelled},
		{"flipped tag bit", keys, ref, flipped},
		{"truncated", keys, ref, sealed[:Overhead-1]},
		{"unknown format", keys, ref, append([]byte{0x03}, sealed[1:]...)},
		{"passed off as format 1", keys, ref, append([]byte{0x01}, sealed[1:]...)},
	}
	for _, c := range cases {
		if _, err := c.keys.Open(c.ref, c.sealed); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: Open err = %v, want ErrOpen", c.name, err)
		}
	}
}

func TestAADFieldsCannotCollide(t *testing.T) {
	a := recordAAD([]byte{2, 0, 0, 0, 1}, RecordRef{Type: "card", MerchantID: "m_1", ID: "ab"})
	b := recordAAD([]byte{2, 0, 0, 0, 1}, RecordRef{Type: "card", MerchantID: "m_1a", ID: "b"})
	if bytes.Equal(a, b) {
		t.Fatal("AADs of different records are equal")
	}
	keys, err := newMerchantKeys("m_1", 1, fuzzBundle())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(keys.clearTag(RecordRef{Type: "card", MerchantID: "m_1", ID: "ab"}),
		keys.clearTag(RecordRef{Type: "card", MerchantID: "m_1", ID: "a", Clear: "b"})) {
		t.Fatal("clear-field tags of different records are equal")
	}
	var x, y ClearFields
	x.Add("first4", "4242")
	x.Add("last4", "")
	y.Add("first4", "")
	y.Add("last4", "4242")
	if x.String() == y.String() {
		t.Fatal("a value moved to another clear field keeps the encoding")
	}
}

// TestCardSealedWithClearFieldsRefusesAlteredOnes is the binding of
// format 2: a record opens only beside the very clear fields it was
// sealed with.
func TestCardSealedWithClearFieldsRefusesAlteredOnes(t *testing.T) {
	m := NewManager(newTestKeyring(t), newMemKeyStore(), Options{})
	keys, _, err := m.Primary(context.Background(), "m_1")
	if err != nil {
		t.Fatal(err)
	}
	clear := func(last4 string) string {
		var c ClearFields
		c.Add("first4", "4242")
		c.Add("last4", last4)
		return c.String()
	}
	ref := RecordRef{Type: RecordCard, MerchantID: "m_1", ID: "tok_a", Clear: clear("4242")}
	sealed, err := keys.Seal(ref, []byte("card"))
	if err != nil {
		t.Fatal(err)
	}
	if f, err := FormatOf(sealed); err != nil || f != FormatBound {
		t.Fatalf("FormatOf = %d, %v; want %d", f, err, FormatBound)
	}
	if _, err := keys.Open(ref, sealed); err != nil {
		t.Fatalf("Open with the sealed clear fields: %v", err)
	}
	altered := ref
	altered.Clear = clear("1881")
	if _, err := keys.Open(altered, sealed); !errors.Is(err, ErrOpen) {
		t.Fatalf("Open with altered clear fields: %v, want ErrOpen", err)
	}
}

// TestResealKeepsTheClearFieldBinding: re-encryption under a newer key
// version needs no clear field for a format 2 record, and the record
// still opens beside its clear fields only; a format 1 record comes out
// as format 2, bound to the clear fields given.
func TestResealKeepsTheClearFieldBinding(t *testing.T) {
	v1, err := newMerchantKeys("m_1", fuzzKeyVersion, fuzzBundle())
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := newBundle(fuzzBundle()[dekSize:])
	if err != nil {
		t.Fatal(err)
	}
	v2, err := newMerchantKeys("m_1", fuzzKeyVersion+1, bundle)
	if err != nil {
		t.Fatal(err)
	}
	ref := RecordRef{Type: RecordCard, MerchantID: "m_1", ID: "tok_a", Clear: "7:last4|4:4242"}
	altered := ref
	altered.Clear = "7:last4|4:1881"
	sealed, err := v1.Seal(ref, []byte("card"))
	if err != nil {
		t.Fatal(err)
	}
	named := ref
	named.Clear = "" // what a rotation listing knows
	moved, err := v2.Reseal(v1, named, sealed)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := KeyVersionOf(moved); v != fuzzKeyVersion+1 {
		t.Fatalf("resealed record has key version %d", v)
	}
	if got, err := v2.Open(ref, moved); err != nil || string(got) != "card" {
		t.Fatalf("Open(resealed) = %q, %v", got, err)
	}
	if _, err := v2.Open(altered, moved); !errors.Is(err, ErrOpen) {
		t.Fatalf("Open(resealed, altered clear fields) = %v, want ErrOpen", err)
	}
	if _, err := v2.Reseal(v1, RecordRef{Type: RecordCard, MerchantID: "m_1", ID: "tok_b"}, sealed); !errors.Is(err, ErrOpen) {
		t.Fatalf("Reseal under another record's name = %v, want ErrOpen", err)
	}

	legacy := referenceGCM(t).sealFormat1(t, RecordRef{Type: RecordCard, MerchantID: "m_1", ID: "tok_a"}, []byte("card"))
	migrated, err := v2.Reseal(v1, ref, legacy)
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := FormatOf(migrated); f != FormatBound {
		t.Fatalf("a resealed format 1 record is in format %d", f)
	}
	if got, err := v2.Open(ref, migrated); err != nil || string(got) != "card" {
		t.Fatalf("Open(migrated) = %q, %v", got, err)
	}
	if _, err := v2.Open(altered, migrated); !errors.Is(err, ErrOpen) {
		t.Fatalf("Open(migrated, altered clear fields) = %v, want ErrOpen", err)
	}
}

// TestFormat1RecordsStillOpen: a record written before format 2 (sealed
// here by the format written down in format.go, not by the package) opens
// whatever clear fields are given, since it never bound them.
func TestFormat1RecordsStillOpen(t *testing.T) {
	keys, err := newMerchantKeys("m_1", fuzzKeyVersion, fuzzBundle())
	if err != nil {
		t.Fatal(err)
	}
	ref := RecordRef{Type: RecordCard, MerchantID: "m_1", ID: "tok_a"}
	sealed := referenceGCM(t).sealFormat1(t, ref, []byte("card"))
	if f, err := FormatOf(sealed); err != nil || f != FormatUnbound {
		t.Fatalf("FormatOf = %d, %v; want %d", f, err, FormatUnbound)
	}
	ref.Clear = "anything"
	got, err := keys.Open(ref, sealed)
	if err != nil || string(got) != "card" {
		t.Fatalf("Open(format 1) = %q, %v", got, err)
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	if _, err := keys.Open(ref, flipped); !errors.Is(err, ErrOpen) {
		t.Fatalf("Open(format 1, flipped) = %v, want ErrOpen", err)
	}
}

func TestFingerprintIsKeyedPerMerchantAndStableAcrossCalls(t *testing.T) {
	ctx := context.Background()
	m := NewManager(newTestKeyring(t), newMemKeyStore(), Options{})
	k1, _, _ := m.Primary(ctx, "m_1")
	k2, _, _ := m.Primary(ctx, "m_2")
	pan := []byte("4242424242424242")
	a, b := k1.Fingerprint("card-number", pan), k1.Fingerprint("card-number", pan)
	if !bytes.Equal(a, b) {
		t.Fatal("fingerprint not deterministic")
	}
	if bytes.Equal(a, k2.Fingerprint("card-number", pan)) {
		t.Fatal("two merchants share a fingerprint")
	}
	if bytes.Equal(a, k1.Fingerprint("other", pan)) {
		t.Fatal("domains do not separate fingerprints")
	}
	// Concurrent use of the shared HMAC state must not corrupt it.
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				if !bytes.Equal(k1.Fingerprint("card-number", pan), a) {
					t.Error("fingerprint changed under concurrency")
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestOneKeyringCallServesAThousandRequests(t *testing.T) {
	ctx := context.Background()
	store := newMemKeyStore()
	// A first process creates the merchant's key (one Wrap).
	if _, _, err := NewManager(newTestKeyring(t), store, Options{}).Primary(ctx, "m_1"); err != nil {
		t.Fatal(err)
	}
	kr := &countingKeyring{Keyring: newTestKeyring(t)}
	m := NewManager(kr, store, Options{})
	for i := 0; i < 1000; i++ {
		k, _, err := m.Primary(ctx, "m_1")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := m.Version(ctx, "m_1", k.Version()); err != nil {
			t.Fatal(err)
		}
	}
	if n := kr.unwraps.Load() + kr.wraps.Load(); n != 1 {
		t.Fatalf("keyring calls for 1000 requests = %d, want 1", n)
	}
}

func TestConcurrentColdMissesCoalesceIntoOneUnwrap(t *testing.T) {
	ctx := context.Background()
	store := newMemKeyStore()
	if _, _, err := NewManager(newTestKeyring(t), store, Options{}).Primary(ctx, "m_1"); err != nil {
		t.Fatal(err)
	}
	kr := &countingKeyring{Keyring: newTestKeyring(t), delay: 20 * time.Millisecond}
	m := NewManager(kr, store, Options{})
	var wg sync.WaitGroup
	var reported atomic.Int64
	start := make(chan struct{})
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, usage, err := m.Primary(ctx, "m_1")
			if err != nil {
				t.Error(err)
			}
			reported.Add(int64(len(usage.Calls)))
		}()
	}
	close(start)
	wg.Wait()
	if n := kr.unwraps.Load(); n != 1 {
		t.Fatalf("unwraps for 1000 concurrent cold requests = %d, want 1", n)
	}
	if reported.Load() != 1 {
		t.Fatalf("keyring calls reported to callers = %d, want 1", reported.Load())
	}
}

func TestConcurrentFirstUseCreatesOneVersion(t *testing.T) {
	ctx := context.Background()
	store := newMemKeyStore()
	// Separate managers stand for separate containers racing.
	var wg sync.WaitGroup
	fps := make([][]byte, 8)
	for i := range fps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, _, err := NewManager(&countingKeyring{Keyring: newTestKeyring(t), delay: time.Millisecond}, store, Options{}).Primary(ctx, "m_1")
			if err != nil {
				t.Error(err)
				return
			}
			fps[i] = k.Fingerprint("card-number", []byte("4242424242424242"))
		}()
	}
	wg.Wait()
	if len(store.keys["m_1"]) != 1 {
		t.Fatalf("versions created = %d, want 1", len(store.keys["m_1"]))
	}
	for _, fp := range fps[1:] {
		if !bytes.Equal(fp, fps[0]) {
			t.Fatal("racing containers ended up with different keys")
		}
	}
}

func TestCacheBoundsAndWipesOnEviction(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	kr := &countingKeyring{Keyring: newTestKeyring(t)}
	m := NewManager(kr, newMemKeyStore(), Options{MaxKeys: 2, KeyTTL: time.Minute, Now: clock})
	k1, _, _ := m.Primary(ctx, "m_1")
	raw := k1.raw
	m.Primary(ctx, "m_2")
	m.Primary(ctx, "m_3") // evicts m_1, the least recently used
	if m.CachedKeys() != 2 {
		t.Fatalf("cached = %d, want 2", m.CachedKeys())
	}
	if !bytes.Equal(raw, make([]byte, bundleSize)) {
		t.Fatal("evicted key bytes were not wiped")
	}
	// The evicted keys still work for a caller that holds them.
	if _, err := k1.Seal(RecordRef{Type: RecordCard, MerchantID: "m_1", ID: "t"}, []byte("x")); err != nil {
		t.Fatal(err)
	}
	before := kr.unwraps.Load()
	m.Primary(ctx, "m_1") // miss: unwrapped again
	if kr.unwraps.Load() != before+1 {
		t.Fatal("evicted key was not unwrapped again")
	}
	// Age bound.
	k3, _, _ := m.Primary(ctx, "m_3")
	now = now.Add(2 * time.Minute)
	before = kr.unwraps.Load()
	if _, _, err := m.Version(ctx, "m_3", k3.Version()); err != nil {
		t.Fatal(err)
	}
	if kr.unwraps.Load() != before+1 {
		t.Fatal("expired key was served from the cache")
	}
}

func TestLocalKeyringBindsContextAndMasterKey(t *testing.T) {
	ctx := context.Background()
	kr := newTestKeyring(t)
	ec := bundleContext("m_1", 1)
	w, _, err := kr.Wrap(ctx, []byte("0123456789abcdef0123456789abcdef"), ec)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := kr.Unwrap(ctx, w, bundleContext("m_2", 1)); vaulterr.CodeOf(err) != vaulterr.Integrity {
		t.Fatalf("unwrap with another merchant's context: %v", err)
	}
	if _, _, err := kr.Unwrap(ctx, w, bundleContext("m_1", 2)); vaulterr.CodeOf(err) != vaulterr.Integrity {
		t.Fatalf("unwrap with another version's context: %v", err)
	}
	other, _ := NewLocalKeyring(secret.New(bytes.Repeat([]byte{8}, 32)))
	if _, _, err := other.Unwrap(ctx, w, ec); vaulterr.CodeOf(err) != vaulterr.Integrity {
		t.Fatalf("unwrap under another master key: %v", err)
	}
	rw, _, err := kr.ReWrap(ctx, w, ec)
	if err != nil {
		t.Fatal(err)
	}
	if pt, _, err := kr.Unwrap(ctx, rw, ec); err != nil || string(pt) != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("rewrapped key: %v", err)
	}
}

func TestLoadOrCreateLocalKeyringPersists(t *testing.T) {
	path := t.TempDir() + "/master.key"
	a, err := LoadOrCreateLocalKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateLocalKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	if a.MasterKeyID() != b.MasterKeyID() {
		t.Fatal("master key changed across loads")
	}
	w, _, _ := a.Wrap(context.Background(), []byte("k"), EncryptionContext{"a": "b"})
	if _, _, err := b.Unwrap(context.Background(), w, EncryptionContext{"a": "b"}); err != nil {
		t.Fatal(err)
	}
}

// An unwrapped key used once is evicted and its bytes zeroed when its TTL
// ends, within ExpiryBound, with no further lookup to notice it.
func TestExpiredKeysAreWipedWithoutALookup(t *testing.T) {
	const ttl = 300 * time.Millisecond
	m := NewManager(newTestKeyring(t), newMemKeyStore(), Options{KeyTTL: ttl})
	t.Cleanup(m.Close)
	start := time.Now()
	k, _, err := m.Primary(context.Background(), "m_1")
	if err != nil {
		t.Fatal(err)
	}
	raw := k.raw
	if m.CachedKeys() != 1 || bytes.Equal(raw, make([]byte, bundleSize)) {
		t.Fatal("the key was not cached")
	}
	deadline := start.Add(ttl + ExpiryBound)
	for m.CachedKeys() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	// CachedKeys takes the cache's lock, so the wipe is visible here.
	if m.CachedKeys() != 0 {
		t.Fatalf("key still cached %v after its TTL of %v", time.Since(start)-ttl, ttl)
	}
	if !bytes.Equal(raw, make([]byte, bundleSize)) {
		t.Fatal("expired key bytes were not wiped")
	}
	if elapsed := time.Since(start); elapsed < ttl {
		t.Fatalf("key evicted after %v, before its TTL of %v", elapsed, ttl)
	}
	// The keys still work for a caller that held them across the expiry.
	if _, err := k.Seal(RecordRef{Type: RecordCard, MerchantID: "m_1", ID: "t"}, []byte("x")); err != nil {
		t.Fatal(err)
	}
}

// A replaced or evicted entry's timer does not evict its successor, and
// Close wipes every key at once.
func TestKeyTimersFollowTheirEntry(t *testing.T) {
	ctx := context.Background()
	const ttl = 400 * time.Millisecond
	m := NewManager(newTestKeyring(t), newMemKeyStore(), Options{KeyTTL: ttl})
	k1, _, err := m.Primary(ctx, "m_1")
	if err != nil {
		t.Fatal(err)
	}
	m.Forget("m_1")
	time.Sleep(ttl / 2)
	k2, _, err := m.Primary(ctx, "m_1") // cached anew: its own timer
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1.raw, make([]byte, bundleSize)) {
		t.Fatal("forgotten key bytes were not wiped")
	}
	time.Sleep(ttl/2 + 50*time.Millisecond) // past the first entry's TTL
	if m.CachedKeys() != 1 {
		t.Fatal("the first entry's timer evicted its successor")
	}
	raw := k2.raw
	m.Close()
	if m.CachedKeys() != 0 || !bytes.Equal(raw, make([]byte, bundleSize)) {
		t.Fatal("Close left keys in memory")
	}
}
