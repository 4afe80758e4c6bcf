package wire

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/vaulterr"
)

func TestParseRegistryAccepts(t *testing.T) {
	f := mustFixture(t)
	app, ok := f.registry.Client("app-server")
	if !ok {
		t.Fatal("app-server missing")
	}
	if !app.AllowsMerchant("any-merchant") || !app.AllowsOperation(OpShredMerchant) || !app.HasEncryptionKey() {
		t.Fatalf("app-server permissions wrong: %+v", app)
	}
	limited, _ := f.registry.Client("limited")
	if limited.AllowsMerchant("m_2") || !limited.AllowsMerchant("m_1") || limited.AllowsMerchant("") ||
		limited.AllowsOperation(OpRevealCard) || !limited.AllowsOperation(OpGetMasked) {
		t.Fatalf("limited permissions wrong: %+v", limited)
	}
	if limited.HasEncryptionKey() {
		t.Fatal("limited has no enc key")
	}
	if _, ok := f.registry.Client("nobody"); ok {
		t.Fatal("unknown client found")
	}

	hand := &Client{ID: "x", Merchants: []string{"m_1"}, Operations: []Operation{OpGetKeys}}
	if !hand.AllowsMerchant("m_1") || hand.AllowsMerchant("m_2") || !hand.AllowsOperation(OpGetKeys) {
		t.Fatal("hand-built client permissions wrong")
	}
}

func TestParseRegistryRefuses(t *testing.T) {
	f := mustFixture(t)
	sig := publicJWK(f.ecSig, "sig-1", "sig", "ES256")
	sig2 := publicJWK(f.otherSig, "sig-2", "sig", "")
	enc := publicJWK(f.appEnc, "enc-1", "enc", "")
	client := func(id string, keys ...json.RawMessage) map[string]any {
		return map[string]any{"id": id, "merchants": []string{"*"}, "operations": []string{"get_masked"},
			"keys": map[string]any{"keys": keys}}
	}
	doc := func(clients ...any) string { return string(mustJSON(map[string]any{"clients": clients})) }

	private, err := jose.JSONWebKey{Key: f.limitedSig, KeyID: "leaky", Use: "sig"}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var privateMembers map[string]any
	_ = json.Unmarshal(private, &privateMembers)
	dValue := privateMembers["d"].(string)

	weakRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	symmetric := json.RawMessage(`{"kty":"oct","kid":"hmac","use":"sig","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}`)

	cases := []struct {
		name string
		doc  string
		want []string // substrings of the error
	}{
		{"private member d", doc(client("app", sig), client("leaker", private)), []string{`"leaker"`, `"leaky"`, `private key member "d"`}},
		{"symmetric key", doc(client("app", symmetric)), []string{`"app"`, `"hmac"`, `"k"`}},
		{"unknown operation", doc(map[string]any{"id": "ops", "operations": []string{"get_masked", "drop_all"}, "keys": map[string]any{"keys": []any{sig}}}), []string{`"ops"`, `"drop_all"`}},
		{"duplicate kid across clients", doc(client("a", sig), client("b", sig2, sig)), []string{`client 1 (id "b")`, `"sig-1"`, `client "a"`}},
		{"duplicate kid within a client", doc(client("a", sig, sig)), []string{`"a"`, `"sig-1"`}},
		{"duplicate client id", doc(client("a", sig), client("a", sig2)), []string{`client 1 (id "a")`, "duplicate client id"}},
		{"missing id", doc(client("", sig)), []string{"client 0", "id is required"}},
		{"no signing key", doc(client("enc-only", enc)), []string{`"enc-only"`, "no signing key"}},
		{"two enc keys", doc(client("a", sig, enc, publicJWK(f.ecClientEnc, "enc-2", "enc", ""))), []string{`"a"`, "more than one enc key"}},
		{"missing kid", doc(client("a", publicJWK(f.ecSig, "", "sig", ""))), []string{`"a"`, "kid is required"}},
		{"missing use", doc(client("a", publicJWK(f.ecSig, "k", "", ""))), []string{`"a"`, `"k"`, "use"}},
		{"RSA 1024 signing key", doc(client("a", publicJWK(weakRSA, "weak", "sig", ""))), []string{`"a"`, `"weak"`}},
		{"P-384 encryption key", doc(client("a", sig, publicJWK(p384, "p384", "enc", ""))), []string{`"a"`, `"p384"`}},
		{"alg not fitting the key", doc(client("a", publicJWK(f.ecSig, "k", "sig", "PS256"))), []string{`"a"`, `"k"`, "PS256"}},
		{"HS256 declared", doc(client("a", publicJWK(f.ecSig, "k", "sig", "HS256"))), []string{`"a"`, "HS256"}},
		{"empty merchant", doc(map[string]any{"id": "m", "merchants": []string{""}, "keys": map[string]any{"keys": []any{sig}}}), []string{`"m"`, "empty merchant"}},
		{"unknown client member", doc(map[string]any{"id": "m", "operation": []string{"get_masked"}, "keys": map[string]any{"keys": []any{sig}}}), []string{"client 0", `"operation"`}},
		{"empty destination", doc(map[string]any{"id": "d", "destinations": []string{""}, "keys": map[string]any{"keys": []any{sig}}}), []string{`"d"`, "empty destination"}},
		{"destinations not a list", doc(map[string]any{"id": "d", "destinations": "stripe", "keys": map[string]any{"keys": []any{sig}}}), []string{"client 0"}},
		{"not an object", `[]`, []string{"not a JSON object"}},
		{"duplicate clients member", `{"clients":[],"clients":[]}`, []string{"duplicate member name"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRegistry([]byte(tc.doc))
			if err == nil {
				t.Fatal("accepted")
			}
			t.Logf("refused: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not mention %s", err, w)
				}
			}
			if strings.Contains(err.Error(), dValue) {
				t.Fatalf("error carries key material: %q", err)
			}
		})
	}
}

func TestRegistryV11OperationsAndDestinations(t *testing.T) {
	f := mustFixture(t)
	sig := publicJWK(f.ecSig, "sig-1", "sig", "ES256")
	doc := mustJSON(map[string]any{"clients": []any{map[string]any{
		"id": "fwd", "merchants": []string{"m_1"},
		"operations":   []string{"list_cards", "forward", "import_cards", "export_cards", "get_job"},
		"destinations": []string{"stripe", "adyen", "stripe"},
		"keys":         map[string]any{"keys": []any{sig}},
	}}})
	reg, err := ParseRegistry(doc)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	c, _ := reg.Client("fwd")
	for _, op := range []Operation{OpListCards, OpForward, OpImportCards, OpExportCards, OpGetJob} {
		if !c.AllowsOperation(op) {
			t.Errorf("%s not allowed", op)
		}
	}
	if c.AllowsOperation(OpRevealCard) {
		t.Error("reveal_card allowed without being listed")
	}
	if !c.AllowsDestination("stripe") || !c.AllowsDestination("adyen") || c.AllowsDestination("other") || c.AllowsDestination("") {
		t.Fatalf("destinations wrong: %v", c.Destinations)
	}
	if len(c.Destinations) != 2 {
		t.Fatalf("duplicate destination kept: %v", c.Destinations)
	}
	known := func(id string) bool { return id == "stripe" || id == "adyen" }
	if err := reg.CheckDestinations(known); err != nil {
		t.Fatalf("known destinations refused: %v", err)
	}
	err = reg.CheckDestinations(func(id string) bool { return id == "stripe" })
	if err == nil || !strings.Contains(err.Error(), `"fwd"`) || !strings.Contains(err.Error(), `"adyen"`) {
		t.Fatalf("unknown destination: got %v", err)
	}
}

func TestRegistryClientWithoutEncKey(t *testing.T) {
	f := mustFixture(t)
	doc := mustJSON(map[string]any{"clients": []any{map[string]any{
		"id": "sig-only", "merchants": []string{"m_1"}, "operations": []string{"reveal_card"},
		"keys": map[string]any{"keys": []any{publicJWK(f.ecSig, "s", "sig", "")}},
	}}})
	reg, err := ParseRegistry(doc)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	c, _ := reg.Client("sig-only")
	_, err = f.vault.SealResponse(c, map[string]any{"card": map[string]any{"number": cardNumber}})
	if vaulterr.CodeOf(err) != vaulterr.Forbidden || strings.Contains(err.Error(), cardNumber) {
		t.Fatalf("want forbidden without card data, got %v", err)
	}
}

func TestFileRegistryFollowsEdits(t *testing.T) {
	f := mustFixture(t)
	path := filepath.Join(t.TempDir(), "clients.json")
	stamp := time.Unix(1700000000, 0)
	write := func(doc []byte) {
		t.Helper()
		if err := os.WriteFile(path, doc, 0o600); err != nil {
			t.Fatal(err)
		}
		// An explicit, always newer modification time, so the test does
		// not depend on the file system's timestamp granularity.
		stamp = stamp.Add(time.Second)
		if err := os.Chtimes(path, stamp, stamp); err != nil {
			t.Fatal(err)
		}
	}
	clientDoc := func(id string) []byte {
		return mustJSON(map[string]any{"clients": []any{map[string]any{
			"id": id, "merchants": []string{"*"}, "operations": []string{"get_masked"},
			"keys": map[string]any{"keys": []any{publicJWK(f.ecSig, "k-"+id, "sig", "")}},
		}}})
	}

	src := FileRegistry(path)
	if _, err := src.Registry(); vaulterr.CodeOf(err) != vaulterr.Unavailable {
		t.Fatalf("missing file: want unavailable, got %v", err)
	}

	write(clientDoc("first"))
	reg, err := src.Registry()
	if err != nil {
		t.Fatalf("first: %v", err)
	}
	if _, ok := reg.Client("first"); !ok {
		t.Fatal("first client missing")
	}
	again, _ := src.Registry()
	if again != reg {
		t.Fatal("unchanged file was parsed again")
	}

	write(clientDoc("second"))
	reg, err = src.Registry()
	if err != nil {
		t.Fatalf("second: %v", err)
	}
	if _, ok := reg.Client("second"); !ok {
		t.Fatal("rewrite not picked up")
	}
	if _, ok := reg.Client("first"); ok {
		t.Fatal("old client still present")
	}

	write([]byte(`{"clients":[{"id":"broken"`))
	for range 2 {
		if _, err := src.Registry(); vaulterr.CodeOf(err) != vaulterr.Unavailable {
			t.Fatalf("broken file: want unavailable, got %v", err)
		}
	}

	write(clientDoc("third"))
	reg, err = src.Registry()
	if err != nil {
		t.Fatalf("third: %v", err)
	}
	if _, ok := reg.Client("third"); !ok {
		t.Fatal("fixed file not picked up")
	}
}

func TestFileRegistryConcurrentUse(t *testing.T) {
	f := mustFixture(t)
	path := filepath.Join(t.TempDir(), "clients.json")
	if err := os.WriteFile(path, f.registryJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	opener := &Opener{Keys: f.vault, Clients: FileRegistry(path), Now: f.opener.Now}
	jws := es256(t, f, claims())
	done := make(chan error)
	for range 8 {
		go func() {
			_, err := opener.OpenBearer(jws, wantVault)
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatalf("open: %v", err)
		}
	}
}
