package client

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// TestKeyChecksSayWhichKeyAndWhy pins the messages of the key checks: an
// operator reads them to fix a credentials file or a registry entry.
func TestKeyChecksSayWhichKeyAndWhy(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	short, err := rsa.GenerateKey(rand.Reader, 1024) // #nosec G403 -- a too-short key the checks must refuse
	if err != nil {
		t.Fatal(err)
	}
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p256, rsa2048 := mustEC(t), mustRSA(t)
	jwk := func(key any, alg string) *jose.JSONWebKey {
		return &jose.JSONWebKey{Key: key, KeyID: "k1", Algorithm: alg}
	}
	sigErr := func(k *jose.JSONWebKey) error { _, err := signatureAlgorithm(k); return err }
	encErr := func(k *jose.JSONWebKey) error { _, err := encryptionAlgorithm(k); return err }
	vaultErr := func(k *jose.JSONWebKey) error { _, err := vaultSignatureAlgorithm(k); return err }

	for _, tc := range []struct {
		name  string
		check func(*jose.JSONWebKey) error
		key   *jose.JSONWebKey
		want  string
	}{
		{"signing P-384", sigErr, jwk(p384, ""), `signing key "k1": EC key must be on P-256`},
		{"signing public P-384", sigErr, jwk(&p384.PublicKey, ""), `signing key "k1": EC key must be on P-256`},
		{"signing RSA 1024", sigErr, jwk(short, "PS256"), `signing key "k1": RSA key shorter than 2048 bits`},
		{"signing public RSA 1024", sigErr, jwk(&short.PublicKey, "PS256"), `signing key "k1": RSA key shorter than 2048 bits`},
		{"signing RSA without alg", sigErr, jwk(rsa2048, ""), `signing key "k1": RSA key must name its alg (PS256 or RS256)`},
		{"signing alg mismatch", sigErr, jwk(p256, "EdDSA"), `signing key "k1": alg "EdDSA" does not fit the key`},
		{"signing symmetric", sigErr, jwk([]byte("0123456789abcdef"), ""), `signing key "k1": unsupported key type`},
		{"encryption P-384", encErr, jwk(p384, ""), `encryption key "k1": EC key must be on P-256`},
		{"encryption public RSA 1024", encErr, jwk(&short.PublicKey, ""), `encryption key "k1": RSA key shorter than 2048 bits`},
		{"encryption Ed25519", encErr, jwk(edPriv, ""), `encryption key "k1": unsupported key type`},
		{"encryption alg mismatch", encErr, jwk(p256, KeyAlgRSA), `encryption key "k1": alg "RSA-OAEP-256" does not fit the key`},
		{"vault P-384", vaultErr, jwk(&p384.PublicKey, ""), `vault signing key "k1": EC key must be on P-256`},
		{"vault RSA 1024", vaultErr, jwk(&short.PublicKey, ""), `vault signing key "k1": RSA key shorter than 2048 bits`},
		{"vault private key", vaultErr, jwk(p256, ""), `vault signing key "k1": unsupported key type`},
		{"vault Ed25519", vaultErr, jwk(edPriv.Public(), ""), `vault signing key "k1": unsupported key type`},
		{"vault alg mismatch", vaultErr, jwk(&rsa2048.PublicKey, "RS256"), `vault signing key "k1": alg "RS256" is not allowed`},
	} {
		if err := tc.check(tc.key); err == nil || err.Error() != tc.want {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}

	for _, tc := range []struct {
		name string
		alg  func(*jose.JSONWebKey) (string, error)
		key  *jose.JSONWebKey
		want string
	}{
		{"signing P-256", asString(signatureAlgorithm), jwk(p256, ""), "ES256"},
		{"signing RSA RS256", asString(signatureAlgorithm), jwk(rsa2048, "RS256"), "RS256"},
		{"signing Ed25519", asString(signatureAlgorithm), jwk(edPriv, ""), "EdDSA"},
		{"encryption P-256", asString(encryptionAlgorithm), jwk(p256, ""), KeyAlgECDH},
		{"encryption RSA", asString(encryptionAlgorithm), jwk(&rsa2048.PublicKey, ""), KeyAlgRSA},
		{"vault P-256", asString(vaultSignatureAlgorithm), jwk(&p256.PublicKey, "ES256"), "ES256"},
		{"vault RSA", asString(vaultSignatureAlgorithm), jwk(&rsa2048.PublicKey, ""), "PS256"},
	} {
		if got, err := tc.alg(tc.key); err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

// asString lets one table hold the JWS and JWE algorithm choices.
func asString[A ~string](choose func(*jose.JSONWebKey) (A, error)) func(*jose.JSONWebKey) (string, error) {
	return func(k *jose.JSONWebKey) (string, error) {
		alg, err := choose(k)
		return string(alg), err
	}
}
