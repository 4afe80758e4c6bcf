package localmode_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/internal/vaulttest"
)

// maxRequestAlloc bounds what the whole process (test client, HTTP
// server, vault) may allocate while one abusive request is answered. A
// request body is at most 64 KiB, so anything near this bound means the
// vault expanded an input (nesting, decompression, key derivation)
// instead of refusing it.
const maxRequestAlloc = 16 << 20

// abuseRequest is one hostile request, built before it is measured.
type abuseRequest struct {
	method, path string
	headers      map[string]string
	body         string
}

// TestAbusiveRequestsAreRefusedCheaply sends requests built to exhaust or
// confuse the parsers: deep nesting, huge headers, JOSE headers that ask
// for key derivation, decompression or a key fetched from elsewhere,
// duplicate and ill-typed claims, invalid UTF-8. Each must get the
// contract's status and code, allocate a bounded amount, leave the table
// as it was and leave one refused audit event.
func TestAbusiveRequestsAreRefusedCheaply(t *testing.T) {
	app := vaulttest.NewClient("app", jose.ES256, []string{"m_1"})
	v := vaulttest.Start(t, app)
	// ES256 test clients sign with this key; the raw signer below uses it
	// to sign payloads encoding/json cannot produce. The first request
	// proves it is the registered key.
	clientKey := vaulttest.OtherECKey()
	attacker, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	vaultEC := v.VaultKey(t, jose.ECDH_ES_A256KW)

	var fetched atomic.Int64
	keyServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetched.Add(1)
		_, _ = w.Write([]byte(`{"keys":[` + string(mustJSON(t, jose.JSONWebKey{Key: &attacker.PublicKey, KeyID: "attacker", Use: "sig", Algorithm: "ES256"})) + `]}`))
	}))
	t.Cleanup(keyServer.Close)

	claimsJSON := func(op string, extra map[string]any) []byte {
		return mustJSON(t, app.Claims(op, "m_1", extra))
	}
	// withRaw appends raw JSON members to a claims object.
	withRaw := func(claims []byte, members string) []byte {
		return append(claims[:len(claims)-1:len(claims)-1], []byte(","+members+"}")...)
	}
	header := func(kid string, extra string) []byte {
		return []byte(`{"alg":"ES256","typ":"JWT","kid":"` + kid + `"` + extra + `}`)
	}
	jwe := func(jws string) abuseRequest {
		return abuseRequest{http.MethodPost, "/v1/cards", map[string]string{"Content-Type": "application/jose"}, app.Encrypt(t, jws, jose.ECDH_ES_A256KW)}
	}
	bearer := func(jws string) abuseRequest {
		return abuseRequest{http.MethodGet, "/v1/cards/tok_x", map[string]string{"Authorization": "Bearer " + jws}, ""}
	}
	maskedClaims := func() []byte { return claimsJSON("get_masked", map[string]any{"token": "tok_x"}) }
	card := `"card":{"number":"` + testPAN + `","exp_month":12,"exp_year":2030}`

	proof := send(t, v, jwe(signES256(t, clientKey, header(app.SigKID, ""), withRaw(claimsJSON("vault_card", nil), card))))
	if proof.Status != http.StatusCreated {
		t.Fatalf("a raw-signed request must be accepted: %d %s", proof.Status, proof.Body)
	}

	nested := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	manyKids := strings.Repeat(`,"kid":"`+app.SigKID+`"`, 2000)
	var manyMembers strings.Builder
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&manyMembers, `,"h%d":%d`, i, i)
	}
	var pads strings.Builder
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&pads, `,"m%d":"x"`, i)
	}

	cases := []struct {
		name   string
		req    func() abuseRequest
		status int
		code   string
	}{
		{"10,000 nested arrays in the card claim", func() abuseRequest {
			r := jwe(signES256(t, clientKey, header(app.SigKID, ""), withRaw(claimsJSON("vault_card", nil), `"card":{"number":`+nested+`,"exp_month":12,"exp_year":2030}`)))
			if len(r.body) > 64<<10 {
				t.Fatalf("request of %d bytes is over the body limit", len(r.body))
			}
			return r
		}, 400, "malformed_request"},
		{"3,000 card members and a duplicate number", func() abuseRequest {
			return jwe(signES256(t, clientKey, header(app.SigKID, ""), withRaw(claimsJSON("vault_card", nil),
				`"card":{"number":"`+testPAN+`","exp_month":12,"exp_year":2030`+pads.String()+`,"NUMBER":"4000056655665556"}`)))
		}, 400, "malformed_request"},
		{"Authorization header of 60 KiB", func() abuseRequest {
			junk := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 45<<10))
			return bearer(junk[:20<<10] + "." + junk[20<<10:40<<10] + "." + junk[40<<10:])
		}, 400, "malformed_request"},
		{"600 extra headers (within the 64 KiB bound) and no credential", func() abuseRequest {
			r := abuseRequest{http.MethodGet, "/v1/cards/tok_x", map[string]string{}, ""}
			for i := 0; i < 600; i++ {
				r.headers[fmt.Sprintf("X-Pad-%d", i)] = strings.Repeat("p", 64)
			}
			return r
		}, 401, "unauthenticated"},
		{"JOSE header with 2,000 kid members", func() abuseRequest {
			return bearer(signES256(t, clientKey, header(app.SigKID, manyKids), maskedClaims()))
		}, 400, "malformed_request"},
		{"JOSE header with 3,000 members, attacker's signature", func() abuseRequest {
			return bearer(signES256(t, attacker, header(app.SigKID, manyMembers.String()), maskedClaims()))
		}, 401, "unauthenticated"},
		{"PBES2 JWE with p2c 2^31-1", func() abuseRequest {
			h := `{"alg":"PBES2-HS256+A128KW","enc":"A256GCM","cty":"JWT","kid":"` + vaultEC.KeyID + `","p2s":"` + b64url(bytes.Repeat([]byte{1}, 16)) + `","p2c":2147483647}`
			body := b64url([]byte(h)) + "." + b64url(make([]byte, 40)) + "." + b64url(make([]byte, 12)) + "." + b64url([]byte("ciphertext")) + "." + b64url(make([]byte, 16))
			return abuseRequest{http.MethodPost, "/v1/cards", map[string]string{"Content-Type": "application/jose"}, body}
		}, 400, "malformed_request"},
		{"JWE with zip DEF holding 24 MiB", func() abuseRequest {
			bomb := append([]byte(signES256(t, clientKey, header(app.SigKID, ""), withRaw(claimsJSON("vault_card", nil), card))), make([]byte, 24<<20)...)
			return abuseRequest{http.MethodPost, "/v1/cards", map[string]string{"Content-Type": "application/jose"}, encryptDeflated(t, vaultEC, bomb)}
		}, 400, "malformed_request"},
		{"jku naming a key server, attacker's key", func() abuseRequest {
			return jwe(signES256(t, attacker, header("attacker", `,"jku":"`+keyServer.URL+`/jwks"`), withRaw(claimsJSON("vault_card", nil), card)))
		}, 401, "unauthenticated"},
		{"x5u naming a key server, client's kid", func() abuseRequest {
			return jwe(signES256(t, attacker, header(app.SigKID, `,"x5u":"`+keyServer.URL+`/cert"`), withRaw(claimsJSON("vault_card", nil), card)))
		}, 401, "unauthenticated"},
		{"embedded jwk of the attacker, client's kid", func() abuseRequest {
			jwk := mustJSON(t, jose.JSONWebKey{Key: &attacker.PublicKey, KeyID: app.SigKID, Use: "sig", Algorithm: "ES256"})
			return jwe(signES256(t, attacker, header(app.SigKID, `,"jwk":`+string(jwk)), withRaw(claimsJSON("vault_card", nil), card)))
		}, 401, "unauthenticated"},
		{"x5c chain of the attacker, client's kid", func() abuseRequest {
			chain := `,"x5c":["` + base64.StdEncoding.EncodeToString(selfSigned(t, attacker)) + `"]`
			return jwe(signES256(t, attacker, header(app.SigKID, chain), withRaw(claimsJSON("vault_card", nil), card)))
		}, 401, "unauthenticated"},
		{"duplicate merchant_id claim", func() abuseRequest {
			return jwe(signES256(t, clientKey, header(app.SigKID, ""), withRaw(claimsJSON("vault_card", nil), card+`,"merchant_id":"m_2"`)))
		}, 400, "malformed_request"},
		{"duplicate claim differing in case", func() abuseRequest {
			return jwe(signES256(t, clientKey, header(app.SigKID, ""), withRaw(claimsJSON("vault_card", nil), card+`,"Card":{}`)))
		}, 400, "malformed_request"},
		{"invalid UTF-8 in a claim", func() abuseRequest {
			return jwe(signES256(t, clientKey, header(app.SigKID, ""), withRaw(claimsJSON("vault_card", nil),
				`"card":{"number":"`+testPAN+`","exp_month":12,"exp_year":2030,"holder_name":"J\xffne"}`)))
		}, 400, "malformed_request"},
		{"lone high surrogate in a secret value", func() abuseRequest {
			claims := mustJSON(t, app.Claims("put_secret", "m_1", map[string]any{"name": "api-key"}))
			return abuseRequest{http.MethodPut, "/v1/merchants/m_1/secrets/api-key", map[string]string{"Content-Type": "application/jose"},
				app.Encrypt(t, signES256(t, clientKey, header(app.SigKID, ""), withRaw(claims, `"value":"sk_live_abc\ud800def"`)), jose.ECDH_ES_A256KW)}
		}, 400, "malformed_request"},
		{"lone low surrogate in a metadata value", func() abuseRequest {
			claims := mustJSON(t, app.Claims("put_secret", "m_1", map[string]any{"name": "api-key", "value": "sk_live_abcdef"}))
			return abuseRequest{http.MethodPut, "/v1/merchants/m_1/secrets/api-key", map[string]string{"Content-Type": "application/jose"},
				app.Encrypt(t, signES256(t, clientKey, header(app.SigKID, ""), withRaw(claims, `"metadata":{"k":"v\udc00"}`)), jose.ECDH_ES_A256KW)}
		}, 400, "malformed_request"},
		{"lone low surrogate in a holder name", func() abuseRequest {
			return jwe(signES256(t, clientKey, header(app.SigKID, ""), withRaw(claimsJSON("vault_card", nil),
				`"card":{"number":"`+testPAN+`","exp_month":12,"exp_year":2030,"holder_name":"Ann\udc00Lee"}`)))
		}, 400, "malformed_request"},
		{"lone surrogate in customer_id", func() abuseRequest {
			return jwe(signES256(t, clientKey, header(app.SigKID, ""), withRaw(claimsJSON("vault_card", nil), card+`,"customer_id":"c_1\udbff"`)))
		}, 400, "malformed_request"},
		{"surrogates in the wrong order in jti", func() abuseRequest {
			c := app.Claims("get_masked", "m_1", map[string]any{"token": "tok_x"})
			delete(c, "jti")
			return bearer(signES256(t, clientKey, header(app.SigKID, ""), withRaw(mustJSON(t, c), `"jti":"j\udc00\ud800"`)))
		}, 400, "malformed_request"},
		{"lone surrogate in the JWS header kid", func() abuseRequest {
			return bearer(signES256(t, clientKey, header(app.SigKID+`\ud800`, ""), maskedClaims()))
		}, 400, "malformed_request"},
		{"lone surrogate in the JWE header kid", func() abuseRequest {
			jws := signES256(t, clientKey, header(app.SigKID, ""), withRaw(claimsJSON("vault_card", nil), card))
			parts := strings.Split(app.Encrypt(t, jws, jose.ECDH_ES_A256KW), ".")
			var h map[string]any
			raw, _ := base64.RawURLEncoding.DecodeString(parts[0])
			_ = json.Unmarshal(raw, &h)
			kid, _ := h["kid"].(string)
			parts[0] = b64url([]byte(strings.Replace(string(raw), `"kid":"`+kid+`"`, `"kid":"`+kid+`\udc00"`, 1)))
			return abuseRequest{http.MethodPost, "/v1/cards", map[string]string{"Content-Type": "application/jose"}, strings.Join(parts, ".")}
		}, 400, "malformed_request"},
		{"invalid UTF-8 in the JWS header", func() abuseRequest {
			return bearer(signES256(t, clientKey, header(app.SigKID+"\xff", ""), maskedClaims()))
		}, 400, "malformed_request"},
		{"invalid UTF-8 in the body", func() abuseRequest {
			return abuseRequest{http.MethodPost, "/v1/cards", map[string]string{"Content-Type": "application/jose"}, "\xff\xfe\xfd.\xff.\xff.\xff.\xff"}
		}, 400, "malformed_request"},
		{"iss is a number", func() abuseRequest {
			return jwe(app.Sign(t, app.Claims("vault_card", "m_1", map[string]any{"iss": 1, "card": testCard(testPAN)})))
		}, 400, "malformed_request"},
		{"card number is a number", func() abuseRequest {
			return jwe(signES256(t, clientKey, header(app.SigKID, ""), withRaw(claimsJSON("vault_card", nil),
				`"card":{"number":`+testPAN+`,"exp_month":12,"exp_year":2030}`)))
		}, 400, "malformed_request"},
		{"iat is a string", func() abuseRequest {
			c := app.Claims("vault_card", "m_1", map[string]any{"card": testCard(testPAN)})
			c["iat"] = fmt.Sprint(c["iat"])
			return jwe(app.Sign(t, c))
		}, 400, "malformed_request"},
		{"exp_month is a string", func() abuseRequest {
			return jwe(signES256(t, clientKey, header(app.SigKID, ""), withRaw(claimsJSON("vault_card", nil),
				`"card":{"number":"`+testPAN+`","exp_month":"12","exp_year":2030}`)))
		}, 400, "malformed_request"},
		{"JWE whose plaintext is not a JWS", func() abuseRequest {
			return jwe(string(withRaw(claimsJSON("vault_card", nil), card)))
		}, 400, "malformed_request"},
		{"JWE whose plaintext is a JWS in JSON serialisation", func() abuseRequest {
			parts := strings.Split(signES256(t, clientKey, header(app.SigKID, ""), withRaw(claimsJSON("vault_card", nil), card)), ".")
			return jwe(`{"protected":"` + parts[0] + `","payload":"` + parts[1] + `","signature":"` + parts[2] + `"}`)
		}, 400, "malformed_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := c.req()
			before := v.TableDump()
			eventsBefore := len(v.AuditEvents())

			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			r := v.Do(req.method, req.path, req.headers, req.body)
			runtime.ReadMemStats(&m1)

			if r.Status != c.status || r.Code() != c.code {
				t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, c.status, c.code)
			}
			alloc := m1.TotalAlloc - m0.TotalAlloc
			if alloc > maxRequestAlloc {
				t.Fatalf("answering allocated %d bytes, more than %d", alloc, maxRequestAlloc)
			}
			t.Logf("answered %d %s, allocating %d KiB", r.Status, r.Code(), alloc>>10)
			if v.TableDump() != before {
				t.Fatal("a refused request changed the table")
			}
			events := v.AuditEvents()
			if len(events) != eventsBefore+1 {
				t.Fatalf("%d audit events, want 1", len(events)-eventsBefore)
			}
			if last := events[len(events)-1]; last["outcome"] != "refused" || last["error_code"] != c.code {
				t.Fatalf("audit event: %v", last)
			}
		})
	}
	if n := fetched.Load(); n != 0 {
		t.Fatalf("the vault fetched a key from a URL in a JOSE header %d times", n)
	}
	assertNoLeak(t, v)
}

func send(t *testing.T, v *vaulttest.Vault, r abuseRequest) *vaulttest.Response {
	t.Helper()
	return v.Do(r.method, r.path, r.headers, r.body)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// signES256 signs arbitrary header and payload bytes: duplicate members,
// invalid UTF-8 and nesting that encoding/json refuses to produce.
func signES256(t *testing.T, key *ecdsa.PrivateKey, header, payload []byte) string {
	t.Helper()
	input := b64url(header) + "." + b64url(payload)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64url(sig)
}

// encryptDeflated builds a JWE with "zip":"DEF" whose plaintext inflates
// to len(plaintext) bytes.
func encryptDeflated(t *testing.T, key jose.JSONWebKey, plaintext []byte) string {
	t.Helper()
	opts := (&jose.EncrypterOptions{Compression: jose.DEFLATE}).WithContentType("JWT")
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.ECDH_ES_A256KW, Key: key.Key, KeyID: key.KeyID}, opts)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := enc.Encrypt(plaintext)
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	if len(s) > 64<<10 {
		t.Fatalf("deflated JWE of %d bytes is over the body limit", len(s))
	}
	return s
}

// selfSigned is a certificate for key, signed by itself.
func selfSigned(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "app"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
