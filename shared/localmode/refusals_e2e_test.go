package localmode_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/internal/vaulttest"
)

// TestRefusalsChangeNothing sends each refusal of the contract that
// applies to vault_card and get_masked and checks its status and code,
// that the table is byte for byte what it was, and that the audit trail
// recorded the refusal.
func TestRefusalsChangeNothing(t *testing.T) {
	app := vaulttest.NewClient("app", jose.ES256, []string{"m_1"})
	other := vaulttest.NewClient("other", jose.ES256, []string{"m_1"})
	narrow := vaulttest.NewClient("narrow", jose.ES256, []string{"m_1"}, "get_masked")
	v := vaulttest.Start(t, app, other, narrow)

	ok := app.VaultCard(t, "m_1", map[string]any{"card": testCard(testPAN)}, jose.ECDH_ES_A256KW)
	if ok.Status != http.StatusCreated {
		t.Fatalf("setup: %d %s", ok.Status, ok.Body)
	}
	tok := ok.JSON["token"].(string)
	card := func() map[string]any { return map[string]any{"card": testCard(testPAN)} }
	vaultJWE := func(claims map[string]any) string {
		return app.Encrypt(t, app.Sign(t, claims), jose.ECDH_ES_A256KW)
	}
	replayed := vaultJWE(app.Claims("vault_card", "m_1", card()))
	if r := app.PostJOSE(http.MethodPost, "/v1/cards", replayed); r.Status != http.StatusOK {
		t.Fatalf("setup replay: %d %s", r.Status, r.Body)
	}
	maskedReplay := app.Sign(t, app.Claims("get_masked", "m_1", map[string]any{"token": tok}))
	if r := app.Bearer(http.MethodGet, "/v1/cards/"+tok, maskedReplay); r.Status != http.StatusOK {
		t.Fatalf("setup masked: %d %s", r.Status, r.Body)
	}

	claimsWith := func(op string, extra map[string]any, drop ...string) map[string]any {
		c := app.Claims(op, "m_1", extra)
		for _, d := range drop {
			delete(c, d)
		}
		return c
	}
	signedWithOtherKey := other.SignWith(t, app.Claims("vault_card", "m_1", card()), other.SigKID, nil)
	unsigned := func(alg string, claims map[string]any) string {
		h, _ := json.Marshal(map[string]any{"alg": alg, "kid": app.SigKID})
		p, _ := json.Marshal(claims)
		return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + "."
	}
	tampered := func(jws string) string {
		parts := strings.Split(jws, ".")
		var c map[string]any
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		_ = json.Unmarshal(raw, &c)
		c["merchant_id"] = "m_2"
		raw, _ = json.Marshal(c)
		parts[1] = base64.RawURLEncoding.EncodeToString(raw)
		return strings.Join(parts, ".")
	}
	now := v.Now().Unix()
	cvcCard := testCard(testPAN)
	cvcCard["cvc"] = "123"
	expired := testCard(testPAN)
	expired["exp_year"] = time.Now().Year() - 1
	luhn := testCard("4242424242424241")

	cases := []struct {
		name   string
		send   func() *vaulttest.Response
		status int
		code   string
	}{
		{"bad signature", func() *vaulttest.Response {
			return app.PostJOSE(http.MethodPost, "/v1/cards", app.Encrypt(t, tampered(app.Sign(t, claimsWith("vault_card", card()))), jose.ECDH_ES_A256KW))
		}, 401, "unauthenticated"},
		{"unknown kid", func() *vaulttest.Response {
			return app.PostJOSE(http.MethodPost, "/v1/cards", app.Encrypt(t, app.SignWith(t, claimsWith("vault_card", card()), "nobody", nil), jose.ECDH_ES_A256KW))
		}, 401, "unauthenticated"},
		{"iss names another client than the kid's owner", func() *vaulttest.Response {
			return app.PostJOSE(http.MethodPost, "/v1/cards", app.Encrypt(t, signedWithOtherKey, jose.ECDH_ES_A256KW))
		}, 401, "unauthenticated"},
		{"alg none", func() *vaulttest.Response {
			return app.PostJOSE(http.MethodPost, "/v1/cards", app.Encrypt(t, unsigned("none", claimsWith("vault_card", card())), jose.ECDH_ES_A256KW))
		}, 401, "unauthenticated"},
		{"HS256", func() *vaulttest.Response {
			return app.PostJOSE(http.MethodPost, "/v1/cards", app.Encrypt(t, unsigned("HS256", claimsWith("vault_card", card()))+"c2ln", jose.ECDH_ES_A256KW))
		}, 401, "unauthenticated"},
		{"crit header", func() *vaulttest.Response {
			jws := app.SignWith(t, claimsWith("vault_card", card()), app.SigKID, map[jose.HeaderKey]any{"crit": []string{"exp"}, "exp": 1})
			return app.PostJOSE(http.MethodPost, "/v1/cards", app.Encrypt(t, jws, jose.ECDH_ES_A256KW))
		}, 401, "unauthenticated"},
		{"stale iat", func() *vaulttest.Response {
			return app.PostJOSE(http.MethodPost, "/v1/cards", vaultJWE(claimsWith("vault_card", map[string]any{"card": testCard(testPAN), "iat": now - 301})))
		}, 401, "stale_request"},
		{"future iat", func() *vaulttest.Response {
			return app.PostJOSE(http.MethodPost, "/v1/cards", vaultJWE(claimsWith("vault_card", map[string]any{"card": testCard(testPAN), "iat": now + 120})))
		}, 401, "stale_request"},
		{"exp past", func() *vaulttest.Response {
			return app.PostJOSE(http.MethodPost, "/v1/cards", vaultJWE(claimsWith("vault_card", map[string]any{"card": testCard(testPAN), "exp": now - 1})))
		}, 401, "stale_request"},
		{"replayed vault_card", func() *vaulttest.Response { return app.PostJOSE(http.MethodPost, "/v1/cards", replayed) }, 409, "replayed"},
		{"replayed get_masked", func() *vaulttest.Response { return app.Bearer(http.MethodGet, "/v1/cards/"+tok, maskedReplay) }, 409, "replayed"},
		{"op does not match route", func() *vaulttest.Response {
			return app.PostJOSE(http.MethodPost, "/v1/cards", vaultJWE(claimsWith("get_masked", card())))
		}, 403, "forbidden"},
		{"bearer op does not match route", func() *vaulttest.Response {
			return app.Call(t, http.MethodGet, "/v1/cards/"+tok, "reveal_card", "m_1", map[string]any{"token": tok})
		}, 403, "forbidden"},
		{"token claim does not match route", func() *vaulttest.Response {
			return app.Call(t, http.MethodGet, "/v1/cards/"+tok, "get_masked", "m_1", map[string]any{"token": "tok_other"})
		}, 403, "forbidden"},
		{"merchant not allowed", func() *vaulttest.Response {
			return app.PostJOSE(http.MethodPost, "/v1/cards", app.Encrypt(t, app.Sign(t, app.Claims("vault_card", "m_2", card())), jose.ECDH_ES_A256KW))
		}, 403, "forbidden"},
		{"operation not allowed", func() *vaulttest.Response {
			return narrow.PostJOSE(http.MethodPost, "/v1/cards", narrow.Encrypt(t, narrow.Sign(t, narrow.Claims("vault_card", "m_1", card())), jose.ECDH_ES_A256KW))
		}, 403, "forbidden"},
		{"no credential", func() *vaulttest.Response { return v.Do(http.MethodGet, "/v1/cards/"+tok, nil, "") }, 401, "unauthenticated"},
		{"wrong content type", func() *vaulttest.Response {
			return v.Do(http.MethodPost, "/v1/cards", map[string]string{"Content-Type": "application/json"}, vaultJWE(claimsWith("vault_card", card())))
		}, 415, "unsupported_media_type"},
		{"body over 64 KiB", func() *vaulttest.Response {
			return app.PostJOSE(http.MethodPost, "/v1/cards", strings.Repeat("a", 64<<10+1))
		}, 413, "payload_too_large"},
		{"not a JWE", func() *vaulttest.Response { return app.PostJOSE(http.MethodPost, "/v1/cards", "not.a.jwe") }, 400, "malformed_request"},
		{"missing jti", func() *vaulttest.Response {
			return app.PostJOSE(http.MethodPost, "/v1/cards", vaultJWE(claimsWith("vault_card", card(), "jti")))
		}, 400, "malformed_request"},
		{"card number fails Luhn", func() *vaulttest.Response {
			return app.PostJOSE(http.MethodPost, "/v1/cards", vaultJWE(claimsWith("vault_card", map[string]any{"card": luhn})))
		}, 422, "invalid_card"},
		{"card expired", func() *vaulttest.Response {
			return app.PostJOSE(http.MethodPost, "/v1/cards", vaultJWE(claimsWith("vault_card", map[string]any{"card": expired})))
		}, 422, "invalid_card"},
		{"card with a CVC", func() *vaulttest.Response {
			return app.PostJOSE(http.MethodPost, "/v1/cards", vaultJWE(claimsWith("vault_card", map[string]any{"card": cvcCard})))
		}, 422, "cvc_not_accepted"},
		{"unknown token", func() *vaulttest.Response { return app.GetMasked(t, "m_1", "tok_nope") }, 404, "not_found"},
		{"unknown route", func() *vaulttest.Response { return v.Do(http.MethodGet, "/v1/nothing", nil, "") }, 404, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := v.TableDump()
			eventsBefore := len(v.AuditEvents())
			r := c.send()
			if r.Status != c.status || r.Code() != c.code {
				t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, c.status, c.code)
			}
			if reqID, _ := r.JSON["error"].(map[string]any)["request_id"].(string); reqID == "" {
				t.Fatal("error without request_id")
			}
			if after := v.TableDump(); after != before {
				t.Fatal("a refused request changed the table")
			}
			events := v.AuditEvents()
			if len(events) != eventsBefore+1 {
				t.Fatalf("audit events: %d new, want 1", len(events)-eventsBefore)
			}
			if last := events[len(events)-1]; last["outcome"] != "refused" || last["error_code"] != c.code {
				t.Fatalf("audit event: %v", last)
			}
		})
	}
	assertNoLeak(t, v)
}
