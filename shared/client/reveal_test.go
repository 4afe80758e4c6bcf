package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func TestRevealCardDecryptsAndVerifies(t *testing.T) {
	for _, encAlg := range []string{KeyAlgECDH, KeyAlgRSA} {
		t.Run(encAlg, func(t *testing.T) {
			creds := newTestCreds(t, encAlg)
			fv := newFakeVault(t, creds)
			got, err := fv.client(creds).RevealCard(context.Background(), testMerchant, "tok_1")
			if err != nil {
				t.Fatalf("RevealCard: %v", err)
			}
			if got.Card.Number.Reveal() != testPAN || got.Card.HolderName.Reveal() != testHolder ||
				got.Card.ExpMonth != 12 || got.Card.ExpYear != 2030 || got.Token != "tok_1" || got.MerchantID != testMerchant {
				t.Errorf("revealed card does not match")
			}
			if n := fv.fetches(); n != 1 {
				t.Errorf("JWKS fetched %d times, want 1", n)
			}
		})
	}
}

func TestRevealSecretDecryptsAndVerifies(t *testing.T) {
	creds := newTestCreds(t, KeyAlgECDH)
	fv := newFakeVault(t, creds)
	got, err := fv.client(creds).RevealSecret(context.Background(), testMerchant, "api_key")
	if err != nil {
		t.Fatalf("RevealSecret: %v", err)
	}
	if got.Value.Reveal() != testSecretValue || got.Version != 2 || got.Name != "api_key" || got.MerchantID != testMerchant {
		t.Errorf("revealed secret does not match")
	}
}

func TestRevealRejectsUnverifiableAnswers(t *testing.T) {
	rogue := jose.JSONWebKey{Key: mustEC(t), KeyID: "rogue-sig", Use: "sig", Algorithm: "ES256"}
	tests := []struct {
		name        string
		tamper      func(fv *fakeVault)
		wantFetches int
	}{
		{"signed by a key not in the JWKS", func(fv *fakeVault) { fv.answerSigner = &rogue }, 2},
		{"signed by another key under the vault kid", func(fv *fakeVault) {
			impostor := jose.JSONWebKey{Key: mustEC(t), KeyID: fv.sig.KeyID, Use: "sig", Algorithm: "ES256"}
			fv.answerSigner = &impostor
		}, 1},
		{"audience is another client", func(fv *fakeVault) { fv.answerAud = "other-app" }, 1},
		{"jti of another request", func(fv *fakeVault) { fv.answerJTI = "b2c1d4e5f6a7b8c9d0e1f2" }, 1},
		{"issuer is not the vault", func(fv *fakeVault) { fv.answerIss = "not-the-vault" }, 1},
		{"token of another card", func(fv *fakeVault) { fv.answerToken = "tok_other" }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			creds := newTestCreds(t, KeyAlgECDH)
			fv := newFakeVault(t, creds)
			fv.configure(tt.tamper)
			got, err := fv.client(creds).RevealCard(context.Background(), testMerchant, "tok_1")
			if !errors.Is(err, ErrInvalidAnswer) || got != nil {
				t.Fatalf("RevealCard = %v, %v; want ErrInvalidAnswer", got, err)
			}
			if msg := err.Error(); strings.Contains(msg, testPAN) || strings.Contains(msg, testHolder) || strings.Contains(msg, "eyJ") {
				t.Errorf("error carries answer content: %s", msg)
			}
			if n := fv.fetches(); n != tt.wantFetches {
				t.Errorf("JWKS fetched %d times, want %d", n, tt.wantFetches)
			}
		})
	}
}

func TestRevealFollowsARotatedVaultSigningKey(t *testing.T) {
	creds := newTestCreds(t, KeyAlgECDH)
	fv := newFakeVault(t, creds)
	c := fv.client(creds)
	if err := c.RefreshKeys(context.Background()); err != nil {
		t.Fatal(err)
	}
	rotated := jose.JSONWebKey{Key: mustEC(t), KeyID: "vault-sig-2", Use: "sig", Algorithm: "ES256"}
	fv.configure(func(fv *fakeVault) { fv.extraSig, fv.answerSigner = &rotated, &rotated })
	got, err := c.RevealSecret(context.Background(), testMerchant, "api_key")
	if err != nil {
		t.Fatalf("RevealSecret after vault key rotation: %v", err)
	}
	if got.Value.Reveal() != testSecretValue {
		t.Error("value does not match")
	}
	if n := fv.fetches(); n != 2 {
		t.Errorf("JWKS fetched %d times, want 2 (cache, then one refetch for the new kid)", n)
	}
}

func TestVaultJWKSWithPrivateMembersIsRefused(t *testing.T) {
	leaked := jose.JSONWebKey{Key: mustEC(t), KeyID: "vault-sig-1", Use: "sig", Algorithm: "ES256"}
	raw, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{leaked}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseVaultJWKS(raw); err == nil || !strings.Contains(err.Error(), "private key material") {
		t.Errorf("parseVaultJWKS = %v, want a refusal", err)
	}
}

func TestVaultJWKSSkipsKeysItCannotUse(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	wrongCurve, err := json.Marshal(jose.JSONWebKey{Key: p384.Public(), KeyID: "p384", Use: "enc"})
	if err != nil {
		t.Fatal(err)
	}
	noKID, err := json.Marshal(jose.JSONWebKey{Key: mustEC(t).Public(), Use: "enc"})
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte(`{"keys":[{"kty":"future-kty","kid":"future","use":"enc"},` + string(wrongCurve) + `,` + string(noKID) + `]}`)
	keys, err := parseVaultJWKS(raw)
	if err != nil {
		t.Fatalf("parseVaultJWKS: %v", err)
	}
	if _, ok := keys.encryptionKey(jose.ECDH_ES_A256KW, false); ok {
		t.Error("an unusable key was chosen")
	}
}
