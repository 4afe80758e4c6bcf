package forward

import (
	"strings"
	"testing"

	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vaulterr"
	"github.com/cardvault/vault/shared/wire"
)

func parse(t *testing.T, doc string) (*Request, error) {
	t.Helper()
	o, err := wire.ParseObject([]byte(doc))
	if err != nil {
		t.Fatalf("test document: %v", err)
	}
	return ParseRequest(o)
}

func TestCheckPath(t *testing.T) {
	ok := map[string][]string{
		"/v1/payment_methods":      {"v1", "payment_methods"},
		"/v1/payment_intents/pi_1": {"v1", "payment_intents", "pi_1"},
		"/v1/a%20b":                {"v1", "a%20b"},
		"/v1/x.y/..z":              {"v1", "x.y", "..z"},
	}
	for p, want := range ok {
		got, err := CheckPath(p)
		if err != nil || strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("CheckPath(%q) = %v, %v", p, got, err)
		}
	}
	for _, p := range []string{
		"", "v1/x", "/v1/./x", "/v1/../x", "/./x", "/..", "/v1/x/.", "//x", "/v1//x",
		"/v1/a%2Fb", "/v1/a%2fb", "/v1/a%5Cb", "/v1/a%5cb", "/v1/%2E", "/v1/%2e%2e", "/v1/%2E%2E/x",
		`/v1\x`, "/v1/x?y=1", "/v1/x#f", "/v1/x y", "/v1/\x00", "/v1/é", "/v1/%", "/v1/%zz", "/v1/%0a", "/v1/%1F",
	} {
		if _, err := CheckPath(p); vaulterr.CodeOf(err) != vaulterr.Forbidden {
			t.Errorf("CheckPath(%q) = %v, want 403 forbidden", p, err)
		}
	}
}

func TestParseRequestRefusesPlaceholdersOutsideBodyValues(t *testing.T) {
	form := `"content_type": "application/x-www-form-urlencoded", "body": {"a": "b"}`
	cases := map[string]string{
		"path":               `{"method": "POST", "path": "/v1/{{card.number}}"}`,
		"query value":        `{"method": "POST", "path": "/v1", "query": {"a": "{{card.number}}"}}`,
		"query name":         `{"method": "POST", "path": "/v1", "query": {"{{secret.k}}": "1"}}`,
		"header value":       `{"method": "POST", "path": "/v1", "headers": {"X-A": "{{card.number}}"}}`,
		"header name":        `{"method": "POST", "path": "/v1", "headers": {"{{card.number}}": "1"}}`,
		"json member name":   `{"method": "POST", "path": "/v1", "content_type": "application/json", "body": {"a": {"{{card.number}}": 1}}}`,
		"form field name":    `{"method": "POST", "path": "/v1", "content_type": "application/x-www-form-urlencoded", "body": {"{{card.number}}": "x"}}`,
		"unknown":            `{"method": "POST", "path": "/v1", "content_type": "application/json", "body": "{{card.cvc}}"}`,
		"unknown secret ns":  `{"method": "POST", "path": "/v1", "content_type": "application/json", "body": "{{env.HOME}}"}`,
		"bad secret name":    `{"method": "POST", "path": "/v1", "content_type": "application/json", "body": "{{secret.a/b}}"}`,
		"unclosed":           `{"method": "POST", "path": "/v1", "content_type": "application/json", "body": ["ok", "{{card.number"]}`,
		"unclosed after":     `{"method": "POST", "path": "/v1", "content_type": "application/json", "body": "{{card.number}} {{"}`,
		"number in longer":   `{"method": "POST", "path": "/v1", "content_type": "application/json", "body": {"m": " {{card.exp_month|number}}"}}`,
		"number twice":       `{"method": "POST", "path": "/v1", "content_type": "application/json", "body": {"m": "{{card.exp_month|number}}{{card.exp_month|number}}"}}`,
		"number in form":     `{"method": "POST", "path": "/v1", "content_type": "application/x-www-form-urlencoded", "body": {"m": "{{card.exp_year|number}}"}}`,
		"number of number":   `{"method": "POST", "path": "/v1", "content_type": "application/json", "body": {"m": "{{card.number|number}}"}}`,
		"form not object":    `{"method": "POST", "path": "/v1", "content_type": "application/x-www-form-urlencoded", "body": ["a"]}`,
		"form nested":        `{"method": "POST", "path": "/v1", "content_type": "application/x-www-form-urlencoded", "body": {"a": {"b": "c"}}}`,
		"no method":          `{"path": "/v1"}`,
		"no path":            `{"method": "POST"}`,
		"path not a string":  `{"method": "POST", "path": 1}`,
		"method lower":       `{"method": "get", "path": "/v1"}`,
		"query not strings":  `{"method": "POST", "path": "/v1", "query": {"a": 1}}`,
		"headers list":       `{"method": "POST", "path": "/v1", "headers": ["a"]}`,
		"bad header name":    `{"method": "POST", "path": "/v1", "headers": {"a b": "1"}}`,
		"header newline":     `{"method": "POST", "path": "/v1", "headers": {"a": "1\n2"}}`,
		"unknown member":     `{"method": "POST", "path": "/v1", "host": "evil"}`,
		"ct without body ok": "",
		"body without ct":    `{"method": "POST", "path": "/v1", "body": {"a": "b"}}`,
		"ct unknown":         `{"method": "POST", "path": "/v1", "content_type": "text/xml", "body": "x"}`,
		"ct with params":     `{"method": "POST", "path": "/v1", "content_type": "application/json; charset=utf-8", "body": "x"}`,
	}
	_ = form
	for name, doc := range cases {
		if doc == "" {
			continue
		}
		if _, err := parse(t, doc); vaulterr.CodeOf(err) != vaulterr.Malformed {
			t.Errorf("%s: %v, want 400 malformed_request", name, err)
		}
	}
	if _, err := parse(t, `{"method": "GET", "path": "/v1", "content_type": "application/json"}`); err != nil {
		t.Errorf("a content_type without a body: %v", err)
	}
}

func demoValues() Values {
	return Values{
		Card: &Card{Number: secret.New("4242424242424242"), ExpMonth: 7, ExpYear: 2009, HolderName: secret.New("")},
		Secrets: map[string]secret.Secret[string]{
			"k":   secret.New("sk_test_abc"),
			"sig": secret.New(`s"ig/+&`),
		},
	}
}

func testDest(t *testing.T) *Destination {
	t.Helper()
	ds, err := ParseDestinations([]byte(`{"destinations": [{"id": "p", "url": "https://p.example:8443/",
	  "routes": [{"method": "POST", "path": "/v1/x"}], "request_headers": ["Idempotency-Key"],
	  "credential": {"secret": "k", "header": "X-Api-Key"}, "secrets": ["sig"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := ds.Get("p")
	return d
}

func TestBuildKeepsTheClientsJSONAndEncodesIt(t *testing.T) {
	r, err := parse(t, `{"method": "POST", "path": "/v1/x", "content_type": "application/json",
	  "query": {"z": "1", "a": "x y"},
	  "headers": {"idempotency-key": "k1", "X-Dropped": "v"},
	  "body": {"z": 1.50, "a": "{{card.exp_month|number}}", "y": "{{card.exp_year|number}}", "m": "{{card.exp_month}}",
	           "yy": "{{card.exp_year2}}", "h": "{{card.holder_name}}", "s": "\"{{secret.sig}}\"\u003c", "n": [null, true, {"q": "{{card.number}}"}],
	           "e": {}, "l": [], "u": "\u00e9"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if !r.UsesCard() || r.UsesHolderName() != true || strings.Join(r.Secrets(), ",") != "sig" {
		t.Errorf("usage: card %v holder %v secrets %v", r.UsesCard(), r.UsesHolderName(), r.Secrets())
	}
	d := testDest(t)
	route, err := d.MatchRoute("POST", []string{"v1", "x"})
	if err != nil {
		t.Fatal(err)
	}
	out, red, err := Build(d, r, route, demoValues())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"z":1.50,"a":7,"y":2009,"m":"07","yy":"09","h":"","s":"\"s\"ig/+&\"<","n":[null,true,{"q":"4242424242424242"}],"e":{},"l":[],"u":"é"}`
	if string(out.Body) != want {
		t.Errorf("body\n%s\nwant\n%s", out.Body, want)
	}
	if out.URL != "https://p.example:8443/v1/x?z=1&a=x+y" {
		t.Errorf("url = %s", out.URL)
	}
	if out.Header.Get("X-Api-Key") != "sk_test_abc" || out.Header.Get("Idempotency-Key") != "k1" || out.Header.Get("X-Dropped") != "" ||
		out.Header.Get("Content-Type") != "application/json" || out.Route != "/v1/x" {
		t.Errorf("headers = %v", out.Header)
	}
	// Holder name is empty here: nothing to redact for it, the rest is.
	got := red.String(`4242424242424242 sk_test_abc s"ig/+& s\"ig\/+\u0026 s%22ig%2F%2B%26 s\"ig\/+&`)
	if got != `[REDACTED] [REDACTED] [REDACTED] [REDACTED] [REDACTED] [REDACTED]` {
		t.Errorf("redacted = %s", got)
	}
}

func TestBuildForm(t *testing.T) {
	r, err := parse(t, `{"method": "POST", "path": "/v1/x", "content_type": "application/x-www-form-urlencoded",
	  "body": {"type": "card", "card[number]": "{{card.number}}", "note": "a&b=c {{secret.sig}}"}}`)
	if err != nil {
		t.Fatal(err)
	}
	d := testDest(t)
	route, _ := d.MatchRoute("POST", []string{"v1", "x"})
	out, _, err := Build(d, r, route, demoValues())
	if err != nil {
		t.Fatal(err)
	}
	if want := "type=card&card%5Bnumber%5D=4242424242424242&note=a%26b%3Dc+s%22ig%2F%2B%26"; string(out.Body) != want {
		t.Errorf("body %s, want %s", out.Body, want)
	}
}

func TestRedactorLongestFirstAndEveryForm(t *testing.T) {
	r := NewRedactor([]string{"Jane Doe", "Jane", "", "ünï/code"})
	in := `Jane Doe, Jane+Doe, Jane%20Doe, Jane, ünï/code, \u00fcn\u00ef\/code, %C3%BCn%C3%AF%2Fcode, %C3%BCn%C3%AF/code`
	got := r.String(in)
	if strings.Contains(got, "Jane") || strings.Contains(got, "code") || strings.Count(got, Redacted) != 8 {
		t.Errorf("redacted = %s", got)
	}
}

func TestBuildWithoutCard(t *testing.T) {
	r, err := parse(t, `{"method": "POST", "path": "/v1/x", "content_type": "application/json", "body": {"n": "{{card.number}}"}}`)
	if err != nil {
		t.Fatal(err)
	}
	d := testDest(t)
	route, _ := d.MatchRoute("POST", []string{"v1", "x"})
	v := demoValues()
	v.Card = nil
	if _, _, err := Build(d, r, route, v); vaulterr.CodeOf(err) != vaulterr.Malformed {
		t.Fatalf("card placeholder without a card: %v", err)
	}
}

// TestAdyenExampleOfTheDocs is docs/api.md's JSON example, byte for byte.
func TestAdyenExampleOfTheDocs(t *testing.T) {
	r, err := parse(t, `{"method": "POST", "path": "/v71/payments",
	 "headers": {"Idempotency-Key": "order-8812-1"},
	 "content_type": "application/json",
	 "body": {"amount": {"currency": "EUR", "value": 1000},
	          "merchantAccount": "ShopECOM", "reference": "order-8812",
	          "paymentMethod": {"type": "scheme", "number": "{{card.number}}",
	                            "expiryMonth": "{{card.exp_month}}", "expiryYear": "{{card.exp_year}}",
	                            "holderName": "{{card.holder_name}}"},
	          "additionalData": {"expiry": {"month": "{{card.exp_month|number}}", "year": "{{card.exp_year|number}}"}}}}`)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := ParseDestinations([]byte(`{"destinations": [{"id": "adyen", "url": "https://checkout-test.adyen.com",
	 "routes": [{"method": "POST", "path": "/v71/payments"}],
	 "request_headers": ["Idempotency-Key"], "response_headers": ["pspReference"],
	 "credential": {"secret": "adyen_api_key", "header": "X-API-Key"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := ds.Get("adyen")
	route, err := d.MatchRoute("POST", []string{"v71", "payments"})
	if err != nil {
		t.Fatal(err)
	}
	for holder, want := range map[string]string{
		"Jane Doe":       `{"amount":{"currency":"EUR","value":1000},"merchantAccount":"ShopECOM","reference":"order-8812","paymentMethod":{"type":"scheme","number":"4242424242424242","expiryMonth":"12","expiryYear":"2030","holderName":"Jane Doe"},"additionalData":{"expiry":{"month":12,"year":2030}}}`,
		`Jane "JD" Doe`:  `"holderName":"Jane \"JD\" Doe"`,
		`x","number":"1`: `"holderName":"x\",\"number\":\"1"`,
	} {
		v := Values{
			Card:    &Card{Number: secret.New("4242424242424242"), ExpMonth: 12, ExpYear: 2030, HolderName: secret.New(holder)},
			Secrets: map[string]secret.Secret[string]{"adyen_api_key": secret.New("AQE1hmfx")},
		}
		out, _, err := Build(d, r, route, v)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out.Body), want) {
			t.Errorf("holder %q: body %s, want %s", holder, out.Body, want)
		}
		if out.Header.Get("X-Api-Key") != "AQE1hmfx" || out.URL != "https://checkout-test.adyen.com/v71/payments" {
			t.Errorf("headers %v url %s", out.Header, out.URL)
		}
	}
}
