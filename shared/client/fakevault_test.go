package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// fakeVault is a minimal vault written straight on go-jose: it checks the
// JOSE structure and claims of every request the client sends, records
// them, and answers per the contract. Reveal answers are sealed the way the
// contract describes, with knobs to make them wrong.
type fakeVault struct {
	t      *testing.T
	server *httptest.Server
	now    time.Time

	encEC, encRSA, sig jose.JSONWebKey // vault private keys
	publishEC          bool
	clientID           string
	clientSig          jose.JSONWebKey // public
	clientEnc          jose.JSONWebKey // public

	mu          sync.Mutex
	requests    []seenRequest
	jwksFetches int
	jtis        map[string]bool
	secretPuts  int
	// failWith, when set, answers every authenticated request with it.
	failWith *fakeFailure
	// answer tampering for reveal answers
	answerSigner *jose.JSONWebKey // signs answers instead of sig
	answerAud    string
	answerJTI    string
	answerIss    string
	answerToken  string
	// extraSig is published in the JWKS from the second fetch on, to model a
	// vault that rotated its signing key after the client cached the set.
	extraSig *jose.JSONWebKey
}

type fakeFailure struct {
	status int
	header map[string]string
	body   string
}

// seenRequest is what the fake vault saw of one authenticated request.
type seenRequest struct {
	method, escapedPath string
	carriedAsJWE        bool
	contentType         string
	jweAlg, jweEnc      string
	jweKID, jweCty      string
	jwsAlg, jwsKID      string
	jwsTyp              string
	claims              map[string]any
}

func newFakeVault(t *testing.T, creds *Credentials) *fakeVault {
	t.Helper()
	fv := &fakeVault{
		t:         t,
		now:       time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		encEC:     jose.JSONWebKey{Key: mustEC(t), KeyID: "vault-enc-ec-1", Use: "enc", Algorithm: KeyAlgECDH},
		encRSA:    jose.JSONWebKey{Key: mustRSA(t), KeyID: "vault-enc-rsa-1", Use: "enc", Algorithm: KeyAlgRSA},
		sig:       jose.JSONWebKey{Key: mustEC(t), KeyID: "vault-sig-1", Use: "sig", Algorithm: string(jose.ES256)},
		publishEC: true,
		clientID:  creds.ClientID,
		jtis:      map[string]bool{},
	}
	fv.clientSig = publicOf(creds.sigKey.Reveal())
	fv.clientEnc = publicOf(creds.encKey.Reveal())

	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /v1/jwks", fv.serveJWKS)
	mux.HandleFunc("POST /v1/cards", fv.auth(OpVaultCard, true, fv.vaultCard))
	mux.HandleFunc("GET /v1/cards/{token}", fv.auth(OpGetMasked, false, fv.masked))
	mux.HandleFunc("POST /v1/cards/{token}/reveal", fv.auth(OpRevealCard, false, fv.revealCard))
	mux.HandleFunc("DELETE /v1/cards/{token}", fv.auth(OpDeleteCard, false, noContent))
	mux.HandleFunc("PUT /v1/merchants/{merchant}/secrets/{name}", fv.auth(OpPutSecret, true, fv.putSecret))
	mux.HandleFunc("GET /v1/merchants/{merchant}/secrets/{name}", fv.auth(OpGetSecret, false, fv.secretMeta))
	mux.HandleFunc("POST /v1/merchants/{merchant}/secrets/{name}/reveal", fv.auth(OpRevealSecret, false, fv.revealSecret))
	mux.HandleFunc("DELETE /v1/merchants/{merchant}/secrets/{name}", fv.auth(OpDeleteSecret, false, noContent))
	mux.HandleFunc("POST /v1/merchants/{merchant}/keys/rotate", fv.auth(OpRotateKeys, false, fv.keyStatus(http.StatusAccepted)))
	mux.HandleFunc("GET /v1/merchants/{merchant}/keys", fv.auth(OpGetKeys, false, fv.keyStatus(http.StatusOK)))
	mux.HandleFunc("DELETE /v1/merchants/{merchant}", fv.auth(OpShredMerchant, false, noContent))
	mux.HandleFunc("GET /v1/merchants/{merchant}/{kind}/{subject}/cards", fv.auth(OpListCards, false, fv.listCards))
	fv.server = httptest.NewServer(mux)
	t.Cleanup(fv.server.Close)
	return fv
}

func (fv *fakeVault) client(creds *Credentials, opts ...Option) *Client {
	opts = append([]Option{WithHTTPClient(fv.server.Client()), WithClock(func() time.Time { return fv.now })}, opts...)
	return New(fv.server.URL, creds, opts...)
}

func (fv *fakeVault) last() seenRequest {
	fv.mu.Lock()
	defer fv.mu.Unlock()
	if len(fv.requests) == 0 {
		fv.t.Fatal("fake vault saw no authenticated request")
	}
	return fv.requests[len(fv.requests)-1]
}

// configure changes the fake's behaviour under its lock, since its handlers
// run on the server's goroutines.
func (fv *fakeVault) configure(change func(*fakeVault)) {
	fv.mu.Lock()
	defer fv.mu.Unlock()
	change(fv)
}

func (fv *fakeVault) fetches() int {
	fv.mu.Lock()
	defer fv.mu.Unlock()
	return fv.jwksFetches
}

func (fv *fakeVault) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	fv.mu.Lock()
	fv.jwksFetches++
	keys := []jose.JSONWebKey{publicOf(fv.encRSA), publicOf(fv.sig)}
	if fv.publishEC {
		keys = append(keys, publicOf(fv.encEC))
	}
	if fv.extraSig != nil && fv.jwksFetches > 1 {
		keys = append(keys, publicOf(*fv.extraSig))
	}
	fv.mu.Unlock()
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: keys})
}

// auth opens and checks the request credential the way the contract
// describes, records it, then runs next with the claims.
func (fv *fakeVault) auth(op string, sensitive bool, next func(http.ResponseWriter, *http.Request, map[string]any)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t := fv.t
		body, _ := io.ReadAll(r.Body)
		seen := seenRequest{method: r.Method, escapedPath: r.URL.EscapedPath(), contentType: r.Header.Get("Content-Type")}
		var compactJWS string
		if sensitive {
			if seen.contentType != joseMediaType {
				t.Errorf("%s: content type %q, want %s", op, seen.contentType, joseMediaType)
			}
			if r.Header.Get("Authorization") != "" {
				t.Errorf("%s: JWE route also sent an Authorization header", op)
			}
			obj, err := jose.ParseEncryptedCompact(string(body),
				[]jose.KeyAlgorithm{jose.ECDH_ES_A256KW, jose.RSA_OAEP_256}, []jose.ContentEncryption{jose.A256GCM})
			if err != nil {
				t.Errorf("%s: body is not a compact JWE: %v", op, err)
				writeError(w, http.StatusBadRequest, CodeMalformed)
				return
			}
			seen.carriedAsJWE = true
			seen.jweAlg, seen.jweKID = obj.Header.Algorithm, obj.Header.KeyID
			seen.jweEnc, _ = obj.Header.ExtraHeaders["enc"].(string)
			seen.jweCty, _ = obj.Header.ExtraHeaders[jose.HeaderContentType].(string)
			var key jose.JSONWebKey
			switch seen.jweKID {
			case fv.encEC.KeyID:
				key = fv.encEC
			case fv.encRSA.KeyID:
				key = fv.encRSA
			default:
				t.Errorf("%s: JWE kid %q is not a vault key", op, seen.jweKID)
				writeError(w, http.StatusBadRequest, CodeMalformed)
				return
			}
			plain, err := obj.Decrypt(key.Key)
			if err != nil {
				t.Errorf("%s: cannot decrypt: %v", op, err)
				writeError(w, http.StatusBadRequest, CodeMalformed)
				return
			}
			compactJWS = string(plain)
		} else {
			if len(body) != 0 {
				t.Errorf("%s: Bearer route sent a %d-byte body", op, len(body))
			}
			authz := r.Header.Get("Authorization")
			var ok bool
			compactJWS, ok = strings.CutPrefix(authz, "Bearer ")
			if !ok {
				t.Errorf("%s: no Bearer credential", op)
				writeError(w, http.StatusUnauthorized, CodeUnauthenticated)
				return
			}
		}
		jws, err := jose.ParseSignedCompact(compactJWS, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil || len(jws.Signatures) != 1 {
			t.Errorf("%s: not a compact ES256 JWS: %v", op, err)
			writeError(w, http.StatusUnauthorized, CodeUnauthenticated)
			return
		}
		h := jws.Signatures[0].Header
		seen.jwsAlg, seen.jwsKID = h.Algorithm, h.KeyID
		seen.jwsTyp, _ = h.ExtraHeaders[jose.HeaderType].(string)
		if h.KeyID != fv.clientSig.KeyID {
			t.Errorf("%s: JWS kid %q, want %q", op, h.KeyID, fv.clientSig.KeyID)
		}
		payload, err := jws.Verify(fv.clientSig.Key)
		if err != nil {
			t.Errorf("%s: bad request signature: %v", op, err)
			writeError(w, http.StatusUnauthorized, CodeUnauthenticated)
			return
		}
		if err := json.Unmarshal(payload, &seen.claims); err != nil {
			t.Errorf("%s: claims not JSON: %v", op, err)
		}
		fv.checkCommonClaims(op, r, seen.claims)

		fv.mu.Lock()
		fv.requests = append(fv.requests, seen)
		fail := fv.failWith
		fv.mu.Unlock()
		if fail != nil {
			for k, v := range fail.header {
				w.Header().Set(k, v)
			}
			w.WriteHeader(fail.status)
			_, _ = io.WriteString(w, fail.body)
			return
		}
		next(w, r, seen.claims)
	}
}

// checkCommonClaims asserts the claims every request must carry and their
// binding to the route.
func (fv *fakeVault) checkCommonClaims(op string, r *http.Request, c map[string]any) {
	t := fv.t
	if c["iss"] != fv.clientID || c["aud"] != Audience || c["op"] != op {
		t.Errorf("%s: iss/aud/op = %v/%v/%v", op, c["iss"], c["aud"], c["op"])
	}
	iat, ok := c["iat"].(float64)
	if !ok || iat != float64(int64(iat)) {
		t.Errorf("%s: iat %v is not whole seconds", op, c["iat"])
	}
	if d := fv.now.Unix() - int64(iat); d > 5 || d < -5 {
		t.Errorf("%s: iat %v is %d s away from now", op, c["iat"], d)
	}
	jti, _ := c["jti"].(string)
	if len(jti) < 22 || len(jti) > 128 {
		t.Errorf("%s: jti %q is not 128 random bits", op, jti)
	}
	fv.mu.Lock()
	if fv.jtis[jti] {
		t.Errorf("%s: jti %q reused", op, jti)
	}
	fv.jtis[jti] = true
	fv.mu.Unlock()
	if m := r.PathValue("merchant"); m != "" && c["merchant_id"] != m {
		t.Errorf("%s: merchant_id %v, route %q", op, c["merchant_id"], m)
	}
	if tok := r.PathValue("token"); tok != "" && c["token"] != tok {
		t.Errorf("%s: token %v, route %q", op, c["token"], tok)
	}
	if name := r.PathValue("name"); name != "" && c["name"] != name {
		t.Errorf("%s: name %v, route %q", op, c["name"], name)
	}
	if _, ok := c["merchant_id"].(string); !ok {
		t.Errorf("%s: no merchant_id", op)
	}
}

func (fv *fakeVault) cardRecord(merchant, customer, token string) map[string]any {
	return map[string]any{
		"token": token, "merchant_id": merchant, "customer_id": customer,
		"fingerprint": "fp_abc", "duplicate": false,
		"masked": map[string]any{"first4": "4242", "last4": "4242", "display": "4242 **** **** 4242",
			"brand": "visa", "exp_month": 12, "exp_year": 2030},
		"created_at": "2026-11-22T10:00:00Z",
	}
}

func (fv *fakeVault) vaultCard(w http.ResponseWriter, _ *http.Request, c map[string]any) {
	customer, _ := c["customer_id"].(string)
	writeJSON(w, http.StatusCreated, fv.cardRecord(c["merchant_id"].(string), customer, "tok_new"))
}

func (fv *fakeVault) masked(w http.ResponseWriter, r *http.Request, c map[string]any) {
	writeJSON(w, http.StatusOK, fv.cardRecord(c["merchant_id"].(string), "", r.PathValue("token")))
}

func (fv *fakeVault) putSecret(w http.ResponseWriter, r *http.Request, c map[string]any) {
	fv.mu.Lock()
	fv.secretPuts++
	status := http.StatusOK
	if fv.secretPuts == 1 {
		status = http.StatusCreated
	}
	fv.mu.Unlock()
	fv.secretMetaWith(w, r, status, c["metadata"])
}

func (fv *fakeVault) secretMeta(w http.ResponseWriter, r *http.Request, _ map[string]any) {
	fv.secretMetaWith(w, r, http.StatusOK, map[string]string{"connector": "stripe"})
}

func (fv *fakeVault) secretMetaWith(w http.ResponseWriter, r *http.Request, status int, metadata any) {
	writeJSON(w, status, map[string]any{
		"merchant_id": r.PathValue("merchant"), "name": r.PathValue("name"), "version": 2,
		"masked": "****abcd", "metadata": metadata,
		"created_at": "2026-11-22T10:00:00Z", "updated_at": "2026-11-22T11:00:00Z",
	})
}

func (fv *fakeVault) keyStatus(status int) func(http.ResponseWriter, *http.Request, map[string]any) {
	return func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		writeJSON(w, status, map[string]any{
			"merchant_id": r.PathValue("merchant"), "primary_version": 3,
			"versions": []map[string]any{
				{"version": 3, "state": "primary", "created_at": "2026-11-22T10:00:00Z", "records": 120},
				{"version": 2, "state": "retiring", "records": 4},
			},
			"rotation": map[string]any{"state": "running", "started_at": "2026-11-22T10:00:00Z", "reencrypted": 116, "remaining": 4},
		})
	}
}

func (fv *fakeVault) revealCard(w http.ResponseWriter, r *http.Request, c map[string]any) {
	fv.sealAnswer(w, c, map[string]any{
		"token": r.PathValue("token"),
		"card":  map[string]any{"number": testPAN, "exp_month": 12, "exp_year": 2030, "holder_name": testHolder},
	})
}

func (fv *fakeVault) revealSecret(w http.ResponseWriter, r *http.Request, c map[string]any) {
	fv.sealAnswer(w, c, map[string]any{"name": r.PathValue("name"), "version": 2, "value": testSecretValue})
}

// sealAnswer answers a reveal: JWS by the vault signing key, inside a JWE
// to the client's encryption key, with the configured tampering applied.
func (fv *fakeVault) sealAnswer(w http.ResponseWriter, c map[string]any, body map[string]any) {
	t := fv.t
	fv.mu.Lock()
	signer, aud, jti, iss, token := fv.sig, fv.clientID, c["jti"], VaultIssuer, ""
	if fv.answerSigner != nil {
		signer = *fv.answerSigner
	}
	if fv.answerAud != "" {
		aud = fv.answerAud
	}
	if fv.answerJTI != "" {
		jti = fv.answerJTI
	}
	if fv.answerIss != "" {
		iss = fv.answerIss
	}
	token = fv.answerToken
	fv.mu.Unlock()

	claims := map[string]any{"iss": iss, "aud": aud, "iat": fv.now.Unix(), "jti": jti, "merchant_id": c["merchant_id"]}
	for k, v := range body {
		claims[k] = v
	}
	if token != "" {
		claims["token"] = token
	}
	payload, _ := json.Marshal(claims)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(signer.Algorithm), Key: signer}, nil)
	if err != nil {
		t.Fatalf("answer signer: %v", err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatalf("sign answer: %v", err)
	}
	compactJWS, _ := jws.CompactSerialize()
	enc, err := jose.NewEncrypter(jose.A256GCM,
		jose.Recipient{Algorithm: jose.KeyAlgorithm(fv.clientEnc.Algorithm), Key: fv.clientEnc.Key, KeyID: fv.clientEnc.KeyID},
		(&jose.EncrypterOptions{}).WithContentType("JWT"))
	if err != nil {
		t.Fatalf("answer encrypter: %v", err)
	}
	obj, err := enc.Encrypt([]byte(compactJWS))
	if err != nil {
		t.Fatalf("encrypt answer: %v", err)
	}
	compact, _ := obj.CompactSerialize()
	w.Header().Set("Content-Type", joseMediaType)
	_, _ = io.WriteString(w, compact)
}

func noContent(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": "refused", "request_id": "req-1"}})
}

func publicOf(k jose.JSONWebKey) jose.JSONWebKey { return k.Public() }

func mustEC(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sharedRSA is generated once: RSA key generation is slow under -race and
// the tests only need a valid 2048-bit key, not a distinct one each.
var sharedRSA = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

func mustRSA(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := sharedRSA()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// listCards answers one page: a card, and a next_cursor unless the
// request carried one.
func (fv *fakeVault) listCards(w http.ResponseWriter, r *http.Request, claims map[string]any) {
	next := `"next"`
	if _, has := claims["cursor"]; has {
		next = "null"
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"merchant_id":%q,"cards":[{"token":"tok_1","merchant_id":%q,"fingerprint":"fp_1",
		"masked":{"first4":"4242","last4":"4242","display":"4242 **** **** 4242","brand":"visa","exp_month":12,"exp_year":2030},
		"created_at":"2026-11-22T10:00:00Z"}],"next_cursor":%s}`, claims["merchant_id"], claims["merchant_id"], next)
}
