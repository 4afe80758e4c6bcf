package localmode_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/internal/vaulttest"
	"github.com/cardvault/vault/shared/stripemock"
)

// startStripeMock runs stripe-mock (installed into .tools/ from the Go
// module proxy if missing) behind its TLS front for one test. A test that
// needs it fails when it cannot start: it is never skipped.
func startStripeMock(t *testing.T) *stripemock.Server {
	t.Helper()
	fail := func(err error) { t.Fatalf("this test needs stripe-mock, which could not start: %v", err) }
	wd, err := os.Getwd()
	if err != nil {
		fail(err)
	}
	root, err := stripemock.ModuleRoot(wd)
	if err != nil {
		fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin, err := stripemock.Install(ctx, root)
	if err != nil {
		fail(err)
	}
	logs := &vaulttest.SyncBuffer{}
	srv, err := stripemock.Start(ctx, bin, "127.0.0.1:0", logs)
	if err != nil {
		fail(err)
	}
	t.Cleanup(func() {
		srv.Close()
		if t.Failed() {
			t.Logf("stripe-mock's log:\n%s", logs)
		}
	})
	return srv
}

// TestForwardToStripeMock turns a vaulted card into a Stripe PaymentMethod
// through stripe-mock, which validates the request against Stripe's
// OpenAPI spec: the vault's form encoding, the injected credential and the
// TLS path to a CA only this destination trusts.
func TestForwardToStripeMock(t *testing.T) {
	sm := startStripeMock(t)
	c := vaulttest.NewClient("stripe-app", jose.ES256, []string{"*"})
	c.Destinations = []string{"stripe", "stripe-nocred"}
	v := vaulttest.Start(t)
	nocred := sm.Destination("stripe-nocred", "unused")
	delete(nocred, "credential")
	doc, _ := json.Marshal(map[string]any{"destinations": []any{sm.Destination("stripe", "stripe_api_key"), nocred}})
	v.SetDestinations(string(doc))
	v.SetClients(c)
	const merchant = "m_stripe"
	resp := c.VaultCard(t, merchant, map[string]any{"customer_id": "c_1", "card": map[string]any{
		"number": "4242424242424242", "exp_month": 12, "exp_year": time.Now().Year() + 2, "holder_name": "Jenny Rosen"}}, jose.ECDH_ES_A256KW)
	if resp.Status != http.StatusCreated {
		t.Fatalf("vault card: %d %s", resp.Status, resp.Body)
	}
	token := resp.JSON["token"].(string)
	put := c.Claims("put_secret", merchant, map[string]any{"name": "stripe_api_key", "value": "sk_test_4eC39HqLyjWDarjtT1zdp7dc"})
	if resp := c.PostJOSE(http.MethodPut, "/v1/merchants/"+merchant+"/secrets/stripe_api_key", c.Encrypt(t, c.Sign(t, put), jose.ECDH_ES_A256KW)); resp.Status != http.StatusCreated {
		t.Fatalf("put secret: %d %s", resp.Status, resp.Body)
	}
	forward := func(dest string, body map[string]string) *vaulttest.Response {
		claims := c.Claims("forward", merchant, map[string]any{"destination": dest, "token": token, "request": map[string]any{
			"method": "POST", "path": "/v1/payment_methods",
			"headers":      map[string]string{"Idempotency-Key": "pm-" + dest + "-" + time.Now().Format(time.RFC3339Nano)},
			"content_type": "application/x-www-form-urlencoded",
			"body":         body,
		}})
		return c.PostJOSE(http.MethodPost, "/v1/forward", c.Encrypt(t, c.Sign(t, claims), jose.ECDH_ES_A256KW))
	}
	card := map[string]string{
		"type": "card", "card[number]": "{{card.number}}",
		"card[exp_month]": "{{card.exp_month}}", "card[exp_year]": "{{card.exp_year}}",
		"billing_details[name]": "{{card.holder_name}}",
	}

	resp = forward("stripe", card)
	if resp.Status != http.StatusOK || resp.JSON["status"] != float64(200) {
		t.Fatalf("forward: %d %s", resp.Status, resp.Body)
	}
	var pm map[string]any
	if err := json.Unmarshal([]byte(resp.JSON["body"].(string)), &pm); err != nil {
		t.Fatalf("stripe-mock's answer is not JSON: %v", err)
	}
	if pm["object"] != "payment_method" || !strings.HasPrefix(pm["id"].(string), "pm_") {
		t.Errorf("stripe-mock answered %v, want a PaymentMethod", pm)
	}
	if strings.Contains(resp.Body, "4242424242424242") || strings.Contains(resp.Body, "sk_test_4eC39") || strings.Contains(resp.Body, "Jenny Rosen") {
		t.Errorf("the answer holds the card number, the holder name or the key: %s", resp.Body)
	}

	// stripe-mock refuses a parameter Stripe's spec does not have: the
	// vault answers 200 with the provider's 400 inside.
	bad := map[string]string{"type": "card", "card[number]": "{{card.number}}", "card[not_a_field]": "x"}
	if resp := forward("stripe", bad); resp.Status != http.StatusOK || resp.JSON["status"] != float64(400) {
		t.Errorf("an invalid parameter: %d %s", resp.Status, resp.Body)
	}
	// Without the injected credential, Stripe answers 401.
	if resp := forward("stripe-nocred", card); resp.Status != http.StatusOK || resp.JSON["status"] != float64(401) {
		t.Errorf("without the credential: %d %s", resp.Status, resp.Body)
	}
}
