package localmode_test

import (
	"net/http"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/internal/vaulttest"
)

// sigV4 is what an AWS SDK puts in Authorization when it signs a request
// for API Gateway's IAM authorizer.
const sigV4 = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/eu-west-1/execute-api/aws4_request, " +
	"SignedHeaders=host;vault-authorization;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000"

// TestVaultAuthorizationHeader holds the contract's credential header
// rule: Vault-Authorization first, Authorization only when it is Bearer,
// both Bearer refused, SigV4 alone unauthenticated, JWE routes deaf to
// both. A refused request does not spend its jti.
func TestVaultAuthorizationHeader(t *testing.T) {
	app := vaulttest.NewClient("app", jose.ES256, []string{"m_1"})
	v := vaulttest.Start(t, app)
	r := app.VaultCard(t, "m_1", map[string]any{"card": testCard(testPAN)}, jose.ECDH_ES_A256KW)
	if r.Status != http.StatusCreated {
		t.Fatalf("setup: %d %s", r.Status, r.Body)
	}
	token := r.JSON["token"].(string)
	path := "/v1/cards/" + token
	masked := func() string {
		return app.Sign(t, app.Claims("get_masked", "m_1", map[string]any{"token": token}))
	}
	get := func(headers map[string]string) *vaulttest.Response {
		return v.Do(http.MethodGet, path, headers, "")
	}

	for _, c := range []struct {
		name    string
		headers func(jws string) map[string]string
		status  int
		code    string
	}{
		{"Vault-Authorization beside SigV4", func(jws string) map[string]string {
			return map[string]string{"Authorization": sigV4, "Vault-Authorization": "Bearer " + jws}
		}, http.StatusOK, ""},
		{"Vault-Authorization alone", func(jws string) map[string]string {
			return map[string]string{"Vault-Authorization": "Bearer " + jws}
		}, http.StatusOK, ""},
		{"lower-case bearer scheme", func(jws string) map[string]string {
			return map[string]string{"vault-authorization": "bearer " + jws}
		}, http.StatusOK, ""},
		{"Authorization Bearer (v1)", func(jws string) map[string]string {
			return map[string]string{"Authorization": "Bearer " + jws}
		}, http.StatusOK, ""},
		{"both Bearer", func(jws string) map[string]string {
			return map[string]string{"Authorization": "Bearer " + jws, "Vault-Authorization": "Bearer " + jws}
		}, http.StatusBadRequest, "malformed_request"},
		{"SigV4 alone", func(string) map[string]string {
			return map[string]string{"Authorization": sigV4}
		}, http.StatusUnauthorized, "unauthenticated"},
		{"Vault-Authorization not Bearer", func(jws string) map[string]string {
			return map[string]string{"Authorization": sigV4, "Vault-Authorization": jws}
		}, http.StatusUnauthorized, "unauthenticated"},
		{"Vault-Authorization with a bad signature", func(jws string) map[string]string {
			return map[string]string{"Authorization": sigV4, "Vault-Authorization": "Bearer " + jws[:len(jws)-4] + "AAAA"}
		}, http.StatusUnauthorized, "unauthenticated"},
		{"empty Vault-Authorization beside a Bearer Authorization", func(jws string) map[string]string {
			return map[string]string{"Authorization": "Bearer " + jws, "Vault-Authorization": ""}
		}, http.StatusUnauthorized, "unauthenticated"},
	} {
		t.Run(c.name, func(t *testing.T) {
			jws := masked()
			r := get(c.headers(jws))
			if r.Status != c.status || r.Code() != c.code {
				t.Fatalf("%d %q, want %d %q: %s", r.Status, r.Code(), c.status, c.code, r.Body)
			}
			if c.status != http.StatusOK {
				// Nothing was spent: the same JWS, sent the v1.1 way, passes.
				if r := get(map[string]string{"Authorization": sigV4, "Vault-Authorization": "Bearer " + jws}); r.Status != http.StatusOK {
					t.Fatalf("the refused request spent its jti: %d %s", r.Status, r.Body)
				}
			}
		})
	}

	t.Run("JWE route ignores both headers", func(t *testing.T) {
		jwe := app.Encrypt(t, app.Sign(t, app.Claims("vault_card", "m_1", map[string]any{"customer_id": "c_jwe", "card": testCard(testPAN)})), jose.ECDH_ES_A256KW)
		r := v.Do(http.MethodPost, "/v1/cards", map[string]string{
			"Content-Type":        "application/jose",
			"Authorization":       sigV4,
			"Vault-Authorization": "Bearer not.a.jws",
		}, jwe)
		if r.Status != http.StatusCreated {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
}
