package localmode_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/internal/vaulttest"
)

const (
	testPAN    = "4242424242424242"
	testHolder = "Jane Q. Cardholder"
)

func testCard(number string) map[string]any {
	return map[string]any{"number": number, "exp_month": 12, "exp_year": time.Now().Year() + 3, "holder_name": testHolder}
}

var jweAlgs = []jose.KeyAlgorithm{jose.RSA_OAEP_256, jose.ECDH_ES_A256KW}

func TestVaultAndMaskedRoundTripEveryAlgorithm(t *testing.T) {
	var clients []*vaulttest.Client
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.PS256, jose.RS256, jose.EdDSA} {
		clients = append(clients, vaulttest.NewClient("app-"+strings.ToLower(string(alg)), alg, []string{"*"}))
	}
	v := vaulttest.Start(t, clients...)
	for _, c := range clients {
		for _, alg := range jweAlgs {
			t.Run(fmt.Sprintf("%s/%s", c.SigAlg, alg), func(t *testing.T) {
				customer := "c_" + c.ID + "_" + string(alg)
				r := c.VaultCard(t, "m_rt", map[string]any{"customer_id": customer, "card": testCard(testPAN)}, alg)
				if r.Status != http.StatusCreated {
					t.Fatalf("vault_card: %d %s", r.Status, r.Body)
				}
				tok, _ := r.JSON["token"].(string)
				if !strings.HasPrefix(tok, "tok_") || r.JSON["duplicate"] != false || r.JSON["merchant_id"] != "m_rt" || r.JSON["customer_id"] != customer {
					t.Fatalf("vault_card response: %s", r.Body)
				}
				masked := r.JSON["masked"].(map[string]any)
				if masked["first4"] != "4242" || masked["last4"] != "4242" || masked["display"] != "4242 **** **** 4242" || masked["brand"] != "visa" {
					t.Fatalf("masked: %v", masked)
				}
				if _, err := time.Parse(time.RFC3339, r.JSON["created_at"].(string)); err != nil {
					t.Fatalf("created_at: %v", err)
				}
				g := c.GetMasked(t, "m_rt", tok)
				if g.Status != http.StatusOK {
					t.Fatalf("get_masked: %d %s", g.Status, g.Body)
				}
				if _, has := g.JSON["duplicate"]; has {
					t.Fatal("get_masked carries duplicate")
				}
				for _, k := range []string{"token", "merchant_id", "customer_id", "fingerprint", "created_at"} {
					if g.JSON[k] != r.JSON[k] {
						t.Fatalf("get_masked %s = %v, vault_card said %v", k, g.JSON[k], r.JSON[k])
					}
				}
			})
		}
	}
	assertNoLeak(t, v)
}

func TestDuplicatesAndFingerprints(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	v := vaulttest.Start(t, c)
	vaultAs := func(merchant, customer string, card map[string]any) *vaulttest.Response {
		t.Helper()
		claims := map[string]any{"card": card}
		if customer != "" {
			claims["customer_id"] = customer
		}
		r := c.VaultCard(t, merchant, claims, jose.ECDH_ES_A256KW)
		if r.Status != http.StatusCreated && r.Status != http.StatusOK {
			t.Fatalf("vault_card: %d %s", r.Status, r.Body)
		}
		return r
	}
	first := vaultAs("m_a", "c_1", testCard(testPAN))
	updated := testCard("4242 4242-4242 4242")
	updated["exp_month"] = 6
	again := vaultAs("m_a", "c_1", updated)
	if again.Status != http.StatusOK || again.JSON["duplicate"] != true || again.JSON["token"] != first.JSON["token"] {
		t.Fatalf("duplicate: %d %s", again.Status, again.Body)
	}
	if m := again.JSON["masked"].(map[string]any); m["exp_month"] != float64(6) {
		t.Fatalf("duplicate did not update expiry: %v", m)
	}
	if g := c.GetMasked(t, "m_a", first.JSON["token"].(string)); g.JSON["masked"].(map[string]any)["exp_month"] != float64(6) {
		t.Fatalf("stored expiry not updated: %s", g.Body)
	}
	otherCustomer := vaultAs("m_a", "c_2", testCard(testPAN))
	if otherCustomer.Status != http.StatusCreated || otherCustomer.JSON["token"] == first.JSON["token"] || otherCustomer.JSON["fingerprint"] != first.JSON["fingerprint"] {
		t.Fatalf("another customer: %s (first %s)", otherCustomer.Body, first.Body)
	}
	otherMerchant := vaultAs("m_b", "c_1", testCard(testPAN))
	if otherMerchant.Status != http.StatusCreated || otherMerchant.JSON["token"] == first.JSON["token"] || otherMerchant.JSON["fingerprint"] == first.JSON["fingerprint"] {
		t.Fatalf("another merchant: %s (first %s)", otherMerchant.Body, first.Body)
	}
	// Without a customer, the merchant's customer-less cards are one group.
	noCustomer := vaultAs("m_a", "", testCard(testPAN))
	noCustomerAgain := vaultAs("m_a", "", testCard(testPAN))
	if noCustomer.Status != http.StatusCreated || noCustomerAgain.Status != http.StatusOK || noCustomerAgain.JSON["token"] != noCustomer.JSON["token"] {
		t.Fatalf("customer-less duplicate: %s / %s", noCustomer.Body, noCustomerAgain.Body)
	}
	if _, has := noCustomer.JSON["customer_id"]; has {
		t.Fatalf("customer_id present without a customer: %s", noCustomer.Body)
	}
	assertNoLeak(t, v)
}

func TestConcurrentVaultsOfOneNewCardYieldOneToken(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	vaulttest.Start(t, c)
	const n = 24
	var wg sync.WaitGroup
	results := make([]*vaulttest.Response, n)
	// Seal every request first, so the requests themselves race.
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = c.Encrypt(t, c.Sign(t, c.Claims("vault_card", "m_race", map[string]any{"customer_id": "c_1", "card": testCard("5555555555554444")})), jose.ECDH_ES_A256KW)
	}
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = c.PostJOSE(http.MethodPost, "/v1/cards", bodies[i])
		}()
	}
	close(start)
	wg.Wait()
	created := 0
	token := results[0].JSON["token"]
	for _, r := range results {
		switch r.Status {
		case http.StatusCreated:
			created++
		case http.StatusOK:
		default:
			t.Fatalf("vault_card: %d %s", r.Status, r.Body)
		}
		if r.JSON["token"] != token {
			t.Fatalf("two tokens for one card: %v and %v", token, r.JSON["token"])
		}
	}
	if created != 1 {
		t.Fatalf("%d requests answered 201, want exactly 1", created)
	}
}

func TestCardTTL(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	v := vaulttest.Start(t, c)
	r := c.VaultCard(t, "m_ttl", map[string]any{"card": testCard(testPAN), "ttl_seconds": 60}, jose.ECDH_ES_A256KW)
	if r.Status != http.StatusCreated {
		t.Fatalf("vault_card: %d %s", r.Status, r.Body)
	}
	tok := r.JSON["token"].(string)
	if g := c.GetMasked(t, "m_ttl", tok); g.Status != http.StatusOK {
		t.Fatalf("before expiry: %d", g.Status)
	}
	v.Advance(61 * time.Second)
	if g := c.GetMasked(t, "m_ttl", tok); g.Status != http.StatusNotFound || g.Code() != "not_found" {
		t.Fatalf("after expiry: %d %s", g.Status, g.Body)
	}
	// The same card vaulted again after expiry gets a fresh token.
	again := c.VaultCard(t, "m_ttl", map[string]any{"card": testCard(testPAN)}, jose.ECDH_ES_A256KW)
	if again.Status != http.StatusCreated || again.JSON["token"] == tok {
		t.Fatalf("re-vault after expiry: %d %s", again.Status, again.Body)
	}
	for _, ttl := range []any{59, 315360001, "60", 1.5} {
		r := c.VaultCard(t, "m_ttl", map[string]any{"card": testCard(testPAN), "ttl_seconds": ttl}, jose.ECDH_ES_A256KW)
		if r.Status/100 != 4 {
			t.Fatalf("ttl_seconds %v accepted: %d", ttl, r.Status)
		}
	}
}

func TestMaskedViewOfAnotherMerchantIsNotFound(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	vaulttest.Start(t, c)
	r := c.VaultCard(t, "m_1", map[string]any{"card": testCard(testPAN)}, jose.ECDH_ES_A256KW)
	tok := r.JSON["token"].(string)
	if g := c.GetMasked(t, "m_2", tok); g.Status != http.StatusNotFound || g.Code() != "not_found" {
		t.Fatalf("another merchant's token: %d %s", g.Status, g.Body)
	}
	if g := c.GetMasked(t, "m_1", "tok_doesnotexist"); g.Status != http.StatusNotFound {
		t.Fatalf("unknown token: %d", g.Status)
	}
}

func TestNothingSensitiveAtRest(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	v := vaulttest.Start(t, c)
	pans := []string{testPAN, "378282246310005", "6011111111111117"}
	for _, pan := range pans {
		if r := c.VaultCard(t, "m_rest", map[string]any{"card": testCard(pan)}, jose.ECDH_ES_A256KW); r.Status != http.StatusCreated {
			t.Fatalf("vault_card: %d %s", r.Status, r.Body)
		}
	}
	dump := v.TableDump()
	for _, pan := range pans {
		if strings.Contains(dump, pan) || strings.Contains(dump, pan[4:12]) {
			t.Fatalf("table holds card digits of %s…", pan[:4])
		}
	}
	if strings.Contains(dump, testHolder) || strings.Contains(dump, "Cardholder") {
		t.Fatal("table holds the holder name")
	}
	assertNoLeak(t, v)
}

// assertNoLeak scans everything the vault wrote outside the table: its
// log output and its audit trail. (Raw JOSE and key material are checked
// for every test by vaulttest's leak guard.)
func assertNoLeak(t *testing.T, v *vaulttest.Vault) {
	t.Helper()
	for name, text := range map[string]string{"log": v.Logs.String(), "audit": v.AuditText()} {
		for _, needle := range []string{testPAN, "5555555555554444", "378282246310005", "6011111111111117", testHolder, "Cardholder"} {
			if strings.Contains(text, needle) {
				t.Fatalf("%s output contains a card number or holder name", name)
			}
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
