package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/httpapi"
	"github.com/cardvault/vault/shared/memstore"
	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
	"github.com/cardvault/vault/shared/wire"
)

// FuzzHandle drives API.Handle with arbitrary API Gateway events: method,
// route key, path, content type, Authorization, body and its base64 flag.
// The API serves the card and secret routes over in-memory stores, with
// the real JOSE opener. Whatever the event, Handle must not panic or
// fail, and must answer a status of the contract with a well-formed body:
// the contract's error JSON for a refusal, JSON or a compact JWE for a
// success. No answer but a sealed reveal may hold the card number.
func FuzzHandle(f *testing.F) {
	fx := mustHandleFixture(f)
	card := map[string]any{"number": fuzzPAN, "exp_month": 12, "exp_year": 2030, "holder_name": "Jane Doe"}
	vaultCard := fx.encrypt(f, fx.sign(f, fx.claims("vault_card", "m_1", "card", card, "customer_id", "c_1")))
	putSecret := fx.encrypt(f, fx.sign(f, fx.claims("put_secret", "m_1", "name", "api-key", "value", "sk_live_0123456789abcdef")))
	bearer := func(op string, kv ...any) string { return "Bearer " + fx.sign(f, fx.claims(op, "m_1", kv...)) }
	seeds := []struct {
		method, routeKey, path, contentType, auth, body string
		b64                                             bool
	}{
		{"POST", "POST /v1/cards", "/v1/cards", "application/jose", "", vaultCard, false},
		{"POST", "POST /v1/cards", "/v1/cards", "application/jose; charset=utf-8", "", base64.StdEncoding.EncodeToString([]byte(vaultCard)), true},
		{"POST", "$default", "/v1/cards", "application/json", "", vaultCard, false},
		{"PUT", "PUT /v1/merchants/{merchant_id}/secrets/{name}", "/v1/merchants/m_1/secrets/api-key", "application/jose", "", putSecret, false},
		{"GET", "GET /v1/cards/{token}", "/v1/cards/tok_AAAAAAAAAAAAAAAAAAAAAA", "", bearer("get_masked", "token", "tok_AAAAAAAAAAAAAAAAAAAAAA"), "", false},
		{"POST", "POST /v1/cards/{token}/reveal", "/v1/cards/tok_x/reveal", "", bearer("reveal_card", "token", "tok_x"), "", false},
		{"DELETE", "DELETE /v1/cards/{token}", "/v1/cards/tok_x", "", bearer("delete_card", "token", "tok_x"), "", false},
		{"GET", "GET /v1/merchants/{merchant_id}/secrets/{name}", "/v1/merchants/m_1/secrets/api-key", "", bearer("get_secret", "name", "api-key"), "", false},
		{"POST", "POST /v1/merchants/{merchant_id}/secrets/{name}/reveal", "/v1/merchants/m_1/secrets/api-key/reveal", "", bearer("reveal_secret", "name", "api-key"), "", false},
		{"DELETE", "$default", "/v1/merchants/m_1/secrets/api-key", "", bearer("delete_secret", "name", "api-key"), "", false},
		{"GET", "GET /v1/jwks", "/v1/jwks", "", "", "", false},
		{"GET", "$default", "/v1/health", "", "", "", false},
		{"GET", "", "/v1/cards/%zz", "", "Bearer a.b.c", "", false},
		{"GET", "GET /v1/cards/{token}", "/v1/cards/tok_x", "", "bearer", "x", false},
		{"POST", "POST /v1/cards", "/v1/cards", "application/jose", "", "!!!", true},
	}
	for _, s := range seeds {
		f.Add(s.method, s.routeKey, s.path, s.contentType, s.auth, s.body, s.b64)
	}
	f.Fuzz(func(t *testing.T, method, routeKey, rawPath, contentType, authorization, body string, b64 bool) {
		api := fx.newAPI()
		_, params, _ := api.Match(method, rawPath)
		ev := events.APIGatewayV2HTTPRequest{
			Version:         "2.0",
			RouteKey:        routeKey,
			RawPath:         rawPath,
			Headers:         map[string]string{"Content-Type": contentType, "authorization": authorization},
			PathParameters:  params,
			Body:            body,
			IsBase64Encoded: b64,
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				RequestID: "req-1",
				HTTP:      events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: rawPath},
			},
		}
		resp, err := api.Handle(context.Background(), ev)
		if err != nil {
			t.Fatalf("Handle returned an error: %v", err)
		}
		checkResponse(t, resp)
	})
}

const fuzzPAN = "4242424242424242"

// successStatus and errorCodes are what the contract lets the vault
// answer. internal_error is a bug, never an answer to bad input.
var (
	successStatus = map[int]bool{200: true, 201: true, 202: true, 204: true}
	errorCodes    = map[vaulterr.Code]bool{
		vaulterr.Malformed: true, vaulterr.Unauthenticated: true, vaulterr.Stale: true, vaulterr.Forbidden: true,
		vaulterr.NotFound: true, vaulterr.Replayed: true, vaulterr.PayloadTooLarge: true,
		vaulterr.UnsupportedMediaType: true, vaulterr.InvalidCard: true, vaulterr.CVCNotAccepted: true,
		vaulterr.InvalidSecret: true, vaulterr.RateLimited: true, vaulterr.Unavailable: true,
	}
)

func checkResponse(t *testing.T, resp events.APIGatewayV2HTTPResponse) {
	t.Helper()
	if resp.Headers["cache-control"] != "no-store" || resp.Headers["x-request-id"] != "req-1" {
		t.Fatalf("response headers %v lack no-store or the request id", resp.Headers)
	}
	contentType := resp.Headers["content-type"]
	if resp.IsBase64Encoded {
		t.Fatal("response body is base64 encoded")
	}
	if contentType != "application/jose" && strings.Contains(resp.Body, fuzzPAN) {
		t.Fatalf("status %d answer holds the card number", resp.StatusCode)
	}
	if successStatus[resp.StatusCode] {
		switch {
		case resp.StatusCode == http.StatusNoContent:
			if resp.Body != "" {
				t.Fatal("204 with a body")
			}
		case contentType == "application/jose":
			if strings.Count(resp.Body, ".") != 4 {
				t.Fatal("application/jose answer is not a compact JWE")
			}
		case contentType == "application/json":
			if !json.Valid([]byte(resp.Body)) || !strings.HasPrefix(resp.Body, "{") {
				t.Fatal("JSON answer is not a JSON object")
			}
		default:
			t.Fatalf("status %d with content type %q", resp.StatusCode, contentType)
		}
		return
	}
	var e struct {
		Error struct {
			Code      vaulterr.Code `json:"code"`
			Message   string        `json:"message"`
			RequestID string        `json:"request_id"`
		} `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(resp.Body))
	dec.DisallowUnknownFields()
	if contentType != "application/json" || dec.Decode(&e) != nil {
		t.Fatalf("status %d answer is not the contract's error JSON", resp.StatusCode)
	}
	if !errorCodes[e.Error.Code] || e.Error.Code.Status() != resp.StatusCode || e.Error.Message == "" || e.Error.RequestID != "req-1" {
		t.Fatalf("status %d answered code %q (message %q)", resp.StatusCode, e.Error.Code, e.Error.Message)
	}
	if (e.Error.Code == vaulterr.Unavailable || e.Error.Code == vaulterr.RateLimited) && resp.Headers["retry-after"] == "" {
		t.Fatal("503/429 without Retry-After")
	}
}

// handleFixture holds keys derived from fixed labels, so that requests
// signed while the seed corpus is built verify in every fuzz worker.
type handleFixture struct {
	vaultKeys *wire.VaultKeys
	registry  *wire.Registry
	vaultEnc  *ecdsa.PublicKey
	appSig    *ecdsa.PrivateKey
	master    []byte
}

var (
	handleOnce sync.Once
	handleFix  *handleFixture
	handleErr  error
)

var fuzzNow = time.Unix(1790000000, 0)

func derivedP256(label string) (*ecdsa.PrivateKey, error) {
	d := sha256.Sum256([]byte("cardvault fuzz key " + label))
	return ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
}

func mustHandleFixture(tb testing.TB) *handleFixture {
	tb.Helper()
	handleOnce.Do(func() { handleFix, handleErr = buildHandleFixture() })
	if handleErr != nil {
		tb.Fatalf("fixture: %v", handleErr)
	}
	return handleFix
}

func buildHandleFixture() (*handleFixture, error) {
	keys := map[string]*ecdsa.PrivateKey{}
	for _, label := range []string{"vault-enc", "vault-sig", "app-sig", "app-enc"} {
		k, err := derivedP256(label)
		if err != nil {
			return nil, err
		}
		keys[label] = k
	}
	master := sha256.Sum256([]byte("cardvault fuzz master key"))
	fx := &handleFixture{vaultEnc: &keys["vault-enc"].PublicKey, appSig: keys["app-sig"], master: master[:]}
	keyset, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: keys["vault-enc"], KeyID: "vault-enc", Use: "enc", Algorithm: string(jose.ECDH_ES_A256KW)},
		{Key: keys["vault-sig"], KeyID: "vault-sig", Use: "sig", Algorithm: string(jose.ES256)},
	}})
	if err != nil {
		return nil, err
	}
	if fx.vaultKeys, err = wire.ParseVaultKeys(keyset); err != nil {
		return nil, err
	}
	ops := []string{"vault_card", "get_masked", "reveal_card", "delete_card", "put_secret", "get_secret",
		"reveal_secret", "delete_secret", "rotate_keys", "get_keys", "shred_merchant"}
	registry, err := json.Marshal(map[string]any{"clients": []any{map[string]any{
		"id": "app", "merchants": []string{"m_1"}, "operations": ops,
		"keys": jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &keys["app-sig"].PublicKey, KeyID: "app-sig", Use: "sig", Algorithm: string(jose.ES256)},
			{Key: &keys["app-enc"].PublicKey, KeyID: "app-enc", Use: "enc"},
		}},
	}}})
	if err != nil {
		return nil, err
	}
	if fx.registry, err = wire.ParseRegistry(registry); err != nil {
		return nil, err
	}
	return fx, nil
}

// newAPI builds an API over fresh in-memory ports, so every input starts
// from the same empty vault.
func (fx *handleFixture) newAPI() *httpapi.API {
	now := func() time.Time { return fuzzNow }
	keyring, err := envelope.NewLocalKeyring(secret.New(bytes.Clone(fx.master)))
	if err != nil {
		panic(err)
	}
	store := memstore.New(memstore.WithClock(now))
	keys := envelope.NewManager(keyring, store, envelope.Options{Now: now})
	cardVault := vault.NewCardVault(store, store, store, keys, now)
	secretVault := vault.NewSecretVault(store, store, store, keys, now)
	deps := httpapi.Deps{
		Opener: &wire.Opener{Keys: fx.vaultKeys, Clients: wire.StaticRegistry(fx.registry), Now: now},
		Audit:  audit.Discard{},
		Logger: slog.New(slog.DiscardHandler),
		Now:    now,
	}
	return httpapi.New(deps,
		httpapi.SystemRoutes(fx.vaultKeys.PublicJWKS(), nil),
		httpapi.VaultCardRoutes(cardVault),
		httpapi.MaskedRoutes(vault.NewMaskedViews(store, store, store, now)),
		httpapi.RevealCardRoutes(cardVault, fx.vaultKeys, now),
		httpapi.DeleteCardRoutes(vault.NewCardDeleter(store, store, store, now)),
		httpapi.PutSecretRoutes(secretVault),
		httpapi.RevealSecretRoutes(secretVault, fx.vaultKeys, now),
		httpapi.SecretMetadataRoutes(vault.NewSecretMetadata(store, store, store, now)),
	)
}

func (fx *handleFixture) claims(op, merchant string, kv ...any) map[string]any {
	c := map[string]any{"iss": "app", "aud": wire.Audience, "iat": fuzzNow.Unix(), "jti": "jti-" + op,
		"op": op, "merchant_id": merchant}
	for i := 0; i < len(kv); i += 2 {
		c[kv[i].(string)] = kv[i+1]
	}
	return c
}

func (fx *handleFixture) sign(tb testing.TB, claims map[string]any) string {
	tb.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: fx.appSig, KeyID: "app-sig"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		tb.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func (fx *handleFixture) encrypt(tb testing.TB, jws string) string {
	tb.Helper()
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.ECDH_ES_A256KW, Key: fx.vaultEnc, KeyID: "vault-enc"},
		(&jose.EncrypterOptions{}).WithContentType("JWT"))
	if err != nil {
		tb.Fatal(err)
	}
	obj, err := enc.Encrypt([]byte(jws))
	if err != nil {
		tb.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestFuzzHandleSeedsReachTheOperations keeps the fuzz fixture honest: its
// signed seeds must pass authentication and reach the operations, or the
// fuzzer would only ever explore refusals.
func TestFuzzHandleSeedsReachTheOperations(t *testing.T) {
	fx := mustHandleFixture(t)
	api := fx.newAPI()
	card := map[string]any{"number": fuzzPAN, "exp_month": 12, "exp_year": 2030}
	send := func(method, routeKey, path, contentType, auth, body string) events.APIGatewayV2HTTPResponse {
		_, params, _ := api.Match(method, path)
		resp, err := api.Handle(context.Background(), events.APIGatewayV2HTTPRequest{
			RouteKey: routeKey, RawPath: path, PathParameters: params, Body: body,
			Headers:        map[string]string{"content-type": contentType, "authorization": auth},
			RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "req-1", HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method}},
		})
		if err != nil {
			t.Fatal(err)
		}
		checkResponse(t, resp)
		return resp
	}
	vaulted := send("POST", "POST /v1/cards", "/v1/cards", "application/jose", "",
		fx.encrypt(t, fx.sign(t, fx.claims("vault_card", "m_1", "card", card))))
	var view struct{ Token string }
	if vaulted.StatusCode != http.StatusCreated || json.Unmarshal([]byte(vaulted.Body), &view) != nil {
		t.Fatalf("vault_card: %d %s", vaulted.StatusCode, vaulted.Body)
	}
	revealed := send("POST", "POST /v1/cards/{token}/reveal", "/v1/cards/"+view.Token+"/reveal", "",
		"Bearer "+fx.sign(t, fx.claims("reveal_card", "m_1", "token", view.Token)), "")
	if revealed.StatusCode != http.StatusOK || revealed.Headers["content-type"] != "application/jose" {
		t.Fatalf("reveal_card: %d %s", revealed.StatusCode, revealed.Body)
	}
	put := send("PUT", "PUT /v1/merchants/{merchant_id}/secrets/{name}", "/v1/merchants/m_1/secrets/k", "application/jose", "",
		fx.encrypt(t, fx.sign(t, fx.claims("put_secret", "m_1", "name", "k", "value", "sk_live_0123456789"))))
	if put.StatusCode != http.StatusCreated {
		t.Fatalf("put_secret: %d %s", put.StatusCode, put.Body)
	}
}
