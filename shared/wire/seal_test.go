package wire

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// TestSealResponseOpensWithGoJose opens sealed responses the way a client
// would, with go-jose alone: decrypt with the client's private key, verify
// with the vault's key from the published JWKS.
func TestSealResponseOpensWithGoJose(t *testing.T) {
	f := mustFixture(t)
	cases := []struct {
		client  string
		alg     jose.KeyAlgorithm
		kid     string
		private any
	}{
		{"app-server", jose.RSA_OAEP_256, "app-enc-rsa", f.appEnc},
		{"ec-client", jose.ECDH_ES_A256KW, "ec-enc", f.ecClientEnc},
	}
	for _, tc := range cases {
		t.Run(tc.client, func(t *testing.T) {
			c, _ := f.registry.Client(tc.client)
			want := map[string]any{
				"iss": Audience, "aud": tc.client, "iat": float64(fixedNow.Unix() + 1), "jti": "j-1",
				"merchant_id": "m_123", "token": "tok_1",
				"card": map[string]any{"number": cardNumber, "exp_month": float64(12), "exp_year": float64(2030)},
			}
			sealed, err := f.vault.SealResponse(c, want)
			if err != nil {
				t.Fatalf("seal: %v", err)
			}
			if strings.Contains(sealed, cardNumber) {
				t.Fatal("sealed response shows the card number")
			}

			jwe, err := jose.ParseEncryptedCompact(sealed, []jose.KeyAlgorithm{tc.alg}, []jose.ContentEncryption{jose.A256GCM})
			if err != nil {
				t.Fatalf("parse JWE: %v", err)
			}
			if jwe.Header.KeyID != tc.kid || jwe.Header.ExtraHeaders["cty"] != "JWT" {
				t.Fatalf("JWE header: %+v", jwe.Header)
			}
			inner, err := jwe.Decrypt(tc.private)
			if err != nil {
				t.Fatalf("decrypt: %v", err)
			}

			jws, err := jose.ParseSignedCompact(string(inner), []jose.SignatureAlgorithm{jose.ES256, jose.PS256})
			if err != nil {
				t.Fatalf("parse JWS: %v", err)
			}
			hdr := jws.Signatures[0].Header
			if hdr.KeyID != f.vault.SigningKeyID() || hdr.ExtraHeaders["typ"] != "JWT" {
				t.Fatalf("JWS header: %+v", hdr)
			}
			keys := f.vaultPublic.Key(hdr.KeyID)
			if len(keys) != 1 || keys[0].Use != "sig" {
				t.Fatalf("signing key %q not published", hdr.KeyID)
			}
			payload, err := jws.Verify(keys[0])
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			var got map[string]any
			if err := json.Unmarshal(payload, &got); err != nil {
				t.Fatal(err)
			}
			if g, w := string(mustJSON(got)), string(mustJSON(want)); g != w {
				t.Fatalf("claims\n got %s\nwant %s", g, w)
			}
		})
	}
}

func TestSealResponseConcurrent(t *testing.T) {
	f := mustFixture(t)
	c, _ := f.registry.Client("ec-client")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			if _, err := f.vault.SealResponse(c, map[string]string{"jti": "x"}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("seal: %v", err)
	}
}

func TestSealResponseUnencodable(t *testing.T) {
	f := mustFixture(t)
	c, _ := f.registry.Client("ec-client")
	if _, err := f.vault.SealResponse(c, map[string]any{"bad": func() {}}); err == nil {
		t.Fatal("sealed an unencodable value")
	}
}
