package client

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func TestSignRequestAddsTheFreshClaims(t *testing.T) {
	creds, err := GenerateCredentials("demo-app", KeyAlgECDH)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	compact, jti, err := SignRequest(creds, map[string]any{"op": OpGetMasked, "merchant_id": "m_1", "token": "tok_1"}, at)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(compact, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.Signatures[0].Header
	if hdr.KeyID != creds.SigningKeyID() || hdr.ExtraHeaders["typ"] != "JWT" {
		t.Errorf("header kid %q typ %v, want the signing kid and JWT", hdr.KeyID, hdr.ExtraHeaders["typ"])
	}
	sigKey := creds.sigKey.Reveal()
	payload, err := jws.Verify(sigKey.Public().Key)
	if err != nil {
		t.Fatalf("signature does not verify with the client's public key: %v", err)
	}
	var got map[string]any
	if err := json.Unmarshal(payload, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"iss": "demo-app", "aud": Audience, "iat": float64(at.Unix()), "jti": jti,
		"op": OpGetMasked, "merchant_id": "m_1", "token": "tok_1",
	}
	if len(got) != len(want) {
		t.Errorf("claims %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("claim %s = %v, want %v", k, got[k], v)
		}
	}
	if len(jti) != 22 {
		t.Errorf("jti %q is not 128 bits in base64url", jti)
	}
	if _, again, _ := SignRequest(creds, map[string]any{"op": OpGetMasked}, at); again == jti {
		t.Error("two requests share a jti")
	}
}

func TestSignRequestRefusesWhatItSetsItself(t *testing.T) {
	creds, err := GenerateCredentials("demo-app", KeyAlgECDH)
	if err != nil {
		t.Fatal(err)
	}
	for _, claim := range []string{"iss", "aud", "iat", "jti"} {
		_, _, err := SignRequest(creds, map[string]any{"op": OpGetMasked, claim: "x"}, time.Now())
		if err == nil || !strings.Contains(err.Error(), claim) {
			t.Errorf("claims setting %s: err = %v, want a refusal naming it", claim, err)
		}
	}
	if _, _, err := SignRequest(nil, map[string]any{"op": OpGetMasked}, time.Now()); err == nil {
		t.Error("signed without credentials")
	}
}

func TestSealToVaultPrefersECDHAndOpensWithTheVaultKey(t *testing.T) {
	ec := jose.JSONWebKey{Key: mustEC(t), KeyID: "vault-enc-ec", Use: "enc", Algorithm: KeyAlgECDH}
	rsaKey := jose.JSONWebKey{Key: mustRSA(t), KeyID: "vault-enc-rsa", Use: "enc", Algorithm: KeyAlgRSA}
	for _, tc := range []struct {
		name    string
		publish []jose.JSONWebKey
		want    jose.JSONWebKey
	}{
		{"both, RSA first", []jose.JSONWebKey{rsaKey.Public(), ec.Public()}, ec},
		{"RSA only", []jose.JSONWebKey{rsaKey.Public()}, rsaKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: tc.publish})
			if err != nil {
				t.Fatal(err)
			}
			const inner = "header.payload.signature"
			sealed, err := SealToVault(inner, jwks)
			if err != nil {
				t.Fatal(err)
			}
			obj, err := jose.ParseEncryptedCompact(sealed,
				[]jose.KeyAlgorithm{jose.KeyAlgorithm(tc.want.Algorithm)}, []jose.ContentEncryption{jose.A256GCM})
			if err != nil {
				t.Fatalf("not a JWE to %s with A256GCM: %v", tc.want.Algorithm, err)
			}
			if obj.Header.KeyID != tc.want.KeyID || obj.Header.ExtraHeaders[jose.HeaderContentType] != "JWT" {
				t.Errorf("kid %q cty %v, want %q and JWT", obj.Header.KeyID, obj.Header.ExtraHeaders[jose.HeaderContentType], tc.want.KeyID)
			}
			plain, err := obj.Decrypt(tc.want.Key)
			if err != nil || string(plain) != inner {
				t.Errorf("vault key opens %q (%v), want the JWS", plain, err)
			}
		})
	}
}

func TestSealToVaultRefusesUnusableKeySets(t *testing.T) {
	ec := jose.JSONWebKey{Key: mustEC(t), KeyID: "vault-enc-ec", Use: "enc", Algorithm: KeyAlgECDH}
	sig := jose.JSONWebKey{Key: mustEC(t), KeyID: "vault-sig", Use: "sig", Algorithm: string(jose.ES256)}
	for name, set := range map[string][]jose.JSONWebKey{
		"no encryption key":  {sig.Public()},
		"private key inside": {ec},
	} {
		jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: set})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := SealToVault("a.b.c", jwks); err == nil {
			t.Errorf("%s: sealed anyway", name)
		}
	}
	if _, err := SealToVault("a.b.c", []byte("not json")); err == nil {
		t.Error("sealed to a document that is not a JWKS")
	}
}
