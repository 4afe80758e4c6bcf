package inproc

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/cardvault/vault/bench/internal/fixture"
	"github.com/cardvault/vault/bench/internal/kmssim"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/memstore"
	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vault"
)

// opsPerRound is the unit the KMS figures are given in.
const opsPerRound = 1000

// BenchmarkKMSPer1000 runs 1,000 vault and 1,000 reveal operations for
// one merchant, each round starting from a cold key cache (a fresh
// process), with every key service call taking kmssim.RoundTrip:
//
//	vault/*  this vault's operations (vault.CardVault over in-memory ports),
//	         keys from envelope.Manager
//	tink/*   Tink's KMS envelope AEAD (aead.NewKMSEnvelopeAEAD2, AES256_GCM
//	         DEKs) sealing and opening the same card plaintext
//
// Reported per round: kms-calls/1000ops, and ms/op, the mean time of one
// operation including its share of key service waits.
func BenchmarkKMSPer1000(b *testing.B) {
	b.Run("vault/vault-card", func(b *testing.B) { benchVaultKMS(b, false) })
	b.Run("vault/reveal-card", func(b *testing.B) { benchVaultKMS(b, true) })
	b.Run("tink/encrypt", func(b *testing.B) { benchTinkKMS(b, false) })
	b.Run("tink/decrypt", func(b *testing.B) { benchTinkKMS(b, true) })
}

func vaultInput(i int) vault.VaultCardInput {
	return vault.VaultCardInput{
		Caller:     vault.Caller{ClientID: fx.ClientEC.ID, MerchantID: fixture.Merchant, JTI: fixture.NewJTI()},
		CustomerID: fmt.Sprintf("cus_%d", i),
		Card: vault.CardInput{
			Number: secret.New(fixture.CardNumber), ExpMonth: 12, ExpYear: 2030,
			HolderName: secret.New("Jane Doe"),
		},
	}
}

func benchVaultKMS(b *testing.B, reveal bool) {
	keyring, err := kmssim.NewLocalKeyring(kmssim.RoundTrip)
	if err != nil {
		b.Fatal(err)
	}
	store := memstore.New()
	ctx := context.Background()
	// The merchant's key exists already (made by an earlier process), so
	// a cold process needs one unwrap for it.
	maker := vault.NewCardVault(store, store, store, envelope.NewManager(keyring, store, envelope.Options{}), time.Now)
	tokens := make([]string, opsPerRound)
	for i := range tokens {
		view, _, err := maker.VaultCard(ctx, vaultInput(i))
		if err != nil {
			b.Fatal(err)
		}
		tokens[i] = view.Token
	}
	var calls int64
	var elapsed time.Duration
	rounds := 0
	for b.Loop() {
		cv := vault.NewCardVault(store, store, store, envelope.NewManager(keyring, store, envelope.Options{}), time.Now)
		keyring.Reset()
		start := time.Now()
		for i := range opsPerRound {
			if reveal {
				c := vault.Caller{ClientID: fx.ClientEC.ID, MerchantID: fixture.Merchant, JTI: fixture.NewJTI()}
				if _, _, err := cv.RevealCard(ctx, c, tokens[i]); err != nil {
					b.Fatal(err)
				}
			} else if _, _, err := cv.VaultCard(ctx, vaultInput(opsPerRound*(rounds+1)+i)); err != nil {
				b.Fatal(err)
			}
		}
		elapsed += time.Since(start)
		calls += keyring.Calls()
		rounds++
	}
	reportKMS(b, calls, elapsed, rounds)
}

// cardPlaintext is what the vault seals for fixture.CardNumber: it is
// read back from a real record so both sides seal the same bytes.
func cardPlaintext(tb testing.TB) []byte {
	pt, _ := cardRecord(tb)
	return pt
}

// cardRecord vaults fixture.CardNumber and returns the record's plaintext
// and its stored ciphertext.
func cardRecord(tb testing.TB) (plaintext, sealed []byte) {
	tb.Helper()
	store := memstore.New()
	keyring, err := kmssim.NewLocalKeyring(0)
	if err != nil {
		tb.Fatal(err)
	}
	keys := envelope.NewManager(keyring, store, envelope.Options{})
	view, _, err := vault.NewCardVault(store, store, store, keys, time.Now).VaultCard(context.Background(), vaultInput(0))
	if err != nil {
		tb.Fatal(err)
	}
	rec, err := store.Card(context.Background(), view.Token)
	if err != nil {
		tb.Fatal(err)
	}
	k, _, err := keys.Version(context.Background(), fixture.Merchant, rec.KeyVersion)
	if err != nil {
		tb.Fatal(err)
	}
	pt, err := k.Open(envelope.RecordRef{Type: envelope.RecordCard, MerchantID: fixture.Merchant, ID: rec.Token, Clear: vault.CardClearFields(rec)}, rec.Sealed)
	if err != nil {
		tb.Fatal(err)
	}
	return pt, rec.Sealed
}

func newTinkEnvelope(tb testing.TB, delay time.Duration) (tink.AEAD, *kmssim.RemoteAEAD) {
	tb.Helper()
	remote, err := kmssim.NewRemoteAEAD(delay)
	if err != nil {
		tb.Fatal(err)
	}
	return aead.NewKMSEnvelopeAEAD2(aead.AES256GCMKeyTemplate(), remote), remote
}

// tinkAAD binds a ciphertext to its record as the vault's AAD does.
func tinkAAD(i int) []byte {
	return fmt.Appendf(nil, "card|%s|tok_%d", fixture.Merchant, i)
}

func benchTinkKMS(b *testing.B, decrypt bool) {
	plaintext := cardPlaintext(b)
	env, remote := newTinkEnvelope(b, kmssim.RoundTrip)
	sealed := make([][]byte, opsPerRound)
	if decrypt {
		for i := range sealed {
			var err error
			if sealed[i], err = env.Encrypt(plaintext, tinkAAD(i)); err != nil {
				b.Fatal(err)
			}
		}
	}
	var calls int64
	var elapsed time.Duration
	rounds := 0
	for b.Loop() {
		remote.Reset()
		start := time.Now()
		for i := range opsPerRound {
			var err error
			if decrypt {
				_, err = env.Decrypt(sealed[i], tinkAAD(i))
			} else {
				_, err = env.Encrypt(plaintext, tinkAAD(i))
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		elapsed += time.Since(start)
		calls += remote.Calls()
		rounds++
	}
	reportKMS(b, calls, elapsed, rounds)
}

func reportKMS(b *testing.B, calls int64, elapsed time.Duration, rounds int) {
	b.ReportMetric(float64(calls)/float64(rounds), "kms-calls/1000ops")
	b.ReportMetric(float64(elapsed.Microseconds())/1000/float64(rounds*opsPerRound), "ms/op")
	b.ReportMetric(0, "ns/op")
}
