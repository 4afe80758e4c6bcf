// Package storetest is the contract of the vault's storage ports, as one
// suite of tests that any implementation must pass: the DynamoDB adapter
// (shared/store, on dynalite) and the in-memory ports (shared/memstore)
// both run it, so that what the operations' fast tests assume of the
// in-memory ports is what the table does.
package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/card"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/migrate"
	"github.com/cardvault/vault/shared/vault"
)

// Ports is one implementation's storage ports.
type Ports interface {
	vault.CardStore
	vault.CardBatchStore
	vault.SecretStore
	vault.UndoableReplayGuard
	vault.RotationStore
	vault.Purger
	envelope.KeyAdmin
	migrate.JobStore
}

// Factory opens a fresh, empty set of ports whose expiry conditions follow
// now.
type Factory func(t *testing.T, now func() time.Time) Ports

// Clock is a settable clock for the suite.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Run runs the contract against ports made by open. Every test gets its
// own ports and its own clock, starting at a whole second.
func Run(t *testing.T, open Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, p Ports, clock *Clock)
	}{
		{"CardIndexClaim", testCardIndexClaim},
		{"CardIndexExpiry", testCardIndexExpiry},
		{"CardIndexTakeOver", testCardIndexTakeOver},
		{"CardIndexRace", testCardIndexRace},
		{"CardCreateAndRead", testCardCreateAndRead},
		{"CardReplace", testCardReplace},
		{"CardDelete", testCardDelete},
		{"CardDeleteKeepsNewerIndex", testCardDeleteKeepsNewerIndex},
		{"CardBatchReads", testCardBatchReads},
		{"CardBatchWrites", testCardBatchWrites},
		{"SecretVersions", testSecretVersions},
		{"SecretVersionRace", testSecretVersionRace},
		{"SecretTombstones", testSecretTombstones},
		{"ReplayWindow", testReplayWindow},
		{"ReplayRace", testReplayRace},
		{"ReplayUnspend", testReplayUnspend},
		{"KeyVersions", testKeyVersions},
		{"KeyAdmin", testKeyAdmin},
		{"Shredding", testShredding},
		{"MerchantDirectory", testMerchantDirectory},
		{"RotationState", testRotationState},
		{"RotationStateRace", testRotationStateRace},
		{"RecordListing", testRecordListing},
		{"Reseal", testReseal},
		{"DeleteRecord", testDeleteRecord},
		{"PurgeExpired", testPurgeExpired},
		{"Jobs", testJobs},
		{"JobBatches", testJobBatches},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := &Clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
			tc.fn(t, open(t, clock.Now), clock)
		})
	}
}

var ctx = context.Background()

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

// token makes a token of the shape the vault gives (tok_ and 22 base64url
// characters).
func token(s string) string {
	const pad = "AAAAAAAAAAAAAAAAAAAAAA"
	return "tok_" + (s + pad)[:22]
}

func cardRecord(merchant, tok string, keyVersion uint32, now time.Time) vault.CardRecord {
	return vault.CardRecord{
		Token:       tok,
		MerchantID:  merchant,
		CustomerID:  "cus_1",
		Fingerprint: "fp_" + tok,
		Masked:      card.Masked{Brand: "visa", First4: "4242", Last4: "4242", ExpMonth: 12, ExpYear: 2031},
		Sealed:      []byte("sealed:" + tok + ":" + now.String()),
		KeyVersion:  keyVersion,
		CreatedAt:   now,
		UpdatedAt:   now,
	}
}

func indexKeyOf(rec vault.CardRecord) vault.CardIndexKey {
	return vault.CardIndexKey{MerchantID: rec.MerchantID, CustomerID: rec.CustomerID, Fingerprint: rec.Fingerprint}
}

// vaultCard stores rec and its index entry the way vault_card does.
func vaultCard(t *testing.T, p Ports, rec vault.CardRecord) {
	t.Helper()
	if existing, err := p.ClaimCardIndex(ctx, indexKeyOf(rec), rec.Token, rec.ExpiresAt); err != nil {
		t.Fatalf("ClaimCardIndex: %q, %v", existing, err)
	}
	must(t, p.CreateCard(ctx, rec))
}

func testCardIndexClaim(t *testing.T, p Ports, _ *Clock) {
	key := vault.CardIndexKey{MerchantID: "m1", CustomerID: "c1", Fingerprint: "fp_1"}
	a, b := token("a"), token("b")
	existing, err := p.ClaimCardIndex(ctx, key, a, time.Time{})
	if err != nil || existing != "" {
		t.Fatalf("first claim = %q, %v; want it won", existing, err)
	}
	existing, err = p.ClaimCardIndex(ctx, key, b, time.Time{})
	wantErr(t, "second claim", err, vault.ErrConflict)
	if existing != a {
		t.Fatalf("second claim names %q, want the winner %q", existing, a)
	}
	// The same token again is the same request (a retry): no conflict.
	if existing, err := p.ClaimCardIndex(ctx, key, a, time.Time{}); err != nil {
		t.Fatalf("repeated claim of the winner = %q, %v", existing, err)
	}
	// Entries are per merchant and customer.
	for _, other := range []vault.CardIndexKey{{MerchantID: "m2", CustomerID: "c1", Fingerprint: "fp_1"}, {MerchantID: "m1", CustomerID: "c2", Fingerprint: "fp_1"}} {
		if existing, err := p.ClaimCardIndex(ctx, other, b, time.Time{}); err != nil {
			t.Fatalf("claim of %+v = %q, %v", other, existing, err)
		}
	}
}

func testCardIndexExpiry(t *testing.T, p Ports, clock *Clock) {
	key := vault.CardIndexKey{MerchantID: "m1", CustomerID: "c1", Fingerprint: "fp_1"}
	a, b := token("a"), token("b")
	_, err := p.ClaimCardIndex(ctx, key, a, clock.Now().Add(time.Minute))
	must(t, err)
	clock.Advance(59 * time.Second)
	if existing, err := p.ClaimCardIndex(ctx, key, b, time.Time{}); !errors.Is(err, vault.ErrConflict) || existing != a {
		t.Fatalf("claim before expiry = %q, %v; want %q and a conflict", existing, err, a)
	}
	clock.Advance(time.Second)
	if existing, err := p.ClaimCardIndex(ctx, key, b, time.Time{}); err != nil {
		t.Fatalf("claim of an expired entry = %q, %v; want it taken", existing, err)
	}
}

func testCardIndexTakeOver(t *testing.T, p Ports, _ *Clock) {
	key := vault.CardIndexKey{MerchantID: "m1", CustomerID: "c1", Fingerprint: "fp_1"}
	a, b, c := token("a"), token("b"), token("c")
	wantErr(t, "take-over of no entry", p.TakeOverCardIndex(ctx, key, a, b, time.Time{}), vault.ErrConflict)
	_, err := p.ClaimCardIndex(ctx, key, a, time.Time{})
	must(t, err)
	wantErr(t, "take-over from the wrong token", p.TakeOverCardIndex(ctx, key, c, b, time.Time{}), vault.ErrConflict)
	must(t, p.TakeOverCardIndex(ctx, key, a, b, time.Time{}))
	wantErr(t, "second take-over from the old token", p.TakeOverCardIndex(ctx, key, a, c, time.Time{}), vault.ErrConflict)
	if existing, err := p.ClaimCardIndex(ctx, key, c, time.Time{}); !errors.Is(err, vault.ErrConflict) || existing != b {
		t.Fatalf("claim after take-over = %q, %v; want %q and a conflict", existing, err, b)
	}
}

func testCardIndexRace(t *testing.T, p Ports, _ *Clock) {
	key := vault.CardIndexKey{MerchantID: "m1", CustomerID: "c1", Fingerprint: "fp_1"}
	const n = 8
	var wg sync.WaitGroup
	won := make([]bool, n)
	named := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			existing, err := p.ClaimCardIndex(ctx, key, token(string(rune('a'+i))), time.Time{}) // #nosec G115 -- a small test index or version
			switch {
			case err == nil:
				won[i] = true
			case errors.Is(err, vault.ErrConflict):
				named[i] = existing
			default:
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	winners := 0
	for i := range n {
		must(t, errs[i])
		if won[i] {
			winners++
		}
	}
	if winners != 1 {
		t.Fatalf("%d concurrent claims won, want exactly 1", winners)
	}
	winner := token(string(rune('a' + slices.Index(won, true)))) // #nosec G115 -- a small test index or version
	for i := range n {
		if !won[i] && named[i] != winner {
			t.Fatalf("a losing claim names %q, want the winner %q", named[i], winner)
		}
	}
}

func testCardCreateAndRead(t *testing.T, p Ports, clock *Clock) {
	rec := cardRecord("m1", token("a"), 1, clock.Now())
	rec.ExpiresAt = clock.Now().Add(time.Hour)
	_, err := p.Card(ctx, rec.Token)
	wantErr(t, "Card before CreateCard", err, vault.ErrNotFound)
	must(t, p.CreateCard(ctx, rec))
	// The very same write again (an SDK retry after a lost answer) is no
	// conflict; another write under the token is.
	must(t, p.CreateCard(ctx, rec))
	other := rec
	other.Sealed = []byte("another ciphertext")
	wantErr(t, "CreateCard over an existing token", p.CreateCard(ctx, other), vault.ErrConflict)

	got, err := p.Card(ctx, rec.Token)
	must(t, err)
	checkCard(t, got, rec)
	// An expired card is still returned, as stored: the caller decides.
	clock.Advance(2 * time.Hour)
	got, err = p.Card(ctx, rec.Token)
	must(t, err)
	checkCard(t, got, rec)
}

func checkCard(t *testing.T, got, want vault.CardRecord) {
	t.Helper()
	if got.Token != want.Token || got.MerchantID != want.MerchantID || got.CustomerID != want.CustomerID ||
		got.Fingerprint != want.Fingerprint || got.Masked != want.Masked || string(got.Sealed) != string(want.Sealed) ||
		got.KeyVersion != want.KeyVersion || !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) ||
		!got.ExpiresAt.Equal(want.ExpiresAt) || got.Deleted != want.Deleted {
		t.Fatalf("card read back as\n %+v\nwant\n %+v", got, want)
	}
}

func testCardReplace(t *testing.T, p Ports, clock *Clock) {
	rec := cardRecord("m1", token("a"), 1, clock.Now())
	rec.ExpiresAt = clock.Now().Add(time.Hour)
	wantErr(t, "ReplaceCard of no card", p.ReplaceCard(ctx, rec), vault.ErrNotFound)
	vaultCard(t, p, rec)

	updated := rec
	updated.Sealed = []byte("new ciphertext")
	updated.KeyVersion = 2
	updated.Masked.ExpYear = 2032
	updated.UpdatedAt = clock.Now().Add(time.Minute)
	must(t, p.ReplaceCard(ctx, updated))
	got, err := p.Card(ctx, rec.Token)
	must(t, err)
	checkCard(t, got, updated)

	theirs := updated
	theirs.MerchantID = "m2"
	wantErr(t, "ReplaceCard as another merchant", p.ReplaceCard(ctx, theirs), vault.ErrNotFound)
	got, err = p.Card(ctx, rec.Token)
	must(t, err)
	checkCard(t, got, updated)

	// A dead card is not brought back.
	clock.Advance(time.Hour)
	wantErr(t, "ReplaceCard of an expired card", p.ReplaceCard(ctx, updated), vault.ErrNotFound)
}

func testCardDelete(t *testing.T, p Ports, clock *Clock) {
	rec := cardRecord("m1", token("a"), 1, clock.Now())
	vaultCard(t, p, rec)
	theirs := rec
	theirs.MerchantID = "m2"
	wantErr(t, "DeleteCard as another merchant", p.DeleteCard(ctx, theirs), vault.ErrNotFound)
	if _, err := p.Card(ctx, rec.Token); err != nil {
		t.Fatalf("another merchant's delete removed the card: %v", err)
	}
	must(t, p.DeleteCard(ctx, rec))
	_, err := p.Card(ctx, rec.Token)
	wantErr(t, "Card after DeleteCard", err, vault.ErrNotFound)
	wantErr(t, "second DeleteCard", p.DeleteCard(ctx, rec), vault.ErrNotFound)
	// The index entry went with the card: the same card vaulted again gets
	// a new token.
	if existing, err := p.ClaimCardIndex(ctx, indexKeyOf(rec), token("b"), time.Time{}); err != nil {
		t.Fatalf("claim after delete = %q, %v; want the entry gone", existing, err)
	}
	if n, err := p.CountRecords(ctx, "m1", 1); err != nil || n != 0 {
		t.Fatalf("CountRecords after the delete = %d, %v; want 0", n, err)
	}
}

func testCardDeleteKeepsNewerIndex(t *testing.T, p Ports, clock *Clock) {
	old := cardRecord("m1", token("a"), 1, clock.Now())
	vaultCard(t, p, old)
	newer := token("b")
	must(t, p.TakeOverCardIndex(ctx, indexKeyOf(old), old.Token, newer, time.Time{}))
	must(t, p.DeleteCard(ctx, old))
	if existing, err := p.ClaimCardIndex(ctx, indexKeyOf(old), token("c"), time.Time{}); !errors.Is(err, vault.ErrConflict) || existing != newer {
		t.Fatalf("claim after deleting the old card = %q, %v; want the newer card's %q kept", existing, err, newer)
	}
}

func secretRecord(merchant, name string, version, keyVersion uint32, now time.Time) vault.SecretRecord {
	return vault.SecretRecord{
		MerchantID: merchant,
		Name:       name,
		Version:    version,
		Sealed:     []byte("sealed:" + name + ":" + string(rune('0'+version))), // #nosec G115 -- a small test index or version
		KeyVersion: keyVersion,
		Masked:     "****abcd",
		Metadata:   map[string]string{"env": "test"},
		CreatedAt:  now,
		UpdatedAt:  now.Add(time.Duration(version) * time.Second),
	}
}

func checkSecret(t *testing.T, got, want vault.SecretRecord) {
	t.Helper()
	if got.MerchantID != want.MerchantID || got.Name != want.Name || got.Version != want.Version ||
		string(got.Sealed) != string(want.Sealed) || got.KeyVersion != want.KeyVersion || got.Masked != want.Masked ||
		len(got.Metadata) != len(want.Metadata) || got.Metadata["env"] != want.Metadata["env"] ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Fatalf("secret read back as\n %+v\nwant\n %+v", got, want)
	}
}

func testSecretVersions(t *testing.T, p Ports, clock *Clock) {
	_, err := p.LatestSecret(ctx, "m1", "api.key")
	wantErr(t, "LatestSecret of none", err, vault.ErrNotFound)
	wantErr(t, "DeleteSecret of none", p.DeleteSecret(ctx, "m1", "api.key"), vault.ErrNotFound)
	v1 := secretRecord("m1", "api.key", 1, 1, clock.Now())
	v2 := secretRecord("m1", "api.key", 2, 1, clock.Now())
	must(t, p.CreateSecretVersion(ctx, v1))
	must(t, p.CreateSecretVersion(ctx, v2))
	must(t, p.CreateSecretVersion(ctx, v2)) // the same write again
	clash := v2
	clash.Sealed = []byte("another ciphertext")
	wantErr(t, "CreateSecretVersion of a taken version", p.CreateSecretVersion(ctx, clash), vault.ErrConflict)
	got, err := p.LatestSecret(ctx, "m1", "api.key")
	must(t, err)
	checkSecret(t, got, v2)
	// Secrets are per merchant and name.
	_, err = p.LatestSecret(ctx, "m2", "api.key")
	wantErr(t, "another merchant's LatestSecret", err, vault.ErrNotFound)
	_, err = p.LatestSecret(ctx, "m1", "api.key2")
	wantErr(t, "another name's LatestSecret", err, vault.ErrNotFound)

	must(t, p.PruneSecretVersions(ctx, "m1", "api.key", 0)) // keeps everything
	if n := countOf(t, p, "m1", 1); n != 2 {
		t.Fatalf("%d records after pruning nothing, want 2", n)
	}
	must(t, p.PruneSecretVersions(ctx, "m1", "api.key", 2))
	must(t, p.PruneSecretVersions(ctx, "m1", "api.key", 2))
	recs := listAll(t, p, "m1", 0)
	if len(recs) != 1 || recs[0].Ref.ID != vault.SecretRecordID("api.key", 2) {
		t.Fatalf("records after pruning below version 2: %+v", recs)
	}
	got, err = p.LatestSecret(ctx, "m1", "api.key")
	must(t, err)
	checkSecret(t, got, v2)

	must(t, p.DeleteSecret(ctx, "m1", "api.key"))
	_, err = p.LatestSecret(ctx, "m1", "api.key")
	wantErr(t, "LatestSecret after DeleteSecret", err, vault.ErrNotFound)
	wantErr(t, "second DeleteSecret", p.DeleteSecret(ctx, "m1", "api.key"), vault.ErrNotFound)
}

func testSecretVersionRace(t *testing.T, p Ports, clock *Clock) {
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := secretRecord("m1", "api.key", 1, 1, clock.Now())
			rec.Sealed = []byte{byte(i + 1)} // #nosec G115 -- a small test index or version
			errs[i] = p.CreateSecretVersion(ctx, rec)
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, vault.ErrConflict):
			t.Fatal(err)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent creates of version 1 won, want exactly 1", won)
	}
}

// testSecretTombstones: a version that goes (pruned, taken back, deleted)
// keeps its number taken until its tombstone expires, and is absent to
// every read and listing.
func testSecretTombstones(t *testing.T, p Ports, clock *Clock) {
	var v [6]vault.SecretRecord
	for i := uint32(1); i <= 3; i++ {
		v[i] = secretRecord("m1", "s", i, 1, clock.Now())
		must(t, p.CreateSecretVersion(ctx, v[i]))
	}
	head := func(wantLive bool, wantLatest, wantTop uint32) {
		t.Helper()
		h, err := p.SecretHead(ctx, "m1", "s")
		must(t, err)
		if h.Live != wantLive || h.Top != wantTop || (wantLive && h.Latest.Version != wantLatest) {
			t.Fatalf("SecretHead = live %v, latest %d, top %d; want %v, %d, %d", h.Live, h.Latest.Version, h.Top, wantLive, wantLatest, wantTop)
		}
		if wantLive {
			checkSecret(t, h.Latest, v[wantLatest])
		}
	}
	head(true, 3, 3)
	if h, err := p.SecretHead(ctx, "m1", "other"); err != nil || h.Live || h.Top != 0 {
		t.Fatalf("SecretHead of no secret = %+v, %v", h, err)
	}

	// Pruned: the number stays taken, whatever ciphertext comes; a
	// listing from before the prune leads to nothing (a conflict for
	// re-encryption, success for a purge, which leaves the tombstone).
	var listedV1 vault.SealedRecord
	for _, rec := range listAll(t, p, "m1", 0) {
		if rec.Ref.ID == vault.SecretRecordID("s", 1) {
			listedV1 = rec
		}
	}
	must(t, p.PruneSecretVersions(ctx, "m1", "s", 2))
	_, err := p.WithClearFields(ctx, listedV1)
	wantErr(t, "WithClearFields of a pruned version", err, vault.ErrConflict)
	wantErr(t, "ResealRecord of a pruned version", p.ResealRecord(ctx, listedV1, []byte("resealed"), 2), vault.ErrConflict)
	must(t, p.DeleteRecord(ctx, listedV1))
	again := v[1]
	again.Sealed = []byte("a put holding an old read")
	wantErr(t, "CreateSecretVersion of a pruned version", p.CreateSecretVersion(ctx, again), vault.ErrConflict)
	wantErr(t, "CreateSecretVersion of a pruned version, same ciphertext", p.CreateSecretVersion(ctx, v[1]), vault.ErrConflict)
	if got := ids(listAll(t, p, "m1", 0)); !slices.Equal(got, []string{string(envelope.RecordSecret) + ":s/2", string(envelope.RecordSecret) + ":s/3"}) {
		t.Fatalf("records after the prune = %v", got)
	}

	// Taken back: the version below is the latest again, the number stays
	// taken, and a take-back of a tombstone changes nothing.
	must(t, p.DeleteSecretVersion(ctx, v[3]))
	must(t, p.DeleteSecretVersion(ctx, v[3]))
	head(true, 2, 3)
	got, err := p.LatestSecret(ctx, "m1", "s")
	must(t, err)
	checkSecret(t, got, v[2])
	again = v[3]
	again.Sealed = []byte("another put of version 3")
	wantErr(t, "CreateSecretVersion of a version taken back", p.CreateSecretVersion(ctx, again), vault.ErrConflict)
	if n := countOf(t, p, "m1", 1); n != 1 {
		t.Fatalf("CountRecords after a prune and a take-back = %d, want 1", n)
	}
	// Pruning a tombstone, or a number never written, creates nothing.
	must(t, p.PruneSecretVersions(ctx, "m1", "s", 2))
	must(t, p.PruneSecretVersions(ctx, "m1", "s", 9))
	head(false, 0, 3)
	wantErr(t, "DeleteSecret with only tombstones", p.DeleteSecret(ctx, "m1", "s"), vault.ErrNotFound)
	_, err = p.LatestSecret(ctx, "m1", "s")
	wantErr(t, "LatestSecret with only tombstones", err, vault.ErrNotFound)

	// Deleted: every live version goes, and the numbering goes on above.
	v[4] = secretRecord("m1", "s", 4, 1, clock.Now())
	v[5] = secretRecord("m1", "s", 5, 2, clock.Now())
	must(t, p.CreateSecretVersion(ctx, v[4]))
	must(t, p.CreateSecretVersion(ctx, v[5]))
	head(true, 5, 5)
	must(t, p.DeleteSecret(ctx, "m1", "s"))
	head(false, 0, 5)
	_, err = p.LatestSecret(ctx, "m1", "s")
	wantErr(t, "LatestSecret after DeleteSecret", err, vault.ErrNotFound)
	wantErr(t, "CreateSecretVersion of a deleted version", p.CreateSecretVersion(ctx, v[5]), vault.ErrConflict)
	if recs := listAll(t, p, "m1", 0); len(recs) != 0 {
		t.Fatalf("records after DeleteSecret = %v", ids(recs))
	}
	if n1, n2 := countOf(t, p, "m1", 1), countOf(t, p, "m1", 2); n1 != 0 || n2 != 0 {
		t.Fatalf("CountRecords after DeleteSecret = %d, %d", n1, n2)
	}

	// A tombstone lasts SecretTombstoneLifetime, then expires.
	clock.Advance(vault.SecretTombstoneLifetime - time.Second)
	if n, err := p.PurgeExpired(ctx, clock.Now(), 100); err != nil || n != 0 {
		t.Fatalf("PurgeExpired before the tombstones' time = %d, %v", n, err)
	}
	clock.Advance(2 * time.Second)
	if n, err := p.PurgeExpired(ctx, clock.Now(), 100); err != nil || n != 5 {
		t.Fatalf("PurgeExpired of five tombstones = %d, %v", n, err)
	}
	head(false, 0, 0)
}

func testReplayWindow(t *testing.T, p Ports, clock *Clock) {
	until := clock.Now().Add(vault.ReplayWindow)
	must(t, p.Consume(ctx, "client-a", "jti-1", until))
	wantErr(t, "second Consume", p.Consume(ctx, "client-a", "jti-1", until), vault.ErrReplayed)
	// Pairs are per issuer.
	must(t, p.Consume(ctx, "client-b", "jti-1", until))
	must(t, p.Consume(ctx, "client-a", "jti-2", until))

	clock.Advance(vault.ReplayWindow - time.Second)
	wantErr(t, "Consume inside the window", p.Consume(ctx, "client-a", "jti-1", until), vault.ErrReplayed)
	clock.Advance(time.Second)
	// Past the window the id is free again (on dynalite nothing is
	// deleted: the expired entry is overwritten).
	must(t, p.Consume(ctx, "client-a", "jti-1", clock.Now().Add(vault.ReplayWindow)))
	wantErr(t, "Consume of the renewed pair", p.Consume(ctx, "client-a", "jti-1", until), vault.ErrReplayed)

	err := p.Consume(ctx, "client-a", "jti-3", time.Time{})
	if err == nil || errors.Is(err, vault.ErrReplayed) {
		t.Fatalf("Consume without expiry = %v, want an internal error", err)
	}
}

func testReplayUnspend(t *testing.T, p Ports, clock *Clock) {
	until := clock.Now().Add(vault.ReplayWindow)
	spend, err := p.Spend(ctx, "client-a", "jti-1", until)
	must(t, err)
	wantErr(t, "Consume of a spent pair", p.Consume(ctx, "client-a", "jti-1", until), vault.ErrReplayed)
	must(t, p.Unspend(ctx, spend))
	// Taken back, the pair is as if never spent; a second undo finds
	// nothing and is no error.
	again, err := p.Spend(ctx, "client-a", "jti-1", until)
	must(t, err)
	must(t, p.Unspend(ctx, spend))
	wantErr(t, "Consume after an old spend's undo", p.Consume(ctx, "client-a", "jti-1", until), vault.ErrReplayed)
	must(t, p.Unspend(ctx, again))
	must(t, p.Unspend(ctx, again))

	// An undo takes back its own spend only: not the entry a later
	// request wrote once the first expired, nor another issuer's.
	first, err := p.Spend(ctx, "client-a", "jti-2", until)
	must(t, err)
	must(t, p.Consume(ctx, "client-b", "jti-2", until.Add(vault.ReplayWindow)))
	clock.Advance(vault.ReplayWindow)
	must(t, p.Consume(ctx, "client-a", "jti-2", clock.Now().Add(vault.ReplayWindow)))
	must(t, p.Unspend(ctx, first))
	wantErr(t, "Consume after an expired spend's undo", p.Consume(ctx, "client-a", "jti-2", clock.Now().Add(vault.ReplayWindow)), vault.ErrReplayed)
	wantErr(t, "Consume of another issuer's pair", p.Consume(ctx, "client-b", "jti-2", clock.Now().Add(time.Second)), vault.ErrReplayed)

	// A refused spend wrote nothing, and its undo deletes nothing.
	refused, err := p.Spend(ctx, "client-a", "jti-2", clock.Now().Add(vault.ReplayWindow))
	wantErr(t, "Spend of a spent pair", err, vault.ErrReplayed)
	must(t, p.Unspend(ctx, refused))
	wantErr(t, "Consume after a refused spend's undo", p.Consume(ctx, "client-a", "jti-2", clock.Now().Add(vault.ReplayWindow)), vault.ErrReplayed)
}

func testReplayRace(t *testing.T, p Ports, clock *Clock) {
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.Consume(ctx, "client-a", "jti-race", clock.Now().Add(vault.ReplayWindow))
		}()
	}
	wg.Wait()
	passed := 0
	for _, err := range errs {
		switch {
		case err == nil:
			passed++
		case !errors.Is(err, vault.ErrReplayed):
			t.Fatal(err)
		}
	}
	if passed != 1 {
		t.Fatalf("%d concurrent uses of one request id passed, want exactly 1", passed)
	}
}

func storedKey(merchant string, version uint32, now time.Time) envelope.StoredKey {
	return envelope.StoredKey{
		MerchantID: merchant,
		Version:    version,
		Wrapped:    envelope.WrappedKey{MasterKeyID: "local:test", Ciphertext: []byte("wrapped:" + merchant + string(rune('0'+version)))}, // #nosec G115 -- a small test index or version
		State:      envelope.KeyPrimary,
		CreatedAt:  now,
	}
}

func checkKey(t *testing.T, got, want envelope.StoredKey) {
	t.Helper()
	if got.MerchantID != want.MerchantID || got.Version != want.Version || got.State != want.State ||
		got.Wrapped.MasterKeyID != want.Wrapped.MasterKeyID || string(got.Wrapped.Ciphertext) != string(want.Wrapped.Ciphertext) ||
		!got.CreatedAt.Equal(want.CreatedAt) {
		t.Fatalf("key read back as\n %+v\nwant\n %+v", got, want)
	}
}

func testKeyVersions(t *testing.T, p Ports, clock *Clock) {
	_, err := p.LatestKey(ctx, "m1")
	wantErr(t, "LatestKey of none", err, envelope.ErrNoKey)
	_, err = p.KeyVersion(ctx, "m1", 1)
	wantErr(t, "KeyVersion of none", err, envelope.ErrNoKey)
	k1, k2 := storedKey("m1", 1, clock.Now()), storedKey("m1", 2, clock.Now().Add(time.Hour))
	must(t, p.CreateKey(ctx, k1))
	must(t, p.CreateKey(ctx, k2))
	must(t, p.CreateKey(ctx, k2)) // the same write again
	clash := k2
	clash.Wrapped.Ciphertext = []byte("another wrap")
	wantErr(t, "CreateKey of a taken version", p.CreateKey(ctx, clash), envelope.ErrKeyExists)
	latest, err := p.LatestKey(ctx, "m1")
	must(t, err)
	checkKey(t, latest, k2)
	got, err := p.KeyVersion(ctx, "m1", 1)
	must(t, err)
	checkKey(t, got, k1)
	_, err = p.KeyVersion(ctx, "m1", 3)
	wantErr(t, "KeyVersion of a missing version", err, envelope.ErrNoKey)
	_, err = p.LatestKey(ctx, "m2")
	wantErr(t, "another merchant's LatestKey", err, envelope.ErrNoKey)
}

func testKeyAdmin(t *testing.T, p Ports, clock *Clock) {
	k1, k2 := storedKey("m1", 1, clock.Now()), storedKey("m1", 2, clock.Now().Add(time.Hour))
	must(t, p.CreateKey(ctx, k2)) // out of order: Keys still lists oldest first
	must(t, p.CreateKey(ctx, k1))
	keys, err := p.Keys(ctx, "m1")
	must(t, err)
	if len(keys) != 2 {
		t.Fatalf("Keys = %+v, want versions 1 and 2", keys)
	}
	checkKey(t, keys[0], k1)
	checkKey(t, keys[1], k2)

	must(t, p.SetKeyState(ctx, "m1", 1, envelope.KeyRetiring))
	wantErr(t, "SetKeyState of a missing version", p.SetKeyState(ctx, "m1", 9, envelope.KeyRetiring), envelope.ErrNoKey)
	k1.State = envelope.KeyRetiring
	got, err := p.KeyVersion(ctx, "m1", 1)
	must(t, err)
	checkKey(t, got, k1)

	rewrapped := envelope.WrappedKey{MasterKeyID: "local:next", Ciphertext: []byte("rewrapped")}
	wrongOld := envelope.WrappedKey{MasterKeyID: k1.Wrapped.MasterKeyID, Ciphertext: []byte("not what is stored")}
	wantErr(t, "ReplaceWrapped of a changed key", p.ReplaceWrapped(ctx, "m1", 1, wrongOld, rewrapped), envelope.ErrKeyChanged)
	wantErr(t, "ReplaceWrapped with an empty old wrap", p.ReplaceWrapped(ctx, "m1", 1, envelope.WrappedKey{}, rewrapped), envelope.ErrKeyChanged)
	wantErr(t, "ReplaceWrapped of a missing version", p.ReplaceWrapped(ctx, "m1", 9, k1.Wrapped, rewrapped), envelope.ErrKeyChanged)
	if err := p.ReplaceWrapped(ctx, "m1", 1, k1.Wrapped, envelope.WrappedKey{MasterKeyID: "x"}); err == nil || errors.Is(err, envelope.ErrKeyChanged) {
		t.Fatalf("ReplaceWrapped with an empty replacement = %v, want an internal error", err)
	}
	must(t, p.ReplaceWrapped(ctx, "m1", 1, k1.Wrapped, rewrapped))
	wantErr(t, "ReplaceWrapped from the replaced wrap", p.ReplaceWrapped(ctx, "m1", 1, k1.Wrapped, rewrapped), envelope.ErrKeyChanged)
	k1.Wrapped = rewrapped
	got, err = p.KeyVersion(ctx, "m1", 1)
	must(t, err)
	checkKey(t, got, k1)

	must(t, p.DestroyKey(ctx, "m1", 1))
	must(t, p.DestroyKey(ctx, "m1", 1)) // already gone: success
	_, err = p.KeyVersion(ctx, "m1", 1)
	wantErr(t, "KeyVersion of a destroyed version", err, envelope.ErrNoKey)
	keys, err = p.Keys(ctx, "m1")
	must(t, err)
	if len(keys) != 1 || keys[0].Version != 2 {
		t.Fatalf("Keys after destroying version 1 = %+v", keys)
	}
}

func testShredding(t *testing.T, p Ports, clock *Clock) {
	must(t, p.CreateKey(ctx, storedKey("m1", 1, clock.Now())))
	if shredded, err := p.Shredded(ctx, "m1"); err != nil || shredded {
		t.Fatalf("Shredded before MarkShredded = %v, %v", shredded, err)
	}
	must(t, p.MarkShredded(ctx, "m1", clock.Now()))
	must(t, p.MarkShredded(ctx, "m1", clock.Now().Add(time.Hour))) // twice: no error
	if shredded, err := p.Shredded(ctx, "m1"); err != nil || !shredded {
		t.Fatalf("Shredded after MarkShredded = %v, %v", shredded, err)
	}
	_, err := p.LatestKey(ctx, "m1")
	wantErr(t, "LatestKey of a shredded merchant", err, envelope.ErrShredded)
	wantErr(t, "CreateKey for a shredded merchant", p.CreateKey(ctx, storedKey("m1", 2, clock.Now())), envelope.ErrShredded)
	_, err = p.KeyVersion(ctx, "m1", 2)
	wantErr(t, "KeyVersion of a key made after shredding", err, envelope.ErrNoKey)
	if shredded, err := p.Shredded(ctx, "m2"); err != nil || shredded {
		t.Fatalf("another merchant is shredded: %v, %v", shredded, err)
	}
}

func testMerchantDirectory(t *testing.T, p Ports, clock *Clock) {
	want := []string{"m-a", "m-b", "m-c"}
	for _, m := range want {
		must(t, p.CreateKey(ctx, storedKey(m, 1, clock.Now())))
		must(t, p.CreateKey(ctx, storedKey(m, 2, clock.Now())))
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("Merchants never ends")
		}
		ids, next, err := p.Merchants(ctx, cursor, 2)
		must(t, err)
		if len(ids) > 2 {
			t.Fatalf("Merchants returned %d ids for a limit of 2", len(ids))
		}
		got = append(got, ids...)
		if next == "" {
			break
		}
		cursor = next
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("Merchants listed %v, want each of %v once", got, want)
	}
	if _, _, err := p.Merchants(ctx, "!not a cursor!", 2); err == nil {
		t.Fatal("Merchants accepted a malformed cursor")
	}
}

func testRotationState(t *testing.T, p Ports, clock *Clock) {
	st, err := p.RotationState(ctx, "m1")
	must(t, err)
	if st.MerchantID != "m1" || st.Running || st.Revision != 0 {
		t.Fatalf("RotationState of none = %+v, want the zero state of m1", st)
	}
	next := vault.RotationState{MerchantID: "m1", Running: true, TargetVersion: 2, StartedAt: clock.Now(),
		PassStartedAt: clock.Now().Add(time.Second), Cursor: "c1", Reencrypted: 5, PassMoved: 3}
	must(t, p.SaveRotationState(ctx, next))
	wantErr(t, "second save from revision 0", p.SaveRotationState(ctx, next), vault.ErrConflict)
	st, err = p.RotationState(ctx, "m1")
	must(t, err)
	if st.Revision != 1 || !st.Running || st.TargetVersion != 2 || !st.StartedAt.Equal(next.StartedAt) ||
		!st.PassStartedAt.Equal(next.PassStartedAt) || st.Cursor != "c1" || st.Reencrypted != 5 || st.PassMoved != 3 {
		t.Fatalf("RotationState read back as %+v after saving %+v", st, next)
	}
	st.Running, st.Cursor = false, ""
	must(t, p.SaveRotationState(ctx, st))
	wantErr(t, "save from a stale revision", p.SaveRotationState(ctx, st), vault.ErrConflict)
	st, err = p.RotationState(ctx, "m1")
	must(t, err)
	if st.Revision != 2 || st.Running || st.Cursor != "" {
		t.Fatalf("RotationState after the second save = %+v", st)
	}
	if err := p.SaveRotationState(ctx, vault.RotationState{}); err == nil {
		t.Fatal("SaveRotationState accepted a state without merchant")
	}
}

func testRotationStateRace(t *testing.T, p Ports, _ *Clock) {
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.SaveRotationState(ctx, vault.RotationState{MerchantID: "m1", Running: true, TargetVersion: uint32(i + 2)}) // #nosec G115 -- a small test index or version
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, vault.ErrConflict):
			t.Fatal(err)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent saves from revision 0 won, want exactly 1", won)
	}
}

// listAll walks a listing (RecordsBelow, or RecordsOf when below is 0) a
// record at a time.
func listAll(t *testing.T, p Ports, merchant string, below uint32) []vault.SealedRecord {
	t.Helper()
	var all []vault.SealedRecord
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("listing never ends")
		}
		var recs []vault.SealedRecord
		var next string
		var err error
		if below == 0 {
			recs, next, err = p.RecordsOf(ctx, merchant, cursor, 1)
		} else {
			recs, next, err = p.RecordsBelow(ctx, merchant, below, cursor, 1)
		}
		must(t, err)
		if len(recs) > 1 {
			t.Fatalf("listing returned %d records for a limit of 1", len(recs))
		}
		all = append(all, recs...)
		if next == "" {
			return all
		}
		cursor = next
	}
}

func countOf(t *testing.T, p Ports, merchant string, version uint32) int {
	t.Helper()
	n, err := p.CountRecords(ctx, merchant, version)
	must(t, err)
	return n
}

func ids(recs []vault.SealedRecord) []string {
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Ref.Type)+":"+r.Ref.ID)
	}
	slices.Sort(out)
	return out
}

// records stores, for m1: cards a (key version 1) and b (2), secret
// versions s/1 (1) and s/2 (2); for m2: card c (1).
func records(t *testing.T, p Ports, clock *Clock) (a, b vault.CardRecord, s1, s2 vault.SecretRecord) {
	t.Helper()
	a = cardRecord("m1", token("a"), 1, clock.Now())
	b = cardRecord("m1", token("b"), 2, clock.Now())
	vaultCard(t, p, a)
	vaultCard(t, p, b)
	vaultCard(t, p, cardRecord("m2", token("c"), 1, clock.Now()))
	s1 = secretRecord("m1", "s", 1, 1, clock.Now())
	s2 = secretRecord("m1", "s", 2, 2, clock.Now())
	must(t, p.CreateSecretVersion(ctx, s1))
	must(t, p.CreateSecretVersion(ctx, s2))
	return a, b, s1, s2
}

func testRecordListing(t *testing.T, p Ports, clock *Clock) {
	a, b, _, _ := records(t, p, clock)
	card := string(envelope.RecordCard) + ":"
	secret := string(envelope.RecordSecret) + ":"
	below2 := listAll(t, p, "m1", 2)
	if got, want := ids(below2), []string{card + a.Token, secret + "s/1"}; !slices.Equal(got, want) {
		t.Fatalf("RecordsBelow(m1, 2) = %v, want %v", got, want)
	}
	for _, r := range below2 {
		if r.KeyVersion != 1 || r.Ref.MerchantID != "m1" || len(r.Sealed) == 0 || r.Key == "" {
			t.Fatalf("listed record %+v lacks what a reseal needs", r)
		}
	}
	if got, want := ids(listAll(t, p, "m1", 0)), []string{card + a.Token, card + b.Token, secret + "s/1", secret + "s/2"}; !slices.Equal(got, want) {
		t.Fatalf("RecordsOf(m1) = %v, want %v", got, want)
	}
	if recs, next, err := p.RecordsBelow(ctx, "m1", 0, "", 10); err != nil || len(recs) != 0 || next != "" {
		t.Fatalf("RecordsBelow(m1, 0) = %v, %q, %v; want nothing", recs, next, err)
	}
	if got := ids(listAll(t, p, "m3", 0)); len(got) != 0 {
		t.Fatalf("RecordsOf a merchant without records = %v", got)
	}
	if n1, n2, n3 := countOf(t, p, "m1", 1), countOf(t, p, "m1", 2), countOf(t, p, "m1", 3); n1 != 2 || n2 != 2 || n3 != 0 {
		t.Fatalf("CountRecords(m1) by version = %d, %d, %d; want 2, 2, 0", n1, n2, n3)
	}
	if n := countOf(t, p, "m2", 1); n != 1 {
		t.Fatalf("CountRecords(m2, 1) = %d, want 1", n)
	}
	if _, _, err := p.RecordsOf(ctx, "m1", "!not a cursor!", 1); err == nil {
		t.Fatal("RecordsOf accepted a malformed cursor")
	}
}

func testReseal(t *testing.T, p Ports, clock *Clock) {
	a, _, _, _ := records(t, p, clock)
	below := listAll(t, p, "m1", 2)
	if len(below) != 2 {
		t.Fatalf("RecordsBelow(m1, 2) = %v", ids(below))
	}
	for _, rec := range below {
		if err := p.ResealRecord(ctx, rec, nil, 2); err == nil || errors.Is(err, vault.ErrConflict) {
			t.Fatalf("ResealRecord with an empty ciphertext = %v, want an internal error", err)
		}
		must(t, p.ResealRecord(ctx, rec, []byte("resealed:"+rec.Ref.ID), 2))
		// The listed ciphertext is gone: a second reseal from it loses.
		wantErr(t, "ResealRecord from a stale listing", p.ResealRecord(ctx, rec, []byte("again"), 3), vault.ErrConflict)
		empty := rec
		empty.Sealed = nil
		wantErr(t, "ResealRecord of an empty listed ciphertext", p.ResealRecord(ctx, empty, []byte("x"), 3), vault.ErrConflict)
		theirs := rec
		theirs.Ref.MerchantID = "m2"
		if err := p.ResealRecord(ctx, theirs, []byte("x"), 3); err == nil {
			t.Fatal("ResealRecord wrote a record under another merchant's reference")
		}
	}
	got, err := p.Card(ctx, a.Token)
	must(t, err)
	if got.KeyVersion != 2 || string(got.Sealed) != "resealed:"+a.Token {
		t.Fatalf("card after reseal: key version %d, sealed %q", got.KeyVersion, got.Sealed)
	}
	if n1, n2 := countOf(t, p, "m1", 1), countOf(t, p, "m1", 2); n1 != 0 || n2 != 4 {
		t.Fatalf("CountRecords(m1) after resealing = %d at 1, %d at 2; want 0 and 4", n1, n2)
	}
	if recs := listAll(t, p, "m1", 2); len(recs) != 0 {
		t.Fatalf("RecordsBelow(m1, 2) after resealing = %v", ids(recs))
	}

	// A record replaced or deleted since it was listed keeps the other
	// writer's content.
	listed := listAll(t, p, "m1", 3)
	for _, rec := range listed {
		if rec.Ref.ID != a.Token {
			continue
		}
		replaced := got
		replaced.Sealed = []byte("a newer write")
		must(t, p.ReplaceCard(ctx, replaced))
		wantErr(t, "ResealRecord of a replaced card", p.ResealRecord(ctx, rec, []byte("x"), 3), vault.ErrConflict)
		must(t, p.DeleteCard(ctx, replaced))
		wantErr(t, "ResealRecord of a deleted card", p.ResealRecord(ctx, rec, []byte("x"), 3), vault.ErrConflict)
	}
	must(t, p.PruneSecretVersions(ctx, "m1", "s", 2))
	for _, rec := range listed {
		if rec.Ref.ID == vault.SecretRecordID("s", 1) {
			wantErr(t, "ResealRecord of a pruned version", p.ResealRecord(ctx, rec, []byte("x"), 3), vault.ErrConflict)
		}
	}
}

func testDeleteRecord(t *testing.T, p Ports, clock *Clock) {
	a, b, _, _ := records(t, p, clock)
	for _, rec := range listAll(t, p, "m1", 0) {
		if rec.Ref.Type == envelope.RecordCard {
			// Listed as another merchant's, the card is left alone.
			theirs := rec
			theirs.Ref.MerchantID = "m2"
			must(t, p.DeleteRecord(ctx, theirs))
			if _, err := p.Card(ctx, rec.Ref.ID); err != nil {
				t.Fatalf("DeleteRecord under another merchant removed the card: %v", err)
			}
		}
		must(t, p.DeleteRecord(ctx, rec))
		must(t, p.DeleteRecord(ctx, rec)) // already gone: success
	}
	for _, tok := range []string{a.Token, b.Token} {
		_, err := p.Card(ctx, tok)
		wantErr(t, "Card after DeleteRecord", err, vault.ErrNotFound)
	}
	_, err := p.LatestSecret(ctx, "m1", "s")
	wantErr(t, "LatestSecret after deleting every version", err, vault.ErrNotFound)
	if recs := listAll(t, p, "m1", 0); len(recs) != 0 {
		t.Fatalf("RecordsOf(m1) after deleting each = %v", ids(recs))
	}
	// The index entries went with the cards.
	if existing, err := p.ClaimCardIndex(ctx, indexKeyOf(a), token("z"), time.Time{}); err != nil {
		t.Fatalf("claim after DeleteRecord = %q, %v; want the entry gone", existing, err)
	}
	// The other merchant's card stays.
	if _, err := p.Card(ctx, token("c")); err != nil {
		t.Fatalf("another merchant's card after the purge: %v", err)
	}
}

func testPurgeExpired(t *testing.T, p Ports, clock *Clock) {
	dying := cardRecord("m1", token("a"), 1, clock.Now())
	dying.ExpiresAt = clock.Now().Add(time.Minute)
	vaultCard(t, p, dying)
	lasting := cardRecord("m1", token("b"), 1, clock.Now())
	lasting.ExpiresAt = clock.Now().Add(time.Hour)
	vaultCard(t, p, lasting)
	forever := cardRecord("m1", token("c"), 1, clock.Now())
	vaultCard(t, p, forever)
	must(t, p.Consume(ctx, "client-a", "jti-1", clock.Now().Add(time.Minute)))

	if n, err := p.PurgeExpired(ctx, clock.Now(), 100); err != nil || n != 0 {
		t.Fatalf("PurgeExpired before anything expired = %d, %v", n, err)
	}
	clock.Advance(2 * time.Minute)
	if n, err := p.PurgeExpired(ctx, clock.Now(), 1); err != nil || n != 1 {
		t.Fatalf("PurgeExpired with a limit of 1 = %d, %v", n, err)
	}
	if n, err := p.PurgeExpired(ctx, clock.Now(), 100); err != nil || n == 0 {
		t.Fatalf("PurgeExpired of the rest = %d, %v", n, err)
	}
	if n, err := p.PurgeExpired(ctx, clock.Now(), 100); err != nil || n != 0 {
		t.Fatalf("PurgeExpired with nothing left = %d, %v", n, err)
	}
	_, err := p.Card(ctx, dying.Token)
	wantErr(t, "Card after its purge", err, vault.ErrNotFound)
	for _, rec := range []vault.CardRecord{lasting, forever} {
		if _, err := p.Card(ctx, rec.Token); err != nil {
			t.Fatalf("a live card was purged: %v", err)
		}
	}
	if existing, err := p.ClaimCardIndex(ctx, indexKeyOf(dying), token("d"), time.Time{}); err != nil {
		t.Fatalf("claim after the purge = %q, %v", existing, err)
	}
}
