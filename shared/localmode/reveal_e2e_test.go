package localmode_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/httpapi"
	"github.com/cardvault/vault/shared/internal/vaulttest"
	"github.com/cardvault/vault/shared/store"
)

const testSecret = "sk_live_51HtestSECRETvalue0123456789abcd"

func vaultOne(t *testing.T, c *vaulttest.Client, merchant, pan string) string {
	t.Helper()
	r := c.VaultCard(t, merchant, map[string]any{"customer_id": "c_1", "card": testCard(pan)}, jose.ECDH_ES_A256KW)
	if r.Status != http.StatusCreated && r.Status != http.StatusOK {
		t.Fatalf("vault_card: %d %s", r.Status, r.Body)
	}
	return r.JSON["token"].(string)
}

func reveal(t *testing.T, c *vaulttest.Client, merchant, tok string) *vaulttest.Response {
	t.Helper()
	return c.Call(t, http.MethodPost, "/v1/cards/"+tok+"/reveal", "reveal_card", merchant, map[string]any{"token": tok})
}

func TestRevealRoundTripOpenedWithGoJose(t *testing.T) {
	ecClient := vaulttest.NewClient("ec-app", jose.ES256, []string{"*"})
	rsaClient := vaulttest.NewClient("rsa-app", jose.PS256, []string{"*"}).WithRSAEncryption()
	v := vaulttest.Start(t, ecClient, rsaClient)
	for _, c := range []*vaulttest.Client{ecClient, rsaClient} {
		tok := vaultOne(t, c, "m_rev", testPAN)
		jti := "jti-" + c.ID
		claims := c.Claims("reveal_card", "m_rev", map[string]any{"token": tok, "jti": jti})
		r := c.Bearer(http.MethodPost, "/v1/cards/"+tok+"/reveal", c.Sign(t, claims))
		if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/jose") {
			t.Fatalf("reveal: %d %s %s", r.Status, r.Header.Get("Content-Type"), r.Body)
		}
		got := c.OpenResponse(t, r.Body)
		card := got["card"].(map[string]any)
		if got["iss"] != "card-vault" || got["aud"] != c.ID || got["jti"] != jti || got["merchant_id"] != "m_rev" || got["token"] != tok {
			t.Fatalf("reveal claims: %v", got)
		}
		if card["number"] != testPAN || card["holder_name"] != testHolder || card["exp_month"] != float64(12) {
			t.Fatal("revealed card differs from the vaulted one")
		}
	}
	// A response to one client cannot be opened with another client's key.
	tok := vaultOne(t, ecClient, "m_rev", testPAN)
	r := reveal(t, ecClient, "m_rev", tok)
	jwe, err := jose.ParseEncryptedCompact(r.Body, []jose.KeyAlgorithm{jose.ECDH_ES_A256KW}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jwe.Decrypt(vaulttest.OtherECKey()); err == nil {
		t.Fatal("a reveal response opened with another key")
	}
	assertNoLeak(t, v)
}

func TestMovedCiphertextFailsIntegrity(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	v := vaulttest.Start(t, c)
	a := vaultOne(t, c, "m_int", testPAN)
	b := vaultOne(t, c, "m_int", "5555555555554444")
	moveSealed(t, v, a, b)
	if r := reveal(t, c, "m_int", b); r.Status != http.StatusInternalServerError || r.Code() != "integrity_error" {
		t.Fatalf("moved ciphertext: %d %s", r.Status, r.Body)
	}
	if r := reveal(t, c, "m_int", a); r.Status != http.StatusOK {
		t.Fatalf("untouched record: %d %s", r.Status, r.Body)
	}
}

func TestDeleteCard(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	v := vaulttest.Start(t, c)
	tok := vaultOne(t, c, "m_del", testPAN)
	if r := c.Call(t, http.MethodDelete, "/v1/cards/"+tok, "delete_card", "m_other", map[string]any{"token": tok}); r.Status != http.StatusNotFound {
		t.Fatalf("delete by another merchant: %d", r.Status)
	}
	if r := c.Call(t, http.MethodDelete, "/v1/cards/"+tok, "delete_card", "m_del", map[string]any{"token": tok}); r.Status != http.StatusNoContent || r.Body != "" {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	for _, r := range []*vaulttest.Response{c.GetMasked(t, "m_del", tok), reveal(t, c, "m_del", tok),
		c.Call(t, http.MethodDelete, "/v1/cards/"+tok, "delete_card", "m_del", map[string]any{"token": tok})} {
		if r.Status != http.StatusNotFound {
			t.Fatalf("after delete: %d %s", r.Status, r.Body)
		}
	}
	if dump := v.TableDump(); strings.Contains(dump, tok) {
		t.Fatal("the deleted card or its index entry is still in the table")
	}
	if again := vaultOne(t, c, "m_del", testPAN); again == tok {
		t.Fatal("re-vaulting a deleted card reused its token")
	}
}

func TestExpiredCardsArePurged(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	v := vaulttest.Start(t, c)
	r := c.VaultCard(t, "m_exp", map[string]any{"card": testCard(testPAN), "ttl_seconds": 60}, jose.ECDH_ES_A256KW)
	tok := r.JSON["token"].(string)
	v.Advance(2 * 60e9)
	if g := reveal(t, c, "m_exp", tok); g.Status != http.StatusNotFound {
		t.Fatalf("reveal after expiry: %d", g.Status)
	}
	v.Env.PurgeOnce(context.Background())
	purged := false
	for _, e := range v.AuditEvents() {
		if e["action"] == "records_purged" && e["records"].(float64) >= 2 {
			purged = true
		}
	}
	if !purged {
		t.Fatal("no records_purged audit event for the card and its index entry")
	}
	for _, item := range v.Items() {
		if _, sealed := item["sealed"]; sealed {
			t.Fatal("an expired card's ciphertext is still in the table")
		}
	}
}

func TestSecretsLifecycle(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	v := vaulttest.Start(t, c)
	path := "/v1/merchants/m_sec/secrets/stripe.api-key"
	put := func(value string, md map[string]any) *vaulttest.Response {
		claims := c.Claims("put_secret", "m_sec", map[string]any{"name": "stripe.api-key", "value": value})
		if md != nil {
			claims["metadata"] = md
		}
		return c.PostJOSE(http.MethodPut, path, c.Encrypt(t, c.Sign(t, claims), jose.RSA_OAEP_256))
	}
	call := func(method, suffix, op string) *vaulttest.Response {
		return c.Call(t, method, path+suffix, op, "m_sec", map[string]any{"name": "stripe.api-key"})
	}
	r := put(testSecret, map[string]any{"connector": "stripe"})
	if r.Status != http.StatusCreated || r.JSON["version"] != float64(1) || r.JSON["masked"] != "****abcd" || r.JSON["metadata"].(map[string]any)["connector"] != "stripe" {
		t.Fatalf("put_secret: %d %s", r.Status, r.Body)
	}
	if _, has := r.JSON["value"]; has {
		t.Fatal("put_secret answered the value")
	}
	for i, value := range []string{testSecret + "-v2", "short-v3"} {
		r = put(value, nil)
		if r.Status != http.StatusOK || r.JSON["version"] != float64(i+2) {
			t.Fatalf("put_secret v%d: %d %s", i+2, r.Status, r.Body)
		}
	}
	if r.JSON["masked"] != "****" {
		t.Fatalf("a value under 12 characters shows %v", r.JSON["masked"])
	}
	g := call(http.MethodGet, "", "get_secret")
	if g.Status != http.StatusOK || g.JSON["version"] != float64(3) || strings.Contains(g.Body, "short-v3") {
		t.Fatalf("get_secret: %d %s", g.Status, g.Body)
	}
	rv := call(http.MethodPost, "/reveal", "reveal_secret")
	if rv.Status != http.StatusOK {
		t.Fatalf("reveal_secret: %d %s", rv.Status, rv.Body)
	}
	got := c.OpenResponse(t, rv.Body)
	if got["value"] != "short-v3" || got["name"] != "stripe.api-key" || got["version"] != float64(3) || got["aud"] != "app" {
		t.Fatalf("reveal_secret claims: name=%v version=%v", got["name"], got["version"])
	}
	// Two versions are kept: v1 is gone after two overwrites, leaving a
	// tombstone that holds nothing of it.
	versions, tombstones := 0, 0
	for _, item := range v.Items() {
		if pk, _ := item["pk"].(*types.AttributeValueMemberS); pk != nil && strings.Contains(pk.Value, "stripe.api-key") {
			if _, gone := item["tombstone"]; !gone {
				versions++
				continue
			}
			tombstones++
			for _, attr := range []string{"sealed", "masked", "metadata", "gsi1pk"} {
				if _, kept := item[attr]; kept {
					t.Errorf("v1's tombstone keeps %s", attr)
				}
			}
		}
	}
	if versions != 2 || tombstones != 1 {
		t.Fatalf("%d versions kept and %d tombstones, want 2 and v1's", versions, tombstones)
	}
	for _, bad := range []map[string]any{
		{"name": "stripe.api-key", "value": strings.Repeat("x", 32<<10+1)},
		{"name": "stripe.api-key", "value": 42},
		{"name": "stripe.api-key", "value": "v", "metadata": map[string]any{"nested": map[string]any{"a": "b"}}},
	} {
		claims := c.Claims("put_secret", "m_sec", bad)
		r := c.PostJOSE(http.MethodPut, path, c.Encrypt(t, c.Sign(t, claims), jose.RSA_OAEP_256))
		if r.Status != http.StatusUnprocessableEntity && r.Status != http.StatusBadRequest && r.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("bad put accepted: %d %s", r.Status, r.Body)
		}
	}
	if d := call(http.MethodDelete, "", "delete_secret"); d.Status != http.StatusNoContent {
		t.Fatalf("delete_secret: %d %s", d.Status, d.Body)
	}
	for _, r := range []*vaulttest.Response{call(http.MethodGet, "", "get_secret"), call(http.MethodPost, "/reveal", "reveal_secret"), call(http.MethodDelete, "", "delete_secret")} {
		if r.Status != http.StatusNotFound {
			t.Fatalf("after delete: %d %s", r.Status, r.Body)
		}
	}
	// The value is nowhere but in the one reveal response.
	for name, text := range map[string]string{"table": v.TableDump(), "log": v.Logs.String(), "audit": v.AuditText()} {
		for _, needle := range []string{testSecret, "short-v3", "SECRETvalue"} {
			if strings.Contains(text, needle) {
				t.Fatalf("%s holds a secret value", name)
			}
		}
	}
}

// TestAuthorizationMatrix: for every route with an operation, a client
// lacking the operation, and one lacking the merchant, get 403, and the
// audit trail records each refusal.
func TestAuthorizationMatrix(t *testing.T) {
	full := vaulttest.NewClient("full", jose.ES256, []string{"m_1"})
	noMerchant := vaulttest.NewClient("no-merchant", jose.ES256, []string{"m_2"})
	var clients = []*vaulttest.Client{full, noMerchant}
	lacking := map[string]*vaulttest.Client{}
	for _, op := range vaulttest.AllOps {
		var ops []string
		for _, o := range vaulttest.AllOps {
			if o != op {
				ops = append(ops, o)
			}
		}
		lacking[op] = vaulttest.NewClient("lacks-"+op, jose.ES256, []string{"m_1"}, ops...)
		clients = append(clients, lacking[op])
	}
	v := vaulttest.Start(t, clients...)
	tok := vaultOne(t, full, "m_1", testPAN)
	params := map[string]string{"token": tok, "merchant_id": "m_1", "name": "api-key", "job_id": "job_AAAAAAAAAAAAAAAAAAAAAA"}
	for _, route := range v.API.Routes() {
		if route.Op == "" {
			continue
		}
		op := string(route.Op)
		path := route.Path
		extra := map[string]any{}
		for k, val := range params {
			if strings.Contains(path, "{"+k+"}") {
				path = strings.ReplaceAll(path, "{"+k+"}", url.PathEscape(val))
				if k != "merchant_id" {
					extra[k] = val
				}
			}
		}
		for _, tc := range []struct {
			who    string
			client *vaulttest.Client
		}{{"lacking the operation", lacking[op]}, {"lacking the merchant", noMerchant}} {
			t.Run(fmt.Sprintf("%s/%s", op, tc.who), func(t *testing.T) {
				before := len(v.AuditEvents())
				claims := tc.client.Claims(op, "m_1", extra)
				if op == "vault_card" {
					claims["card"] = testCard(testPAN)
				}
				if op == "put_secret" {
					claims["value"] = testSecret
				}
				jws := tc.client.Sign(t, claims)
				var r *vaulttest.Response
				if route.Body == httpapi.JOSEBody {
					r = tc.client.PostJOSE(route.Method, path, tc.client.Encrypt(t, jws, jose.ECDH_ES_A256KW))
				} else {
					r = tc.client.Bearer(route.Method, path, jws)
				}
				if r.Status != http.StatusForbidden || r.Code() != "forbidden" {
					t.Fatalf("%s %s: %d %s", route.Method, path, r.Status, r.Body)
				}
				events := v.AuditEvents()
				last := events[len(events)-1]
				if len(events) != before+1 || last["action"] != op || last["outcome"] != "refused" || last["error_code"] != "forbidden" {
					t.Fatalf("audit: %v", last)
				}
			})
		}
	}
}

// moveSealed copies card a's ciphertext into card b's record, straight in
// the table, as an attacker with write access to it could.
func moveSealed(t *testing.T, v *vaulttest.Vault, a, b string) {
	t.Helper()
	ctx := context.Background()
	db := store.NewLocalClient(v.Env.DynamoDBEndpoint())
	key := func(tok string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "CARD#" + tok}, "sk": &types.AttributeValueMemberS{Value: "CARD"}}
	}
	get := func(tok string) map[string]types.AttributeValue {
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(v.Env.Settings.Table), Key: key(tok)})
		if err != nil || out.Item == nil {
			t.Fatalf("get %s: %v", tok, err)
		}
		return out.Item
	}
	itemA, itemB := get(a), get(b)
	itemB["sealed"] = itemA["sealed"]
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(v.Env.Settings.Table), Item: itemB}); err != nil {
		t.Fatal(err)
	}
}
