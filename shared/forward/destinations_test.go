package forward

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const validEntry = `{"id": "stripe", "url": "https://api.stripe.com",
  "routes": [{"method": "POST", "path": "/v1/payment_methods"}, {"method": "GET", "path": "/v1/payment_intents/*"}],
  "request_headers": ["Idempotency-Key", "stripe-version"], "response_headers": ["Request-Id"],
  "credential": {"secret": "stripe.api_key", "header": "Authorization", "prefix": "Bearer "},
  "secrets": ["webhook_secret"], "allow_private_network": false, "timeout_ms": 8000}`

func TestParseDestinationsReadsEveryMember(t *testing.T) {
	d, err := ParseDestinations([]byte(`{"destinations": [` + validEntry + `, {"id": "adyen", "url": "https://checkout-test.adyen.com/", "routes": [{"method": "POST", "path": "/v71/payments"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	s, ok := d.Get("stripe")
	if !ok || d.Len() != 2 || !d.Known("adyen") || d.Known("paypal") {
		t.Fatalf("Get/Known/Len wrong: %v %d", ok, d.Len())
	}
	if s.BaseURL.String() != "https://api.stripe.com" || s.Timeout != 8*time.Second || s.Credential.Header != "Authorization" ||
		s.Credential.Prefix != "Bearer " || s.Credential.Secret != "stripe.api_key" || !s.AllowsSecret("webhook_secret") || s.AllowsSecret("stripe.api_key") {
		t.Errorf("stripe = %+v", s)
	}
	if strings.Join(s.RequestHeaders, ",") != "Idempotency-Key,Stripe-Version" || strings.Join(s.ResponseHeaders, ",") != "Request-Id" {
		t.Errorf("headers = %v %v", s.RequestHeaders, s.ResponseHeaders)
	}
	a, _ := d.Get("adyen")
	if a.Timeout != DefaultTimeout || a.Credential != nil || a.AllowPrivateNetwork || a.roots != nil {
		t.Errorf("adyen defaults = %+v", a)
	}
	if _, err := a.MatchRoute("POST", []string{"v71", "payments"}); err != nil {
		t.Error(err)
	}
	if _, err := s.MatchRoute("GET", []string{"v1", "payment_intents", "pi_123"}); err != nil {
		t.Error(err)
	}
	for _, segs := range [][]string{{"v1", "payment_intents"}, {"v1", "payment_intents", "a", "b"}, {"v1", "payment_intents", ""}} {
		if _, err := s.MatchRoute("GET", segs); err == nil {
			t.Errorf("* matched %v", segs)
		}
	}
	if _, err := s.MatchRoute("post", []string{"v1", "payment_methods"}); err == nil {
		t.Error("methods matched case-insensitively")
	}
}

func TestParseDestinationsEmptyDocument(t *testing.T) {
	d, err := ParseDestinations([]byte(EmptyDocument))
	if err != nil || d.Len() != 0 {
		t.Fatalf("%v %v", d, err)
	}
}

// entryWith is the valid entry with one member replaced (or removed when
// value is "").
func entryWith(t *testing.T, member, value string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(validEntry), &m); err != nil {
		t.Fatal(err)
	}
	if value == "" {
		delete(m, member)
	} else {
		m[member] = json.RawMessage(value)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestParseDestinationsRefusesTheWholeDocumentNamingTheEntry(t *testing.T) {
	cases := map[string]string{
		"unknown member":                 entryWith(t, "proxy", `"x"`),
		"member in another case":         strings.Replace(validEntry, `"url"`, `"URL"`, 1),
		"no id":                          entryWith(t, "id", ""),
		"no url":                         entryWith(t, "url", ""),
		"no routes":                      entryWith(t, "routes", ""),
		"empty routes":                   entryWith(t, "routes", `[]`),
		"http url":                       entryWith(t, "url", `"http://api.stripe.com"`),
		"url with a path":                entryWith(t, "url", `"https://api.stripe.com/v1"`),
		"url with user info":             entryWith(t, "url", `"https://user:pw@api.stripe.com"`),
		"url with a query":               entryWith(t, "url", `"https://api.stripe.com/?a=1"`),
		"url with a fragment":            entryWith(t, "url", `"https://api.stripe.com/#x"`),
		"url without host":               entryWith(t, "url", `"https:///"`),
		"route unknown member":           entryWith(t, "routes", `[{"method": "POST", "path": "/v1/x", "host": "evil"}]`),
		"lower-case method":              entryWith(t, "routes", `[{"method": "post", "path": "/v1/x"}]`),
		"pattern without slash":          entryWith(t, "routes", `[{"method": "POST", "path": "v1/x"}]`),
		"pattern root":                   entryWith(t, "routes", `[{"method": "POST", "path": "/"}]`),
		"pattern empty segment":          entryWith(t, "routes", `[{"method": "POST", "path": "/v1//x"}]`),
		"pattern trailing slash":         entryWith(t, "routes", `[{"method": "POST", "path": "/v1/x/"}]`),
		"pattern partial star":           entryWith(t, "routes", `[{"method": "POST", "path": "/v1/pi_*"}]`),
		"pattern double star":            entryWith(t, "routes", `[{"method": "POST", "path": "/v1/**"}]`),
		"pattern dot-dot":                entryWith(t, "routes", `[{"method": "POST", "path": "/v1/../x"}]`),
		"pattern percent":                entryWith(t, "routes", `[{"method": "POST", "path": "/v1/a%2Fb"}]`),
		"pattern query":                  entryWith(t, "routes", `[{"method": "POST", "path": "/v1/x?y"}]`),
		"bad request header name":        entryWith(t, "request_headers", `["Idempotency Key"]`),
		"request header Authorization":   entryWith(t, "request_headers", `["authorization"]`),
		"request header Cookie":          entryWith(t, "request_headers", `["Cookie"]`),
		"request header Host":            entryWith(t, "request_headers", `["HOST"]`),
		"request header Proxy-*":         entryWith(t, "request_headers", `["Proxy-Authorization"]`),
		"request header Connection":      entryWith(t, "request_headers", `["Connection"]`),
		"request header Keep-Alive":      entryWith(t, "request_headers", `["Keep-Alive"]`),
		"request header Transfer-Enc":    entryWith(t, "request_headers", `["Transfer-Encoding"]`),
		"request header TE":              entryWith(t, "request_headers", `["TE"]`),
		"request header Trailer":         entryWith(t, "request_headers", `["Trailer"]`),
		"request header Upgrade":         entryWith(t, "request_headers", `["Upgrade"]`),
		"request header Content-Length":  entryWith(t, "request_headers", `["Content-Length"]`),
		"bad response header name":       entryWith(t, "response_headers", `["Request Id"]`),
		"response header Set-Cookie":     entryWith(t, "response_headers", `["Set-Cookie"]`),
		"credential unknown member":      entryWith(t, "credential", `{"secret": "k", "header": "Authorization", "value": "sk_live"}`),
		"credential without secret":      entryWith(t, "credential", `{"header": "Authorization"}`),
		"credential bad header":          entryWith(t, "credential", `{"secret": "k", "header": "Bad Header"}`),
		"credential in Host":             entryWith(t, "credential", `{"secret": "k", "header": "Host"}`),
		"credential prefix newline":      entryWith(t, "credential", `{"secret": "k", "header": "X-Key", "prefix": "a\r\nb"}`),
		"bad secret name":                entryWith(t, "secrets", `["a/b"]`),
		"timeout 0":                      entryWith(t, "timeout_ms", `0`),
		"timeout over 25 s":              entryWith(t, "timeout_ms", `25001`),
		"timeout not a number":           entryWith(t, "timeout_ms", `"10s"`),
		"bad ca_pem":                     entryWith(t, "ca_pem", `"not a certificate"`),
		"ca_pem with a key":              entryWith(t, "ca_pem", `"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"`),
		"allow_private_network not bool": entryWith(t, "allow_private_network", `"yes"`),
		"duplicate member in an entry":   strings.Replace(validEntry, `"id": "stripe",`, `"id": "stripe", "id": "stripe2",`, 1),
		"duplicate id":                   validEntry + "," + validEntry,
		"an entry that is not an object": `"stripe"`,
		"bad id":                         entryWith(t, "id", `"stripe/live"`),
	}
	for name, entry := range cases {
		t.Run(name, func(t *testing.T) {
			doc := `{"destinations": [{"id": "first", "url": "https://a.example", "routes": [{"method": "GET", "path": "/x"}]}, ` + entry + `]}`
			_, err := ParseDestinations([]byte(doc))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), "entry 1") && !(name == "duplicate id" && strings.Contains(err.Error(), `entry 2 (id "stripe"): duplicate id`)) {
				t.Errorf("error %q does not name the entry", err)
			}
		})
	}
	for name, doc := range map[string]string{
		"unknown top-level member": `{"destinations": [], "clients": []}`,
		"not JSON":                 `{"destinations": [`,
		"not an object":            `[]`,
		"destinations not a list":  `{"destinations": {}}`,
	} {
		if _, err := ParseDestinations([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseDestinationsNamesTheEntryByID(t *testing.T) {
	_, err := ParseDestinations([]byte(`{"destinations": [` + entryWith(t, "url", `"http://api.stripe.com"`) + `]}`))
	if err == nil || !strings.Contains(err.Error(), `entry 0 (id "stripe")`) || !strings.Contains(err.Error(), "https") {
		t.Fatalf("error = %v", err)
	}
}
