package localmode_test

import (
	"net/http"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/internal/vaulttest"
)

// TestClaimCaseVariantsAreRefusedForEveryOperation sends, for every
// operation, each claim it reads under a name differing only in letter
// case, in place of the claim and beside it: every one is 400
// malformed_request and changes nothing, whether the claim is required
// (VALUE for value) or optional (TTL_Seconds, Metadata), at the top level
// or inside card.
func TestClaimCaseVariantsAreRefusedForEveryOperation(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"m_1"})
	v := vaulttest.Start(t, c)
	r := c.VaultCard(t, "m_1", map[string]any{"card": testCard(testPAN)}, jose.ECDH_ES_A256KW)
	if r.Status != http.StatusCreated {
		t.Fatalf("setup: %d %s", r.Status, r.Body)
	}
	tok := r.JSON["token"].(string)
	secret := "/v1/merchants/m_1/secrets/api-key"
	putSecret := func(extra map[string]any) *vaulttest.Response {
		return c.PostJOSE(http.MethodPut, secret, c.Encrypt(t, c.Sign(t, c.Claims("put_secret", "m_1", extra)), jose.ECDH_ES_A256KW))
	}
	if r := putSecret(map[string]any{"name": "api-key", "value": testSecret}); r.Status != http.StatusCreated {
		t.Fatalf("setup: %d %s", r.Status, r.Body)
	}

	type operation struct {
		op, method, path string
		jwe              bool
		claims           func() map[string]any
		// variants maps a claim path (card.number for a member of card) to
		// its case variant.
		variants map[string]string
	}
	card := func() map[string]any { return testCard(testPAN) }
	common := map[string]string{"merchant_id": "Merchant_ID", "jti": "JTI", "iat": "Iat", "op": "OP"}
	withCommon := func(own map[string]string) map[string]string {
		out := map[string]string{}
		for k, val := range common {
			out[k] = val
		}
		for k, val := range own {
			out[k] = val
		}
		return out
	}
	ops := []operation{
		{"vault_card", http.MethodPost, "/v1/cards", true,
			func() map[string]any {
				return map[string]any{"card": card(), "customer_id": "c_1", "ttl_seconds": 3600}
			},
			withCommon(map[string]string{"card": "Card", "customer_id": "Customer_ID", "ttl_seconds": "TTL_Seconds",
				"card.number": "Number", "card.exp_month": "EXP_MONTH", "card.exp_year": "Exp_Year", "card.holder_name": "Holder_Name"})},
		{"get_masked", http.MethodGet, "/v1/cards/" + tok, false,
			func() map[string]any { return map[string]any{"token": tok} }, withCommon(map[string]string{"token": "Token"})},
		{"reveal_card", http.MethodPost, "/v1/cards/" + tok + "/reveal", false,
			func() map[string]any { return map[string]any{"token": tok} }, withCommon(map[string]string{"token": "TOKEN"})},
		{"delete_card", http.MethodDelete, "/v1/cards/" + tok, false,
			func() map[string]any { return map[string]any{"token": tok} }, withCommon(map[string]string{"token": "Token"})},
		{"put_secret", http.MethodPut, secret, true,
			func() map[string]any {
				return map[string]any{"name": "api-key", "value": testSecret + "-v2", "metadata": map[string]string{"k": "v"}}
			},
			withCommon(map[string]string{"name": "Name", "value": "VALUE", "metadata": "Metadata"})},
		{"get_secret", http.MethodGet, secret, false,
			func() map[string]any { return map[string]any{"name": "api-key"} }, withCommon(map[string]string{"name": "NAME"})},
		{"reveal_secret", http.MethodPost, secret + "/reveal", false,
			func() map[string]any { return map[string]any{"name": "api-key"} }, withCommon(map[string]string{"name": "Name"})},
		{"delete_secret", http.MethodDelete, secret, false,
			func() map[string]any { return map[string]any{"name": "api-key"} }, withCommon(map[string]string{"name": "Name"})},
		{"rotate_keys", http.MethodPost, "/v1/merchants/m_1/keys/rotate", false, func() map[string]any { return nil }, common},
		{"get_keys", http.MethodGet, "/v1/merchants/m_1/keys", false, func() map[string]any { return nil }, common},
		{"shred_merchant", http.MethodDelete, "/v1/merchants/m_1", false, func() map[string]any { return nil }, common},
	}

	before := v.TableDump()
	for _, o := range ops {
		for path, variant := range o.variants {
			for _, beside := range []bool{false, true} {
				claims := c.Claims(o.op, "m_1", o.claims())
				target, name := claims, path
				if strings.HasPrefix(path, "card.") {
					target, name = claims["card"].(map[string]any), strings.TrimPrefix(path, "card.")
				}
				target[variant] = target[name]
				if !beside {
					delete(target, name)
				}
				var r *vaulttest.Response
				if o.jwe {
					r = c.PostJOSE(o.method, o.path, c.Encrypt(t, c.Sign(t, claims), jose.ECDH_ES_A256KW))
				} else {
					r = c.Bearer(o.method, o.path, c.Sign(t, claims))
				}
				if r.Status != http.StatusBadRequest || r.Code() != "malformed_request" {
					t.Errorf("%s: %s for %s (beside it: %v): %d %s, want 400 malformed_request", o.op, variant, path, beside, r.Status, r.Body)
				}
			}
		}
	}
	if after := v.TableDump(); after != before {
		t.Error("a refused request changed the table")
	}
}
