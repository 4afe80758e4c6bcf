package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/secret"
)

const (
	testPAN         = "4242424242424242"
	testHolder      = "Jane Doe"
	testSecretValue = "sk_live_0123456789abcd"
	testMerchant    = "m_123"
)

func newTestCreds(t *testing.T, encAlg string) *Credentials {
	t.Helper()
	creds, err := GenerateCredentials("app-server", encAlg)
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

func testCard() Card {
	return Card{Number: secret.New(testPAN), ExpMonth: 12, ExpYear: 2030, HolderName: secret.New(testHolder)}
}

func TestVaultCardSendsSignedClaimsInsideJWE(t *testing.T) {
	creds := newTestCreds(t, KeyAlgECDH)
	fv := newFakeVault(t, creds)
	c := fv.client(creds)

	rec, err := c.VaultCard(context.Background(), VaultCardRequest{
		MerchantID: testMerchant, CustomerID: "c_9", Card: testCard(), TTLSeconds: 3600,
	})
	if err != nil {
		t.Fatalf("VaultCard: %v", err)
	}
	seen := fv.last()
	if !seen.carriedAsJWE || seen.method != http.MethodPost || seen.escapedPath != "/v1/cards" {
		t.Errorf("route = %s %s JWE=%v", seen.method, seen.escapedPath, seen.carriedAsJWE)
	}
	if seen.jweAlg != KeyAlgECDH || seen.jweEnc != "A256GCM" || seen.jweKID != "vault-enc-ec-1" || seen.jweCty != "JWT" {
		t.Errorf("JWE header alg=%q enc=%q kid=%q cty=%q", seen.jweAlg, seen.jweEnc, seen.jweKID, seen.jweCty)
	}
	if seen.jwsAlg != "ES256" || seen.jwsKID != creds.SigningKeyID() || seen.jwsTyp != "JWT" {
		t.Errorf("JWS header alg=%q kid=%q typ=%q", seen.jwsAlg, seen.jwsKID, seen.jwsTyp)
	}
	if iat := seen.claims["iat"].(float64); int64(iat) != fv.now.Unix() {
		t.Errorf("iat = %v, want the clock's %d", iat, fv.now.Unix())
	}
	if seen.claims["customer_id"] != "c_9" || seen.claims["ttl_seconds"] != float64(3600) || seen.claims["merchant_id"] != testMerchant {
		t.Errorf("claims = customer %v ttl %v merchant %v", seen.claims["customer_id"], seen.claims["ttl_seconds"], seen.claims["merchant_id"])
	}
	card, _ := seen.claims["card"].(map[string]any)
	if card["number"] != testPAN || card["exp_month"] != float64(12) || card["exp_year"] != float64(2030) || card["holder_name"] != testHolder {
		t.Errorf("card claim does not carry the card")
	}
	if _, has := seen.claims["token"]; has {
		t.Error("vault_card carries a token claim")
	}
	if rec.Token != "tok_new" || rec.Fingerprint != "fp_abc" || rec.Masked.Last4 != "4242" || rec.Masked.Brand != "visa" ||
		rec.Masked.ExpYear != 2030 || rec.CustomerID != "c_9" || rec.CreatedAt.IsZero() || rec.Duplicate {
		t.Errorf("record = %+v", rec)
	}
}

func TestVaultCardOmitsOptionalClaims(t *testing.T) {
	creds := newTestCreds(t, KeyAlgECDH)
	fv := newFakeVault(t, creds)
	card := Card{Number: secret.New(testPAN), ExpMonth: 1, ExpYear: 2031}
	if _, err := fv.client(creds).VaultCard(context.Background(), VaultCardRequest{MerchantID: testMerchant, Card: card}); err != nil {
		t.Fatal(err)
	}
	claims := fv.last().claims
	for _, name := range []string{"customer_id", "ttl_seconds"} {
		if _, has := claims[name]; has {
			t.Errorf("claim %q sent although not set", name)
		}
	}
	if _, has := claims["card"].(map[string]any)["holder_name"]; has {
		t.Error("empty holder_name sent")
	}
}

func TestKeyAlgorithmChoice(t *testing.T) {
	creds := newTestCreds(t, KeyAlgECDH)
	tests := []struct {
		name      string
		publishEC bool
		opts      []Option
		wantAlg   string
		wantKID   string
	}{
		{"prefers ECDH", true, nil, KeyAlgECDH, "vault-enc-ec-1"},
		{"RSA when asked", true, []Option{WithKeyAlgorithm(KeyAlgRSA)}, KeyAlgRSA, "vault-enc-rsa-1"},
		{"falls back to RSA", false, nil, KeyAlgRSA, "vault-enc-rsa-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fv := newFakeVault(t, creds)
			fv.configure(func(fv *fakeVault) { fv.publishEC = tt.publishEC })
			if _, _, err := fv.client(creds, tt.opts...).PutSecret(context.Background(), testMerchant, "api_key", secret.New(testSecretValue), nil); err != nil {
				t.Fatal(err)
			}
			if seen := fv.last(); seen.jweAlg != tt.wantAlg || seen.jweKID != tt.wantKID {
				t.Errorf("JWE alg=%q kid=%q, want %q %q", seen.jweAlg, seen.jweKID, tt.wantAlg, tt.wantKID)
			}
		})
	}
}

func TestStrictKeyAlgorithmWithoutSuchVaultKeyFails(t *testing.T) {
	creds := newTestCreds(t, KeyAlgECDH)
	fv := newFakeVault(t, creds)
	fv.configure(func(fv *fakeVault) { fv.publishEC = false })
	_, err := fv.client(creds, WithKeyAlgorithm(KeyAlgECDH)).VaultCard(context.Background(),
		VaultCardRequest{MerchantID: testMerchant, Card: testCard()})
	if err == nil || !strings.Contains(err.Error(), "no usable encryption key") {
		t.Fatalf("err = %v, want no usable encryption key", err)
	}
	if strings.Contains(err.Error(), testPAN) {
		t.Error("error carries the card number")
	}
}

func TestPutSecretSendsValueInsideJWE(t *testing.T) {
	creds := newTestCreds(t, KeyAlgECDH)
	fv := newFakeVault(t, creds)
	c := fv.client(creds)
	meta, created, err := c.PutSecret(context.Background(), testMerchant, "stripe.api-key", secret.New(testSecretValue), map[string]string{"connector": "stripe"})
	if err != nil {
		t.Fatal(err)
	}
	seen := fv.last()
	if !seen.carriedAsJWE || seen.method != http.MethodPut || seen.escapedPath != "/v1/merchants/m_123/secrets/stripe.api-key" {
		t.Errorf("route = %s %s JWE=%v", seen.method, seen.escapedPath, seen.carriedAsJWE)
	}
	if seen.claims["name"] != "stripe.api-key" || seen.claims["value"] != testSecretValue {
		t.Errorf("claims name=%v, value carried=%v", seen.claims["name"], seen.claims["value"] == testSecretValue)
	}
	if md, _ := seen.claims["metadata"].(map[string]any); md["connector"] != "stripe" {
		t.Errorf("metadata claim = %v", seen.claims["metadata"])
	}
	if !created || meta.Version != 2 || meta.Masked != "****abcd" || meta.Metadata["connector"] != "stripe" || meta.UpdatedAt.IsZero() {
		t.Errorf("meta = %+v created=%v", meta, created)
	}
	_, created, err = c.PutSecret(context.Background(), testMerchant, "stripe.api-key", secret.New("another-value-123"), nil)
	if err != nil || created {
		t.Errorf("second put: created=%v err=%v, want a new version (200)", created, err)
	}
	if _, has := fv.last().claims["metadata"]; has {
		t.Error("empty metadata sent")
	}
}

// TestBearerRoutes checks every operation without a sensitive body: route,
// method, op, route-bound claims, Bearer credential, empty body.
func TestBearerRoutes(t *testing.T) {
	creds := newTestCreds(t, KeyAlgECDH)
	fv := newFakeVault(t, creds)
	c := fv.client(creds)
	ctx := context.Background()
	tests := []struct {
		op, method, path, token, name string
		run                           func() error
	}{
		{OpGetMasked, "GET", "/v1/cards/tok_1", "tok_1", "", func() error { _, err := c.GetMasked(ctx, testMerchant, "tok_1"); return err }},
		{OpRevealCard, "POST", "/v1/cards/tok_1/reveal", "tok_1", "", func() error { _, err := c.RevealCard(ctx, testMerchant, "tok_1"); return err }},
		{OpDeleteCard, "DELETE", "/v1/cards/tok_1", "tok_1", "", func() error { return c.DeleteCard(ctx, testMerchant, "tok_1") }},
		{OpGetSecret, "GET", "/v1/merchants/m_123/secrets/api_key", "", "api_key", func() error { _, err := c.GetSecret(ctx, testMerchant, "api_key"); return err }},
		{OpRevealSecret, "POST", "/v1/merchants/m_123/secrets/api_key/reveal", "", "api_key", func() error { _, err := c.RevealSecret(ctx, testMerchant, "api_key"); return err }},
		{OpDeleteSecret, "DELETE", "/v1/merchants/m_123/secrets/api_key", "", "api_key", func() error { return c.DeleteSecret(ctx, testMerchant, "api_key") }},
		{OpRotateKeys, "POST", "/v1/merchants/m_123/keys/rotate", "", "", func() error { _, err := c.RotateKeys(ctx, testMerchant); return err }},
		{OpGetKeys, "GET", "/v1/merchants/m_123/keys", "", "", func() error { _, err := c.GetKeys(ctx, testMerchant); return err }},
		{OpShredMerchant, "DELETE", "/v1/merchants/m_123", "", "", func() error { return c.ShredMerchant(ctx, testMerchant) }},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			if err := tt.run(); err != nil {
				t.Fatalf("%s: %v", tt.op, err)
			}
			seen := fv.last()
			if seen.carriedAsJWE || seen.contentType == joseMediaType {
				t.Error("Bearer route sent a JWE body")
			}
			if seen.method != tt.method || seen.escapedPath != tt.path {
				t.Errorf("route = %s %s, want %s %s", seen.method, seen.escapedPath, tt.method, tt.path)
			}
			if seen.claims["op"] != tt.op || seen.claims["merchant_id"] != testMerchant {
				t.Errorf("op=%v merchant_id=%v", seen.claims["op"], seen.claims["merchant_id"])
			}
			if tok, has := seen.claims["token"]; (tt.token == "" && has) || (tt.token != "" && tok != tt.token) {
				t.Errorf("token claim = %v, want %q", tok, tt.token)
			}
			if name, has := seen.claims["name"]; (tt.name == "" && has) || (tt.name != "" && name != tt.name) {
				t.Errorf("name claim = %v, want %q", name, tt.name)
			}
			if seen.jwsAlg != "ES256" || seen.jwsKID != creds.SigningKeyID() || seen.jwsTyp != "JWT" {
				t.Errorf("JWS header alg=%q kid=%q typ=%q", seen.jwsAlg, seen.jwsKID, seen.jwsTyp)
			}
		})
	}
}

func TestKeyStatusDecodes(t *testing.T) {
	creds := newTestCreds(t, KeyAlgECDH)
	fv := newFakeVault(t, creds)
	st, err := fv.client(creds).RotateKeys(context.Background(), testMerchant)
	if err != nil {
		t.Fatal(err)
	}
	if st.MerchantID != testMerchant || st.PrimaryVersion != 3 || len(st.Versions) != 2 ||
		st.Versions[0].Records != 120 || st.Versions[1].State != "retiring" || !st.Versions[1].CreatedAt.IsZero() ||
		st.Rotation.State != RotationRunning || st.Rotation.Reencrypted != 116 || st.Rotation.Remaining != 4 || st.Rotation.StartedAt.IsZero() {
		t.Errorf("status = %+v", st)
	}
}

func TestPathSegmentsAreEscaped(t *testing.T) {
	creds := newTestCreds(t, KeyAlgECDH)
	fv := newFakeVault(t, creds)
	c := fv.client(creds)
	if _, err := c.GetSecret(context.Background(), "m/1", "a b"); err != nil {
		t.Fatal(err)
	}
	seen := fv.last()
	if seen.escapedPath != "/v1/merchants/m%2F1/secrets/a%20b" {
		t.Errorf("path = %q", seen.escapedPath)
	}
	if seen.claims["merchant_id"] != "m/1" || seen.claims["name"] != "a b" {
		t.Errorf("claims carry escaped values: %v %v", seen.claims["merchant_id"], seen.claims["name"])
	}
	for _, bad := range []string{"", ".", ".."} {
		if _, err := c.GetMasked(context.Background(), testMerchant, bad); err == nil {
			t.Errorf("token %q accepted", bad)
		}
	}
	if err := c.ShredMerchant(context.Background(), ""); err == nil {
		t.Error("empty merchant accepted")
	}
}

func TestJWKSFetchedOnceAcrossConcurrentCalls(t *testing.T) {
	creds := newTestCreds(t, KeyAlgECDH)
	fv := newFakeVault(t, creds)
	c := fv.client(creds)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			_, err := c.VaultCard(context.Background(), VaultCardRequest{MerchantID: testMerchant, Card: testCard()})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := fv.fetches(); n != 1 {
		t.Errorf("JWKS fetched %d times, want 1", n)
	}
}

func TestHealthAndJWKS(t *testing.T) {
	creds := newTestCreds(t, KeyAlgECDH)
	fv := newFakeVault(t, creds)
	c := fv.client(creds)
	if err := c.Health(context.Background()); err != nil {
		t.Fatalf("Health: %v", err)
	}
	raw, err := c.JWKS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Key("vault-sig-1")) != 1 || len(set.Keys) != 3 {
		t.Errorf("JWKS has %d keys", len(set.Keys))
	}
}

func TestAPIErrorParsing(t *testing.T) {
	creds := newTestCreds(t, KeyAlgECDH)
	fv := newFakeVault(t, creds)
	c := fv.client(creds)

	fv.configure(func(fv *fakeVault) {
		fv.failWith = &fakeFailure{status: http.StatusNotFound,
			body: `{"error":{"code":"not_found","message":"no such card","request_id":"req-42"}}`}
	})
	_, err := c.GetMasked(context.Background(), testMerchant, "tok_gone")
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v, want *APIError", err)
	}
	if apiErr.Status != 404 || apiErr.Code != CodeNotFound || apiErr.Message != "no such card" || apiErr.RequestID != "req-42" {
		t.Errorf("APIError = %+v", apiErr)
	}
	if got := apiErr.Error(); got != "vault: 404 not_found: no such card (request req-42)" {
		t.Errorf("Error() = %q", got)
	}
	if ErrorCode(fmt.Errorf("wrapped: %w", err)) != CodeNotFound {
		t.Error("ErrorCode does not see through wrapping")
	}

	fv.configure(func(fv *fakeVault) {
		fv.failWith = &fakeFailure{status: http.StatusServiceUnavailable, header: map[string]string{"Retry-After": "7"},
			body: `{"error":{"code":"unavailable","message":"try later","request_id":"req-43"}}`}
	})
	_, err = c.VaultCard(context.Background(), VaultCardRequest{MerchantID: testMerchant, Card: testCard()})
	if !errors.As(err, &apiErr) || apiErr.Code != CodeUnavailable || apiErr.RetryAfter.Seconds() != 7 {
		t.Errorf("err = %v (retry after %v)", err, apiErr.RetryAfter)
	}
	if strings.Contains(err.Error(), testPAN) || strings.Contains(err.Error(), testHolder) {
		t.Error("error carries card data")
	}

	// A body that is not the contract's error JSON is never copied.
	fv.configure(func(fv *fakeVault) {
		fv.failWith = &fakeFailure{status: http.StatusBadGateway, body: "<html>upstream " + testPAN + "</html>"}
	})
	err = c.DeleteCard(context.Background(), testMerchant, "tok_1")
	if !errors.As(err, &apiErr) || apiErr.Code != "" || apiErr.Message != "Bad Gateway" {
		t.Errorf("err = %v", err)
	}
	if strings.Contains(err.Error(), testPAN) {
		t.Error("error carries the raw body")
	}

	if err := New(fv.server.URL+"/nowhere", creds, WithHTTPClient(fv.server.Client())).Health(context.Background()); !errors.As(err, &apiErr) || apiErr.Status != 404 {
		t.Errorf("health on a wrong URL: %v", err)
	}
}

func TestVaultKeysAreFetchedAgainAfterMaxAge(t *testing.T) {
	creds := newTestCreds(t, KeyAlgECDH)
	fv := newFakeVault(t, creds)
	var offset atomic.Int64
	c := fv.client(creds,
		WithClock(func() time.Time { return fv.now.Add(time.Duration(offset.Load())) }),
		WithJWKSMaxAge(time.Second))
	vault := func() {
		t.Helper()
		if _, err := c.VaultCard(context.Background(), VaultCardRequest{MerchantID: testMerchant, Card: testCard()}); err != nil {
			t.Fatal(err)
		}
	}
	vault()
	vault()
	if n := fv.fetches(); n != 1 {
		t.Fatalf("JWKS fetched %d times within its max age, want 1", n)
	}
	offset.Store(int64(2 * time.Second))
	vault()
	if n := fv.fetches(); n != 2 {
		t.Errorf("JWKS fetched %d times after its max age, want 2", n)
	}
}

func TestListCards(t *testing.T) {
	creds := newTestCreds(t, KeyAlgECDH)
	fv := newFakeVault(t, creds)
	c := fv.client(creds)
	ctx := context.Background()
	page, err := c.ListCards(ctx, ListCardsRequest{MerchantID: testMerchant, CustomerID: "c 9", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	seen := fv.last()
	if seen.method != "GET" || seen.escapedPath != "/v1/merchants/m_123/customers/c%209/cards" || seen.carriedAsJWE {
		t.Errorf("route = %s %s", seen.method, seen.escapedPath)
	}
	if seen.claims["op"] != OpListCards || seen.claims["customer_id"] != "c 9" || seen.claims["limit"] != float64(10) {
		t.Errorf("claims %v", seen.claims)
	}
	if _, has := seen.claims["cursor"]; has {
		t.Error("a first page sent a cursor")
	}
	if len(page.Cards) != 1 || page.Cards[0].Token != "tok_1" || page.NextCursor != "next" || page.MerchantID != testMerchant {
		t.Errorf("page %+v", page)
	}
	last, err := c.ListCards(ctx, ListCardsRequest{MerchantID: testMerchant, Fingerprint: "fp_1", Cursor: page.NextCursor})
	if err != nil {
		t.Fatal(err)
	}
	seen = fv.last()
	if seen.escapedPath != "/v1/merchants/m_123/fingerprints/fp_1/cards" || seen.claims["fingerprint"] != "fp_1" || seen.claims["cursor"] != "next" {
		t.Errorf("second page: %s %v", seen.escapedPath, seen.claims)
	}
	if last.NextCursor != "" {
		t.Errorf("next_cursor null read as %q", last.NextCursor)
	}
	for _, bad := range []ListCardsRequest{
		{MerchantID: testMerchant},
		{MerchantID: testMerchant, CustomerID: "c", Fingerprint: "f"},
		{CustomerID: "c"},
	} {
		if _, err := c.ListCards(ctx, bad); err == nil {
			t.Errorf("ListCards(%+v) sent a request", bad)
		}
	}
}
