package localmode_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/internal/vaulttest"
	"github.com/cardvault/vault/shared/store"
)

// table reads and writes items straight in a test vault's table, as
// someone with write access to it could.
type table struct {
	t  *testing.T
	v  *vaulttest.Vault
	db store.DynamoAPI
}

func tableOf(t *testing.T, v *vaulttest.Vault) table {
	return table{t: t, v: v, db: store.NewLocalClient(v.Env.DynamoDBEndpoint())}
}

func (tb table) get(pk, sk string) map[string]types.AttributeValue {
	tb.t.Helper()
	out, err := tb.db.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName:      aws.String(tb.v.Env.Settings.Table),
		Key:            map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: sk}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil || out.Item == nil {
		tb.t.Fatalf("get %s %s: %v", pk, sk, err)
	}
	return out.Item
}

func (tb table) put(item map[string]types.AttributeValue) {
	tb.t.Helper()
	if _, err := tb.db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(tb.v.Env.Settings.Table), Item: item}); err != nil {
		tb.t.Fatal(err)
	}
}

// with is item with one attribute changed (nil: removed).
func with(item map[string]types.AttributeValue, name string, v types.AttributeValue) map[string]types.AttributeValue {
	out := make(map[string]types.AttributeValue, len(item))
	for k, a := range item {
		out[k] = a
	}
	if v == nil {
		delete(out, name)
	} else {
		out[name] = v
	}
	return out
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func numOf(t *testing.T, item map[string]types.AttributeValue, name string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(item[name].(*types.AttributeValueMemberN).Value, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// expectIntegrityError checks a refused reveal: 500 integrity_error,
// nothing of the record in the answer, and one failed audit event.
func expectIntegrityError(t *testing.T, v *vaulttest.Vault, what string, r *vaulttest.Response, before int) {
	t.Helper()
	if r.Status != http.StatusInternalServerError || r.Code() != "integrity_error" {
		t.Fatalf("reveal with %s: %d %s", what, r.Status, r.Body)
	}
	var mine []map[string]any
	for _, e := range v.AuditEvents()[before:] {
		if e["request_id"] == r.Header.Get("X-Request-Id") {
			mine = append(mine, e)
		}
	}
	if len(mine) != 1 || mine[0]["error_code"] != "integrity_error" || mine[0]["outcome"] != "failed" {
		t.Fatalf("reveal with %s: audit events %v", what, mine)
	}
}

// tamper is one change to a stored item.
type tamper struct {
	what  string
	attr  string
	value types.AttributeValue // nil: the attribute is removed
}

// TestTamperedClearFieldsFailReveal changes, straight in the table, each
// field a card or secret keeps in the clear beside its ciphertext.
// get_masked cannot tell (it holds no key), but a reveal can: every change
// answers 500 integrity_error with its audit event, and the record reveals
// again once the field is put back.
func TestTamperedClearFieldsFailReveal(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	v := vaulttest.Start(t, c)
	tb := tableOf(t, v)
	const m = "m_bound"

	r := c.VaultCard(t, m, map[string]any{"customer_id": "c_1", "card": testCard(testPAN), "ttl_seconds": 86400}, jose.ECDH_ES_A256KW)
	if r.Status != http.StatusCreated {
		t.Fatalf("vault_card: %d %s", r.Status, r.Body)
	}
	tok := r.JSON["token"].(string)
	cardItem := tb.get("CARD#"+tok, "CARD")
	ttl := numOf(t, cardItem, "ttl")
	for _, x := range []tamper{
		{"another customer", "customer_id", str("c_2")},
		{"no customer", "customer_id", nil},
		{"another fingerprint", "fingerprint", str("fp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")},
		{"another first4", "first4", str("4000")},
		{"another last4", "last4", str("0002")},
		{"another display", "display", str("4000 **** **** 0002")},
		{"another brand", "brand", str("mastercard")},
		{"another exp_month", "exp_month", num(1)},
		{"another exp_year", "exp_year", num(2040)},
		{"another created_at", "created_at", str("2020-01-01T00:00:00Z")},
		{"a later expires_at", "expires_at", str("2099-01-01T00:00:00Z")},
		{"no expires_at", "expires_at", nil},
		{"a later ttl", "ttl", num(ttl + 3600)},
		{"no ttl", "ttl", nil},
	} {
		tb.put(with(cardItem, x.attr, x.value))
		before := len(v.AuditEvents())
		expectIntegrityError(t, v, x.what, reveal(t, c, m, tok), before)
	}
	// vault_card's duplicate path seals the stored record again: it
	// reports a tampered record rather than binding its altered fields.
	tb.put(with(cardItem, "created_at", str("2020-01-01T00:00:00Z")))
	dup := c.VaultCard(t, m, map[string]any{"customer_id": "c_1", "card": testCard(testPAN)}, jose.ECDH_ES_A256KW)
	if dup.Status != http.StatusInternalServerError || dup.Code() != "integrity_error" {
		t.Fatalf("vault_card over a tampered duplicate: %d %s", dup.Status, dup.Body)
	}
	tb.put(cardItem)
	if r := reveal(t, c, m, tok); r.Status != http.StatusOK || c.OpenResponse(t, r.Body)["card"].(map[string]any)["number"] != testPAN {
		t.Fatalf("reveal of the restored card: %d %s", r.Status, r.Body)
	}
	// The duplicate path itself seals the new clear fields in the same
	// write: the updated record still reveals.
	card := testCard(testPAN)
	card["exp_month"] = 7
	if dup := c.VaultCard(t, m, map[string]any{"customer_id": "c_1", "card": card}, jose.ECDH_ES_A256KW); dup.Status != http.StatusOK || dup.JSON["token"] != tok {
		t.Fatalf("vault_card of a duplicate: %d %s", dup.Status, dup.Body)
	}
	if r := reveal(t, c, m, tok); r.Status != http.StatusOK || c.OpenResponse(t, r.Body)["card"].(map[string]any)["exp_month"] != float64(7) {
		t.Fatalf("reveal of the updated duplicate: %d %s", r.Status, r.Body)
	}

	claims := c.Claims("put_secret", m, map[string]any{"name": "api-key", "value": testSecret, "metadata": map[string]any{"env": "live", "owner": "payments"}})
	if r := c.PostJOSE(http.MethodPut, "/v1/merchants/"+m+"/secrets/api-key", c.Encrypt(t, c.Sign(t, claims), jose.ECDH_ES_A256KW)); r.Status != http.StatusCreated {
		t.Fatalf("put_secret: %d %s", r.Status, r.Body)
	}
	secretItem := tb.get("SECRET#"+m+"#api-key", "V#0000000001")
	metadata := func(kv ...string) types.AttributeValue {
		md := map[string]types.AttributeValue{}
		for i := 0; i < len(kv); i += 2 {
			md[kv[i]] = str(kv[i+1])
		}
		return &types.AttributeValueMemberM{Value: md}
	}
	for _, x := range []tamper{
		{"another mask", "masked", str("****wxyz")},
		{"another created_at", "created_at", str("2020-01-01T00:00:00Z")},
		{"another updated_at", "updated_at", str("2020-01-01T00:00:00Z")},
		{"another metadata value", "metadata", metadata("env", "test", "owner", "payments")},
		{"a metadata entry added", "metadata", metadata("env", "live", "owner", "payments", "extra", "x")},
		{"a metadata entry removed", "metadata", metadata("env", "live")},
		{"no metadata", "metadata", nil},
	} {
		tb.put(with(secretItem, x.attr, x.value))
		before := len(v.AuditEvents())
		expectIntegrityError(t, v, "secret with "+x.what, revealSecret(t, c, m, "api-key"), before)
	}
	tb.put(secretItem)
	if r := revealSecret(t, c, m, "api-key"); r.Status != http.StatusOK || c.OpenResponse(t, r.Body)["value"] != testSecret {
		t.Fatalf("reveal of the restored secret: %d %s", r.Status, r.Body)
	}
}

// TestFormat1RecordsRevealAndMoveToFormat2OnRotation stores a card and a
// secret the way the vault wrote them before their clear fields were bound
// (record format 1, sealed here by the documented format with the
// merchant's own key, not by the vault's code). Both still reveal; a
// rotation re-encrypts them into format 2, after which they still reveal
// and a tampered clear field is caught.
func TestFormat1RecordsRevealAndMoveToFormat2OnRotation(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	v := vaulttest.StartWith(t, fastKeys, c)
	tb := tableOf(t, v)
	const m = "m_legacy"

	tok := vaultOne(t, c, m, testPAN)
	putSecret(t, c, m, "api-key", testSecret)
	// A card in format 2 from the start: rotation moves it without
	// reading its clear fields, and their binding holds after.
	bound := vaultOne(t, c, m, "5555555555554444")
	cardKey := [2]string{"CARD#" + tok, "CARD"}
	secretKey := [2]string{"SECRET#" + m + "#api-key", "V#0000000001"}

	legacy := format1Sealer(t, v, m, 1)
	cardItem := tb.get(cardKey[0], cardKey[1])
	cardItem["sealed"] = &types.AttributeValueMemberB{Value: legacy(envelope.RecordCard, tok, fmt.Sprintf(`{"n":%q,"m":%d,"y":%d}`,
		testPAN, numOf(t, cardItem, "exp_month"), numOf(t, cardItem, "exp_year")))}
	tb.put(cardItem)
	secretItem := tb.get(secretKey[0], secretKey[1])
	secretItem["sealed"] = &types.AttributeValueMemberB{Value: legacy(envelope.RecordSecret, "api-key/1", testSecret)}
	tb.put(secretItem)
	for _, k := range [][2]string{cardKey, secretKey} {
		if f := formatOf(t, tb.get(k[0], k[1])); f != envelope.FormatUnbound {
			t.Fatalf("fixture %s is in format %d, want %d", k[0], f, envelope.FormatUnbound)
		}
	}

	revealBoth := func(when string) {
		t.Helper()
		if r := reveal(t, c, m, tok); r.Status != http.StatusOK || c.OpenResponse(t, r.Body)["card"].(map[string]any)["number"] != testPAN {
			t.Fatalf("card reveal %s: %d %s", when, r.Status, r.Body)
		}
		if r := revealSecret(t, c, m, "api-key"); r.Status != http.StatusOK || c.OpenResponse(t, r.Body)["value"] != testSecret {
			t.Fatalf("secret reveal %s: %d %s", when, r.Status, r.Body)
		}
	}
	revealBoth("in format 1")

	rotate(t, c, m)
	v.Env.WaitForWork()
	if st := keyStatus(t, c, m); st["primary_version"] != float64(2) || st["rotation"].(map[string]any)["state"] != "idle" {
		t.Fatalf("after rotation: %v", st)
	}
	for _, k := range [][2]string{cardKey, secretKey, {"CARD#" + bound, "CARD"}} {
		item := tb.get(k[0], k[1])
		if f := formatOf(t, item); f != envelope.FormatBound || numOf(t, item, "key_version") != 2 {
			t.Fatalf("%s after rotation: format %d, key version %d; want format %d, version 2", k[0], f, numOf(t, item, "key_version"), envelope.FormatBound)
		}
	}
	revealBoth("after rotation")

	for _, card := range []string{tok, bound} {
		moved := tb.get("CARD#"+card, "CARD")
		tb.put(with(moved, "customer_id", str("c_other")))
		before := len(v.AuditEvents())
		expectIntegrityError(t, v, "a rotated card's customer altered", reveal(t, c, m, card), before)
		tb.put(moved)
	}
	revealBoth("restored")
	if r := reveal(t, c, m, bound); r.Status != http.StatusOK {
		t.Fatalf("the format 2 card after rotation: %d %s", r.Status, r.Body)
	}
}

func formatOf(t *testing.T, item map[string]types.AttributeValue) int {
	t.Helper()
	f, err := envelope.FormatOf(item["sealed"].(*types.AttributeValueMemberB).Value)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// format1Sealer seals records of merchant with its key version as record
// format 1 did: 0x01 || key version || nonce || AES-256-GCM, with AAD
// "cardvault-record" || header || len:type || len:merchant || len:id. The
// key comes from the merchant's stored key bundle, unwrapped with the
// local master key.
func format1Sealer(t *testing.T, v *vaulttest.Vault, merchant string, version uint32) func(typ, id, plaintext string) []byte {
	t.Helper()
	ctx := context.Background()
	stored, err := v.Env.Store.KeyVersion(ctx, merchant, version)
	if err != nil {
		t.Fatal(err)
	}
	bundle, _, err := mustKeyring(t, v).Unwrap(ctx, stored.Wrapped, envelope.EncryptionContext{
		envelope.ContextMerchant:   merchant,
		envelope.ContextPurpose:    envelope.PurposeMerchantKeys,
		envelope.ContextKeyVersion: strconv.FormatUint(uint64(version), 10),
	})
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(bundle[:32])
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return func(typ, id, plaintext string) []byte {
		header := []byte{0x01, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(header[1:], version)
		aad := append([]byte("cardvault-record"), header...)
		for _, f := range []string{typ, merchant, id} {
			aad = append(aad, strconv.Itoa(len(f))+":"+f...)
		}
		nonce := make([]byte, 12)
		if _, err := rand.Read(nonce); err != nil {
			t.Fatal(err)
		}
		return aead.Seal(append(header, nonce...), nonce, []byte(plaintext), aad)
	}
}
