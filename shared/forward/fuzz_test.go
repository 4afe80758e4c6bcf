package forward

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/wire"
)

// FuzzParseDestinations: any document either parses into destinations
// whose URLs are https hosts and whose timeouts are in range, or is
// refused; it never panics.
func FuzzParseDestinations(f *testing.F) {
	f.Add([]byte(`{"destinations": [` + validEntry + `]}`))
	f.Add([]byte(EmptyDocument))
	f.Add([]byte(`{"destinations": [{"id": "a", "url": "https://a.example:8443/", "routes": [{"method": "GET", "path": "/*/x"}]}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		d, err := ParseDestinations(doc)
		if err != nil {
			return
		}
		for _, dest := range d.byID {
			if dest.BaseURL.Scheme != "https" || dest.BaseURL.User != nil || dest.BaseURL.Path != "" || dest.BaseURL.Host == "" {
				t.Fatalf("accepted url %v", dest.BaseURL)
			}
			if dest.Timeout <= 0 || dest.Timeout > MaxTimeoutMS*1e6 {
				t.Fatalf("accepted timeout %v", dest.Timeout)
			}
			for _, h := range dest.RequestHeaders {
				if refusedRequestHeader(h) != "" {
					t.Fatalf("accepted request header %q", h)
				}
			}
		}
	})
}

// FuzzBuildJSON: whatever a client's body holds and whatever the card's
// holder name is, the vault's JSON body is valid JSON, and the holder
// name never escapes its string value.
func FuzzBuildJSON(f *testing.F) {
	f.Add(`{"a": "{{card.holder_name}}", "n": "{{card.exp_month|number}}", "l": [1, {"x": "{{secret.sig}}"}]}`, `Jane "x" Doe`)
	f.Add(`"{{card.number}}"`, `"}],"a":{"`)
	f.Add(`{"m": "x{{card.exp_year2}}y{{card.holder_name}}"}`, "\u2028\\")
	d := &Destination{ID: "p", BaseURL: &url.URL{Scheme: "https", Host: "p.example"}, Secrets: []string{"sig"}}
	f.Fuzz(func(t *testing.T, body, holder string) {
		o, err := wire.ParseObject([]byte(`{"method": "POST", "path": "/x", "content_type": "application/json", "body": ` + body + `}`))
		if err != nil {
			return
		}
		r, err := ParseRequest(o)
		if err != nil {
			return
		}
		v := Values{
			Card:    &Card{Number: secret.New("4242424242424242"), ExpMonth: 1, ExpYear: 2030, HolderName: secret.New(strings.ToValidUTF8(holder, ""))},
			Secrets: map[string]secret.Secret[string]{"sig": secret.New(`"]}`)},
		}
		out, _, err := Build(d, r, Route{Method: "POST", Pattern: "/x"}, v)
		if err != nil {
			return
		}
		if !json.Valid(out.Body) {
			t.Fatalf("invalid JSON body %q from %q", out.Body, body)
		}
	})
}
