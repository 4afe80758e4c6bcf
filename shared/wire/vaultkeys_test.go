package wire

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func TestGeneratedVaultKeys(t *testing.T) {
	f := mustFixture(t)
	if f.vaultRSAKid == "" || f.vaultECKid == "" || f.vaultRSAKid == f.vaultECKid {
		t.Fatalf("want distinct RSA and EC enc kids, got %q %q", f.vaultRSAKid, f.vaultECKid)
	}
	if !strings.HasPrefix(f.vaultRSAKid, "vault-enc-rsa-") || !strings.HasPrefix(f.vault.SigningKeyID(), "vault-sig-") {
		t.Fatalf("unexpected kids %q %q", f.vaultRSAKid, f.vault.SigningKeyID())
	}
	if len(f.vaultPublic.Keys) != 3 {
		t.Fatalf("want 3 public keys, got %d", len(f.vaultPublic.Keys))
	}
}

func TestPublicJWKSHasNoPrivateMembers(t *testing.T) {
	f := mustFixture(t)
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(f.vault.PublicJWKS(), &doc); err != nil {
		t.Fatalf("public JWKS: %v", err)
	}
	for _, key := range doc.Keys {
		for _, name := range privateMembers {
			if _, ok := key[name]; ok {
				t.Fatalf("key %v has private member %q", key["kid"], name)
			}
		}
		for _, name := range []string{"kid", "use", "alg"} {
			if s, _ := key[name].(string); s == "" {
				t.Fatalf("key %v lacks %q", key["kid"], name)
			}
		}
	}
	for _, k := range f.vaultPublic.Keys {
		if !k.IsPublic() {
			t.Fatalf("key %q is not public", k.KeyID)
		}
	}
}

// privateJWK is the stored form of a vault key.
func privateJWK(t *testing.T, key any, kid, use, alg string) json.RawMessage {
	t.Helper()
	b, err := jose.JSONWebKey{Key: key, KeyID: kid, Use: use, Algorithm: alg}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseVaultKeys(t *testing.T) {
	f := mustFixture(t)
	ecEnc := privateJWK(t, f.ecClientEnc, "enc-ec", "enc", "ECDH-ES+A256KW")
	rsaEnc := privateJWK(t, f.appEnc, "enc-rsa", "enc", "RSA-OAEP-256")
	sigA := privateJWK(t, f.ecSig, "sig-a", "sig", "ES256")
	sigB := privateJWK(t, f.rsaSig, "sig-b", "sig", "PS256")
	sigBPublic := publicJWK(f.rsaSig, "sig-b", "sig", "PS256")
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var members map[string]any
	_ = json.Unmarshal(sigA, &members)
	secretD := members["d"].(string)

	doc := func(signingKID string, keys ...json.RawMessage) string {
		m := map[string]any{"keys": keys}
		if signingKID != "" {
			m["signing_kid"] = signingKID
		}
		return string(mustJSON(m))
	}
	cases := []struct {
		name    string
		doc     string
		signing string   // accepted with this signing kid
		want    []string // refused, error mentions these
	}{
		{name: "one of each", doc: doc("", ecEnc, rsaEnc, sigA), signing: "sig-a"},
		{name: "signing_kid chooses", doc: doc("sig-b", ecEnc, sigA, sigB), signing: "sig-b"},
		{name: "retired signing key may be public", doc: doc("sig-a", ecEnc, sigA, sigBPublic), signing: "sig-a"},
		{name: "several signing keys, none chosen", doc: doc("", ecEnc, sigA, sigB), want: []string{"signing_kid"}},
		{name: "signing_kid unknown", doc: doc("sig-z", ecEnc, sigA), want: []string{`"sig-z"`}},
		{name: "signing key public only", doc: doc("sig-b", ecEnc, sigA, sigBPublic), want: []string{`"sig-b"`, "private"}},
		{name: "no encryption key", doc: doc("", sigA), want: []string{"no encryption key"}},
		{name: "no signing key", doc: doc("", ecEnc), want: []string{"no signing key"}},
		{name: "duplicate kid", doc: doc("", ecEnc, sigA, privateJWK(t, f.limitedSig, "enc-ec", "enc", "ECDH-ES+A256KW")), want: []string{`"enc-ec"`, "duplicate"}},
		{name: "missing kid", doc: doc("", ecEnc, privateJWK(t, f.ecSig, "", "sig", "ES256")), want: []string{"key 1", "kid is required"}},
		{name: "missing use", doc: doc("", ecEnc, privateJWK(t, f.ecSig, "s", "", "ES256")), want: []string{`"s"`, "use"}},
		{name: "missing alg", doc: doc("", ecEnc, privateJWK(t, f.ecSig, "s", "sig", "")), want: []string{`"s"`, "alg is required"}},
		{name: "enc key without private part", doc: doc("", publicJWK(f.ecClientEnc, "e", "enc", "ECDH-ES+A256KW"), sigA), want: []string{`"e"`, "private"}},
		{name: "enc alg not fitting", doc: doc("", privateJWK(t, f.appEnc, "e", "enc", "RSA-OAEP"), sigA), want: []string{`"e"`, "RSA-OAEP-256"}},
		{name: "weak RSA enc key", doc: doc("", privateJWK(t, weak, "e", "enc", "RSA-OAEP-256"), sigA), want: []string{`"e"`, "2048"}},
		{name: "P-384 signing key", doc: doc("", ecEnc, privateJWK(t, p384, "s", "sig", "ES384")), want: []string{`"s"`, "ES256"}},
		{name: "RS256 signing key", doc: doc("", ecEnc, privateJWK(t, f.rsaSig, "s", "sig", "RS256")), want: []string{`"s"`, "PS256"}},
		{name: "unknown top-level member", doc: `{"keys":[],"signing":"x"}`, want: []string{`"signing"`}},
		{name: "key material of the wrong type", doc: `{"keys":[{"kty":"EC","crv":"P-256","kid":"s","use":"sig","alg":"ES256","x":"AA","y":"AA","d":123456789}]}`, want: []string{`"d"`, "string"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := ParseVaultKeys([]byte(tc.doc))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if keys.SigningKeyID() != tc.signing {
					t.Fatalf("signing kid %q, want %q", keys.SigningKeyID(), tc.signing)
				}
				if strings.Contains(string(keys.PublicJWKS()), secretD) {
					t.Fatal("public JWKS carries a private value")
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			t.Logf("refused: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not mention %s", err, w)
				}
			}
			if strings.Contains(err.Error(), secretD) || strings.Contains(err.Error(), "123456789") {
				t.Fatalf("error carries key material: %q", err)
			}
		})
	}
}
