package localmode_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/awsfake"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/envelope/kmskeyring"
	"github.com/cardvault/vault/shared/internal/dynalite"
	"github.com/cardvault/vault/shared/store"
	"github.com/cardvault/vault/shared/vault"
)

// TestReWrapMovesEveryKeyToTheNewKMSKey: after the KMS key in
// configuration changes, the scheduled run re-wraps every stored merchant
// key under the new key (KMS ReEncrypt, the plaintext never leaves KMS),
// records untouched, and the keys then unwrap with the new key only.
func TestReWrapMovesEveryKeyToTheNewKMSKey(t *testing.T) {
	ctx := context.Background()
	kms := awsfake.NewKMS(t)
	oldARN, newARN := kms.CreateKey(), kms.CreateKey()
	client := awsfake.NewKMSClient(t, kms.URL)
	db := store.NewLocalClient(dynalite.ForTest(t))
	table := "rewrap_" + time.Now().Format("150405.000000")
	if err := store.EnsureTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	st := store.New(db, table)

	oldRing := kmskeyring.New(client, oldARN)
	oldKeys := envelope.NewManager(oldRing, st, envelope.Options{})
	defer oldKeys.Close()
	sealed := map[string][]byte{}
	for _, m := range []string{"m_a", "m_b", "m_c"} {
		k, _, err := oldKeys.Primary(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		sealed[m], _ = k.Seal(envelope.RecordRef{Type: envelope.RecordCard, MerchantID: m, ID: "tok"}, []byte("record of "+m))
	}
	// A second version for one merchant, to re-wrap more than primaries.
	if _, _, err := envelope.NewLifecycle(oldRing, st, oldKeys).Rotate(ctx, "m_b"); err != nil {
		t.Fatal(err)
	}

	newRing := kmskeyring.New(client, newARN)
	newKeys := envelope.NewManager(newRing, st, envelope.Options{})
	defer newKeys.Close()
	life := vault.NewKeyLifecycle(newKeys, envelope.NewLifecycle(newRing, st, newKeys), st, st, st, nopWork{}, nil, time.Now, vault.LifecycleOptions{})
	res, err := life.RunWork(ctx, vault.WorkRequest{Action: vault.ActionReWrap})
	if err != nil {
		t.Fatal(err)
	}
	if res.ReWrapped != 4 {
		t.Fatalf("re-wrapped %d versions, want 4", res.ReWrapped)
	}
	if kms.Calls("ReEncrypt") != 4 {
		t.Fatalf("ReEncrypt calls: %d, want 4", kms.Calls("ReEncrypt"))
	}
	for _, req := range kms.Requests() {
		if req.Op == "ReEncrypt" && (req.DestinationKeyID != newARN || req.SourceEncryptionContext["purpose"] != "merchant-keys" ||
			req.DestinationEncryptionContext["merchant_id"] != req.SourceEncryptionContext["merchant_id"]) {
			t.Fatalf("ReEncrypt request: %+v", req)
		}
	}
	for _, m := range []string{"m_a", "m_b", "m_c"} {
		versions, err := st.Keys(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range versions {
			if k.Wrapped.MasterKeyID != newARN {
				t.Fatalf("%s v%d still wrapped under %s", m, k.Version, k.Wrapped.MasterKeyID)
			}
			// The old key cannot unwrap it any more.
			if _, _, err := oldRing.Unwrap(ctx, envelope.WrappedKey{MasterKeyID: oldARN, Ciphertext: k.Wrapped.Ciphertext}, envelope.EncryptionContext{
				envelope.ContextMerchant: m, envelope.ContextPurpose: envelope.PurposeMerchantKeys, envelope.ContextKeyVersion: itoa(k.Version)}); err == nil {
				t.Fatalf("%s v%d unwraps with the old KMS key", m, k.Version)
			}
		}
		keys, _, err := newKeys.Version(ctx, m, 1)
		if err != nil {
			t.Fatalf("%s: unwrap with the new key: %v", m, err)
		}
		if pt, err := keys.Open(envelope.RecordRef{Type: envelope.RecordCard, MerchantID: m, ID: "tok"}, sealed[m]); err != nil || string(pt) != "record of "+m {
			t.Fatalf("%s: record no longer opens after re-wrap: %v", m, err)
		}
	}
	// A second run has nothing left to do.
	if res, err := life.RunWork(ctx, vault.WorkRequest{Action: vault.ActionReWrap}); err != nil || res.ReWrapped != 0 {
		t.Fatalf("second re-wrap: %+v %v", res, err)
	}
}

func itoa(v uint32) string {
	return strconv.FormatUint(uint64(v), 10)
}
