package localmode_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/internal/vaulttest"
)

// Values of the forward tests; the leak guard holds every vault log line
// and audit event free of them.
const (
	fwdPAN    = "4000056655665556"
	fwdHolder = "Zoë O'Brien & Sons"
	// The credential and body secret hold characters every encoding
	// changes (JSON, form, percent), so redaction of each form is tested.
	fwdCredential = "sk_test_fwd/key+with=odd&chars\"<>"
	fwdExtra      = "extra secret value é/+"
)

func init() { vaulttest.Sensitive(fwdPAN, fwdHolder, fwdCredential, fwdExtra) }

// received is one request as the echo provider got it.
type received struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   string
	RemoteAddr             string
}

// echoProvider is a loopback TLS provider that records what it received
// and answers by path: it echoes the body back (so redaction is tested on
// what the provider really got), redirects, stalls, answers too much or
// answers bytes that are not UTF-8.
type echoProvider struct {
	srv     *httptest.Server
	mu      sync.Mutex
	got     []received
	landed  atomic.Int32
	conns   atomic.Int32
	release chan struct{}
}

func newEchoProvider(t *testing.T) *echoProvider {
	t.Helper()
	p := &echoProvider{release: make(chan struct{})}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			p.conns.Add(1)
		}
	}
	p.srv.StartTLS()
	t.Cleanup(func() { close(p.release); p.srv.Close() })
	return p
}

func (p *echoProvider) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	p.got = append(p.got, received{Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: string(body), RemoteAddr: r.RemoteAddr})
	p.mu.Unlock()
	switch r.URL.Path {
	case "/redirect":
		w.Header().Set("Location", p.srv.URL+"/landed")
		w.WriteHeader(http.StatusFound)
	case "/landed":
		p.landed.Add(1)
		_, _ = w.Write([]byte("landed"))
	case "/slow":
		select {
		case <-time.After(3 * time.Second):
		case <-p.release:
		case <-r.Context().Done():
		}
	case "/big":
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(strings.Repeat("x", 1<<20+1)))
	case "/exact":
		_, _ = w.Write([]byte(strings.Repeat("y", 1<<20)))
	case "/binary":
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write([]byte{0xff, 0xfe, 0x00, 0x41})
	default:
		// Echo everything the vault sent, the way a provider's error
		// message or a verbose answer could.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Request-Id", "req_"+r.Header.Get("Authorization"))
		w.Header().Set("X-Not-Listed", "hidden")
		w.WriteHeader(http.StatusPaymentRequired)
		echo, _ := json.Marshal(map[string]any{"body": string(body), "authorization": r.Header.Get("Authorization"), "query": r.URL.RawQuery})
		_, _ = w.Write(echo)
		_, _ = w.Write([]byte("\n" + string(body) + "\n" + r.Header.Get("Authorization")))
	}
}

func (p *echoProvider) requests() []received {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]received(nil), p.got...)
}

func (p *echoProvider) caPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw}))
}

// destinationsFor is a destinations document with the echo provider under
// several ids: "echo" (everything), "echo-fast" (a 200 ms timeout) and
// "echo-public" (the provider by name, without allow_private_network).
func destinationsFor(p *echoProvider) string {
	u, _ := url.Parse(p.srv.URL)
	ca := p.caPEM()
	entry := func(id, base string, extra map[string]any) map[string]any {
		e := map[string]any{
			"id": id, "url": base,
			"routes": []map[string]string{
				{"method": "POST", "path": "/v1/payment_methods"},
				{"method": "POST", "path": "/v1/payments"},
				{"method": "GET", "path": "/v1/payment_intents/*"},
				{"method": "GET", "path": "/redirect"},
				{"method": "GET", "path": "/slow"},
				{"method": "GET", "path": "/big"},
				{"method": "GET", "path": "/exact"},
				{"method": "GET", "path": "/binary"},
			},
			"request_headers":       []string{"Idempotency-Key", "Stripe-Version"},
			"response_headers":      []string{"Request-Id"},
			"credential":            map[string]string{"secret": "api_key", "header": "Authorization", "prefix": "Bearer "},
			"secrets":               []string{"extra"},
			"ca_pem":                ca,
			"allow_private_network": true,
		}
		for k, v := range extra {
			if v == nil {
				delete(e, k)
			} else {
				e[k] = v
			}
		}
		return e
	}
	doc, _ := json.Marshal(map[string]any{"destinations": []any{
		entry("echo", p.srv.URL, nil),
		entry("echo-fast", p.srv.URL, map[string]any{"timeout_ms": 200}),
		entry("echo-public", "https://localhost:"+u.Port(), map[string]any{"allow_private_network": nil}),
		entry("unlisted", p.srv.URL, nil),
	}})
	return string(doc)
}

// forwardFixture is a vault with the echo provider configured, a card and
// the merchant's secrets stored.
type forwardFixture struct {
	v        *vaulttest.Vault
	c        *vaulttest.Client
	p        *echoProvider
	token    string
	merchant string
}

func newForwardFixture(t *testing.T, opts vaulttest.Options) *forwardFixture {
	t.Helper()
	p := newEchoProvider(t)
	c := vaulttest.NewClient("fwd-app", jose.ES256, []string{"*"})
	c.Destinations = []string{"echo", "echo-fast", "echo-public"}
	v := vaulttest.StartWith(t, opts)
	v.SetDestinations(destinationsFor(p))
	v.SetClients(c)
	f := &forwardFixture{v: v, c: c, p: p, merchant: "m_fwd"}
	resp := c.VaultCard(t, f.merchant, map[string]any{"card": map[string]any{
		"number": fwdPAN, "exp_month": 3, "exp_year": 2031, "holder_name": fwdHolder}}, jose.ECDH_ES_A256KW)
	if resp.Status != http.StatusCreated {
		t.Fatalf("vault card: %d %s", resp.Status, resp.Body)
	}
	f.token, _ = resp.JSON["token"].(string)
	f.putSecret(t, "api_key", fwdCredential)
	f.putSecret(t, "extra", fwdExtra)
	return f
}

func (f *forwardFixture) putSecret(t *testing.T, name, value string) {
	t.Helper()
	claims := f.c.Claims("put_secret", f.merchant, map[string]any{"name": name, "value": value})
	resp := f.c.PostJOSE(http.MethodPut, "/v1/merchants/"+f.merchant+"/secrets/"+name, f.c.Encrypt(t, f.c.Sign(t, claims), jose.ECDH_ES_A256KW))
	if resp.Status != http.StatusCreated && resp.Status != http.StatusOK {
		t.Fatalf("put secret: %d %s", resp.Status, resp.Body)
	}
}

// claims are fresh forward claims to destination with request.
func (f *forwardFixture) claims(destination string, request map[string]any) map[string]any {
	return f.c.Claims("forward", f.merchant, map[string]any{"destination": destination, "token": f.token, "request": request})
}

func (f *forwardFixture) send(t *testing.T, claims map[string]any) *vaulttest.Response {
	t.Helper()
	return f.c.PostJOSE(http.MethodPost, "/v1/forward", f.c.Encrypt(t, f.c.Sign(t, claims), jose.ECDH_ES_A256KW))
}

func stripeForm() map[string]any {
	return map[string]any{
		"method": "POST", "path": "/v1/payment_methods",
		"headers": map[string]string{
			"Idempotency-Key": "idem_1",
			// None of these may reach the provider.
			"Authorization": "Bearer client-token", "Cookie": "session=1", "Host": "evil.example",
			"Connection": "close", "Transfer-Encoding": "chunked", "Proxy-Authorization": "Basic eA==",
			"X-Forwarded-For": "10.0.0.1", "Te": "trailers", "Upgrade": "h2c",
		},
		"content_type": "application/x-www-form-urlencoded",
		"body": map[string]string{
			"type": "card", "card[number]": "{{card.number}}",
			"card[exp_month]": "{{card.exp_month}}", "card[exp_year]": "{{card.exp_year}}",
			"billing_details[name]": "{{card.holder_name}}", "metadata[note]": "{{secret.extra}}",
			"metadata[yy]": "{{card.exp_year2}}",
		},
	}
}

func TestForwardSendsTheCardAndCredentialAndRedactsTheAnswer(t *testing.T) {
	f := newForwardFixture(t, vaulttest.Options{})
	resp := f.send(t, f.claims("echo", stripeForm()))
	if resp.Status != http.StatusOK {
		t.Fatalf("forward: %d %s", resp.Status, resp.Body)
	}
	got := f.p.requests()
	if len(got) != 1 {
		t.Fatalf("provider got %d requests, want 1", len(got))
	}
	r := got[0]
	// In the client's order (encoding/json signs map keys sorted).
	wantBody := "billing_details%5Bname%5D=" + url.QueryEscape(fwdHolder) + "&card%5Bexp_month%5D=03&card%5Bexp_year%5D=2031" +
		"&card%5Bnumber%5D=" + fwdPAN + "&metadata%5Bnote%5D=" + url.QueryEscape(fwdExtra) + "&metadata%5Byy%5D=31&type=card"
	if r.Method != "POST" || r.Path != "/v1/payment_methods" || r.Body != wantBody {
		t.Errorf("provider got %s %s %q,\nwant POST /v1/payment_methods %q", r.Method, r.Path, r.Body, wantBody)
	}
	if a := r.Header.Get("Authorization"); a != "Bearer "+fwdCredential {
		t.Errorf("provider got Authorization %q, want the merchant's credential", a)
	}
	if k := r.Header.Get("Idempotency-Key"); k != "idem_1" {
		t.Errorf("Idempotency-Key = %q, want it passed through", k)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", ct)
	}
	for _, h := range []string{"Cookie", "X-Forwarded-For", "Proxy-Authorization", "Upgrade", "Te", "Transfer-Encoding"} {
		if v := r.Header.Get(h); v != "" {
			t.Errorf("provider got %s: %q; only listed headers may pass", h, v)
		}
	}
	for name := range r.Header {
		switch name {
		case "Authorization", "Idempotency-Key", "Content-Type", "Content-Length", "User-Agent", "Accept-Encoding":
		default:
			t.Errorf("provider got unexpected header %s", name)
		}
	}
	if r.Header.Get("Connection") != "" {
		t.Errorf("provider got a Connection header")
	}

	// The answer: the provider's status inside a 200, redacted.
	if resp.JSON["destination"] != "echo" || resp.JSON["status"] != float64(402) || resp.JSON["body_encoding"] != "utf-8" {
		t.Errorf("answer = %s", resp.Body)
	}
	body, _ := resp.JSON["body"].(string)
	headers, _ := resp.JSON["headers"].(map[string]any)
	answer := body + fmt.Sprint(headers)
	for _, leak := range []string{fwdPAN, fwdCredential, url.QueryEscape(fwdCredential), url.QueryEscape(fwdHolder), fwdHolder,
		url.QueryEscape(fwdExtra), fwdExtra, jsonEscaped(fwdCredential), jsonEscaped(fwdHolder), jsonEscaped(fwdExtra), jsonEscapedHTML(fwdCredential)} {
		if strings.Contains(answer, leak) {
			t.Errorf("answer holds %q: %s", leak, answer)
		}
	}
	if !strings.Contains(body, "[REDACTED]") {
		t.Errorf("answer body has no [REDACTED]: %s", body)
	}
	if headers["Content-Type"] != "application/json" || headers["Request-Id"] != "req_Bearer [REDACTED]" {
		t.Errorf("answer headers = %v, want Content-Type and a redacted Request-Id", headers)
	}
	if _, ok := headers["X-Not-Listed"]; ok {
		t.Errorf("a header the destination does not list was returned")
	}
	if strings.Contains(resp.Body, fwdPAN) || strings.Contains(resp.Body, "sk_test_fwd") {
		t.Errorf("the vault's answer holds the card number or the credential: %s", resp.Body)
	}

	// The audit trail: an event before sending, and the request's own,
	// naming destination, method, route pattern, provider status, latency.
	var sending, done map[string]any
	for _, e := range f.v.AuditEvents() {
		switch e["action"] {
		case audit.ActionForwardSending:
			sending = e
		case "forward":
			done = e
		}
	}
	if sending == nil || sending["destination"] != "echo" || sending["route"] != "/v1/payment_methods" || sending["method"] != "POST" {
		t.Errorf("no forward_sending event naming the destination: %v", sending)
	}
	if done == nil || done["outcome"] != "allowed" || done["destination"] != "echo" || done["method"] != "POST" ||
		done["route"] != "/v1/payment_methods" || done["provider_status"] != float64(402) {
		t.Errorf("forward event = %v", done)
	}
	// The latency is named whenever the request was sent, even under a
	// millisecond (0).
	if ms, ok := done["provider_latency_ms"].(float64); done != nil && (!ok || ms < 0) {
		t.Errorf("forward event without the provider latency: %v", done)
	}
	if text := f.v.AuditText(); strings.Contains(text, fwdPAN) || strings.Contains(text, "idem_1") || strings.Contains(text, "card%5B") {
		t.Errorf("the audit trail holds a body or the card number")
	}
}

func jsonEscaped(s string) string {
	b, _ := json.Marshal(s)
	out := strings.ReplaceAll(string(b), `\u003c`, "<")
	out = strings.ReplaceAll(out, `\u003e`, ">")
	out = strings.ReplaceAll(out, `\u0026`, "&")
	return out[1 : len(out)-1]
}

func jsonEscapedHTML(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

func TestForwardJSONBodyWithNumberPlaceholders(t *testing.T) {
	f := newForwardFixture(t, vaulttest.Options{})
	req := map[string]any{
		"method": "POST", "path": "/v1/payments",
		"content_type": "application/json",
		"query":        map[string]string{"mode": "a b", "x": "1&2=3"},
		"body": map[string]any{
			"amount": map[string]any{"value": 1000, "currency": "EUR"},
			"paymentMethod": map[string]any{
				"type": "scheme", "number": "{{card.number}}",
				"expiryMonth": "{{card.exp_month|number}}", "expiryYear": "{{card.exp_year|number}}",
				"holderName": "{{card.holder_name}}", "label": "exp {{card.exp_month}}/{{card.exp_year2}}",
			},
			"flags": []any{true, nil, 1.5, "{{secret.extra}}"},
		},
	}
	resp := f.send(t, f.claims("echo", req))
	if resp.Status != http.StatusOK {
		t.Fatalf("forward: %d %s", resp.Status, resp.Body)
	}
	r := f.p.requests()[0]
	// In the client's order (encoding/json signs map keys sorted).
	want := `{"amount":{"currency":"EUR","value":1000},"flags":[true,null,1.5,` + jsonString(fwdExtra) + `],"paymentMethod":{"expiryMonth":3,"expiryYear":2031,"holderName":` +
		jsonString(fwdHolder) + `,"label":"exp 03/31","number":"` + fwdPAN + `","type":"scheme"}}`
	if r.Body != want {
		t.Errorf("provider got\n%s\nwant\n%s", r.Body, want)
	}
	if r.RawQuery != "mode=a+b&x=1%262%3D3" {
		t.Errorf("query = %q", r.RawQuery)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	body, _ := resp.JSON["body"].(string)
	for _, leak := range []string{fwdPAN, fwdHolder, jsonEscaped(fwdHolder), jsonEscapedHTML(fwdHolder), fwdExtra, jsonEscaped(fwdExtra), url.QueryEscape(fwdExtra)} {
		if strings.Contains(body, leak) {
			t.Errorf("answer holds %q", leak)
		}
	}
}

func jsonString(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// TestForwardRefusalsChangeNothing drives every 400 and 403 of the
// contract, and the 404s: each is answered with its code, nothing reaches
// the provider, and the jti stays unspent (the same jti then succeeds).
func TestForwardRefusalsChangeNothing(t *testing.T) {
	f := newForwardFixture(t, vaulttest.Options{})
	other := vaulttest.NewClient("fwd-other", jose.ES256, []string{"*"})
	other.Destinations = []string{"echo"}
	f.v.SetClients(f.c, other)
	with := func(mut func(r map[string]any)) map[string]any {
		r := stripeForm()
		mut(r)
		return r
	}
	path := func(p string) map[string]any { return with(func(r map[string]any) { r["path"] = p }) }
	cases := []struct {
		name        string
		destination string
		token       *string
		request     any
		status      int
		code        string
	}{
		{"dot segment", "echo", nil, path("/v1/./payment_methods"), 403, "forbidden"},
		{"dot-dot segment", "echo", nil, path("/v1/payment_intents/../payment_methods"), 403, "forbidden"},
		{"double slash", "echo", nil, path("/v1//payment_methods"), 403, "forbidden"},
		{"encoded slash", "echo", nil, path("/v1/payment_intents/a%2Fb"), 403, "forbidden"},
		{"encoded slash lower", "echo", nil, path("/v1/payment_intents/a%2fb"), 403, "forbidden"},
		{"encoded backslash", "echo", nil, path("/v1/payment_intents/a%5cb"), 403, "forbidden"},
		{"encoded dot", "echo", nil, path("/v1/payment_intents/%2e%2E"), 403, "forbidden"},
		{"backslash", "echo", nil, path(`/v1/payment_intents/a\b`), 403, "forbidden"},
		{"question mark", "echo", nil, path("/v1/payment_methods?x=1"), 403, "forbidden"},
		{"relative path", "echo", nil, path("v1/payment_methods"), 403, "forbidden"},
		{"trailing slash", "echo", nil, path("/v1/payment_methods/"), 403, "forbidden"},
		{"path not allowed", "echo", nil, path("/v1/customers"), 403, "forbidden"},
		{"star is one segment", "echo", nil, with(func(r map[string]any) { r["method"] = "GET"; r["path"] = "/v1/payment_intents/a/b"; delete(r, "body") }), 403, "forbidden"},
		{"method not allowed", "echo", nil, with(func(r map[string]any) { r["method"] = "PUT" }), 403, "forbidden"},
		{"unknown destination", "nowhere", nil, stripeForm(), 403, "forbidden"},
		{"destination not the client's", "unlisted", nil, stripeForm(), 403, "forbidden"},
		{"secret not listed", "echo", nil, with(func(r map[string]any) { r["body"].(map[string]string)["x"] = "{{secret.api_key}}" }), 403, "forbidden"},
		{"placeholder in path", "echo", nil, path("/v1/payment_intents/{{card.number}}"), 400, "malformed_request"},
		{"placeholder in query", "echo", nil, with(func(r map[string]any) { r["query"] = map[string]string{"n": "{{card.number}}"} }), 400, "malformed_request"},
		{"placeholder in query name", "echo", nil, with(func(r map[string]any) { r["query"] = map[string]string{"{{card.number}}": "1"} }), 400, "malformed_request"},
		{"placeholder in a header", "echo", nil, with(func(r map[string]any) { r["headers"] = map[string]string{"Idempotency-Key": "{{card.number}}"} }), 400, "malformed_request"},
		{"placeholder in a form name", "echo", nil, with(func(r map[string]any) { r["body"] = map[string]string{"{{card.number}}": "x"} }), 400, "malformed_request"},
		{"placeholder in a JSON member name", "echo", nil, with(func(r map[string]any) {
			r["path"] = "/v1/payments"
			r["content_type"] = "application/json"
			r["body"] = map[string]any{"{{card.number}}": "x"}
		}), 400, "malformed_request"},
		{"unknown placeholder", "echo", nil, with(func(r map[string]any) { r["body"].(map[string]string)["x"] = "{{card.cvc}}" }), 400, "malformed_request"},
		{"spaced placeholder", "echo", nil, with(func(r map[string]any) { r["body"].(map[string]string)["x"] = "{{ card.number }}" }), 400, "malformed_request"},
		{"unclosed placeholder", "echo", nil, with(func(r map[string]any) { r["body"].(map[string]string)["x"] = "{{card.number" }), 400, "malformed_request"},
		{"number in a longer string", "echo", nil, with(func(r map[string]any) {
			r["path"] = "/v1/payments"
			r["content_type"] = "application/json"
			r["body"] = map[string]any{"m": "{{card.exp_month|number}}x"}
		}), 400, "malformed_request"},
		{"number in a form", "echo", nil, with(func(r map[string]any) { r["body"].(map[string]string)["x"] = "{{card.exp_month|number}}" }), 400, "malformed_request"},
		{"card placeholder without token", "echo", ptr(""), stripeForm(), 400, "malformed_request"},
		{"form value not a string", "echo", nil, with(func(r map[string]any) { r["body"] = map[string]any{"n": 1} }), 400, "malformed_request"},
		{"bad content type", "echo", nil, with(func(r map[string]any) { r["content_type"] = "text/plain" }), 400, "malformed_request"},
		{"body without content type", "echo", nil, with(func(r map[string]any) { delete(r, "content_type") }), 400, "malformed_request"},
		{"unknown request member", "echo", nil, with(func(r map[string]any) { r["url"] = "https://elsewhere.example" }), 400, "malformed_request"},
		{"no request", "echo", nil, nil, 400, "malformed_request"},
		{"request not an object", "echo", nil, "GET /", 400, "malformed_request"},
		{"lower-case method", "echo", nil, with(func(r map[string]any) { r["method"] = "post" }), 400, "malformed_request"},
		{"header with a newline", "echo", nil, with(func(r map[string]any) { r["headers"] = map[string]string{"Idempotency-Key": "a\r\nX-Evil: 1"} }), 400, "malformed_request"},
		{"unknown token", "echo", ptr("tok_AAAAAAAAAAAAAAAAAAAAAA"), stripeForm(), 404, "not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.p.requests())
			claims := f.claims(tc.destination, nil)
			if tc.request == nil {
				delete(claims, "request")
			} else {
				claims["request"] = tc.request
			}
			if tc.token != nil {
				if *tc.token == "" {
					delete(claims, "token")
				} else {
					claims["token"] = *tc.token
				}
			}
			resp := f.send(t, claims)
			if resp.Status != tc.status || resp.Code() != tc.code {
				t.Fatalf("answered %d %s, want %d %s: %s", resp.Status, resp.Code(), tc.status, tc.code, resp.Body)
			}
			if n := len(f.p.requests()); n != before {
				t.Fatalf("the provider was called by a refused forward")
			}
			// The jti is unspent: the same claims, corrected, succeed.
			claims["destination"], claims["token"], claims["request"] = "echo", f.token, stripeForm()
			if resp := f.send(t, claims); resp.Status != http.StatusOK {
				t.Fatalf("the corrected request with the same jti answered %d %s", resp.Status, resp.Body)
			}
		})
	}

	// Another merchant's token, and a merchant without the credential.
	t.Run("another merchant's token", func(t *testing.T) {
		claims := f.c.Claims("forward", "m_other", map[string]any{"destination": "echo", "token": f.token, "request": stripeForm()})
		if resp := f.send(t, claims); resp.Status != 404 || resp.Code() != "not_found" {
			t.Fatalf("answered %d %s", resp.Status, resp.Body)
		}
	})
	t.Run("credential secret missing", func(t *testing.T) {
		req := stripeForm()
		req["body"] = map[string]string{"type": "card"}
		claims := f.c.Claims("forward", "m_other", map[string]any{"destination": "echo", "request": req})
		if resp := f.send(t, claims); resp.Status != 404 || resp.Code() != "not_found" {
			t.Fatalf("answered %d %s", resp.Status, resp.Body)
		}
	})
	t.Run("client without forward", func(t *testing.T) {
		noForward := vaulttest.NewClient("fwd-noop", jose.ES256, []string{"*"}, "vault_card")
		noForward.Destinations = []string{"echo"}
		f.v.SetClients(f.c, noForward)
		claims := noForward.Claims("forward", f.merchant, map[string]any{"destination": "echo", "token": f.token, "request": stripeForm()})
		resp := noForward.PostJOSE(http.MethodPost, "/v1/forward", noForward.Encrypt(t, noForward.Sign(t, claims), jose.ECDH_ES_A256KW))
		if resp.Status != 403 {
			t.Fatalf("answered %d %s", resp.Status, resp.Body)
		}
	})
	t.Run("a replayed forward", func(t *testing.T) {
		claims := f.claims("echo", stripeForm())
		if resp := f.send(t, claims); resp.Status != 200 {
			t.Fatalf("first: %d", resp.Status)
		}
		if resp := f.send(t, claims); resp.Status != 409 || resp.Code() != "replayed" {
			t.Fatalf("replay answered %d %s", resp.Status, resp.Body)
		}
	})
}

func ptr(s string) *string { return &s }

func TestForwardProviderFailures(t *testing.T) {
	f := newForwardFixture(t, vaulttest.Options{})
	get := func(dest, path string) (*vaulttest.Response, map[string]any) {
		req := map[string]any{"method": "GET", "path": path}
		claims := f.claims(dest, req)
		delete(claims, "token")
		return f.send(t, claims), claims
	}

	t.Run("redirect is not followed", func(t *testing.T) {
		resp, _ := get("echo", "/redirect")
		if resp.Status != 200 || resp.JSON["status"] != float64(302) {
			t.Fatalf("answered %d %s", resp.Status, resp.Body)
		}
		if f.p.landed.Load() != 0 {
			t.Fatal("the redirect was followed")
		}
	})
	t.Run("timeout is 504 and spends the jti", func(t *testing.T) {
		start := time.Now()
		resp, claims := get("echo-fast", "/slow")
		if resp.Status != 504 || resp.Code() != "destination_timeout" {
			t.Fatalf("answered %d %s", resp.Status, resp.Body)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("the 200 ms timeout took %v", took)
		}
		if again := f.send(t, claims); again.Status != 409 {
			t.Errorf("after a 504 the same jti answered %d, want 409: a forward that passed every check has spent its jti", again.Status)
		}
	})
	t.Run("answer over 1 MiB is 502", func(t *testing.T) {
		resp, _ := get("echo", "/big")
		if resp.Status != 502 || resp.Code() != "destination_error" {
			t.Fatalf("answered %d %s", resp.Status, resp.Body)
		}
	})
	t.Run("answer of exactly 1 MiB passes", func(t *testing.T) {
		resp, _ := get("echo", "/exact")
		if resp.Status != 200 || len(resp.JSON["body"].(string)) != 1<<20 {
			t.Fatalf("answered %d (%d bytes)", resp.Status, len(resp.Body))
		}
	})
	t.Run("binary answer is base64", func(t *testing.T) {
		resp, _ := get("echo", "/binary")
		if resp.Status != 200 || resp.JSON["body_encoding"] != "base64" || resp.JSON["body"] != base64.StdEncoding.EncodeToString([]byte{0xff, 0xfe, 0, 0x41}) {
			t.Fatalf("answered %d %s", resp.Status, resp.Body)
		}
	})
	t.Run("localhost without allow_private_network is refused", func(t *testing.T) {
		before := len(f.p.requests())
		resp, _ := get("echo-public", "/v1/payment_intents/pi_1")
		if resp.Status != 502 || resp.Code() != "destination_error" {
			t.Fatalf("answered %d %s", resp.Status, resp.Body)
		}
		if len(f.p.requests()) != before {
			t.Fatal("the vault connected to a loopback address")
		}
	})
	t.Run("connections are reused", func(t *testing.T) {
		conns := f.p.conns.Load()
		for i := 0; i < 3; i++ {
			if resp, _ := get("echo", "/v1/payment_intents/pi_1"); resp.Status != 200 {
				t.Fatalf("answered %d", resp.Status)
			}
		}
		if n := f.p.conns.Load() - conns; n > 1 {
			t.Errorf("three forwards opened %d connections, want at most 1 (a warm transport)", n)
		}
	})
	t.Run("the audit names the failure", func(t *testing.T) {
		var codes []string
		for _, e := range f.v.AuditEvents() {
			if e["action"] == "forward" && e["outcome"] == "failed" {
				codes = append(codes, fmt.Sprint(e["error_code"], " ", e["destination"], " ", e["route"]))
			}
		}
		want := []string{"destination_timeout echo-fast /slow", "destination_error echo /big", "destination_error echo-public /v1/payment_intents/*"}
		if strings.Join(codes, ",") != strings.Join(want, ",") {
			t.Errorf("failed forward events = %v, want %v", codes, want)
		}
	})
}

// TestForwardDestinationsFollowTheFile: an edit takes effect without a
// restart; a refused document, or a client naming an unknown destination,
// makes every forward answer 503 until it is fixed.
func TestForwardDestinationsFollowTheFile(t *testing.T) {
	f := newForwardFixture(t, vaulttest.Options{})
	good := destinationsFor(f.p)
	ok := func() *vaulttest.Response { return f.send(t, f.claims("echo", stripeForm())) }
	if resp := ok(); resp.Status != 200 {
		t.Fatalf("forward: %d %s", resp.Status, resp.Body)
	}
	f.v.SetDestinations(strings.Replace(good, `"url":"https://127.0.0.1`, `"url":"http://127.0.0.1`, 1))
	if resp := ok(); resp.Status != 503 || resp.Code() != "unavailable" {
		t.Fatalf("with a refused document: %d %s", resp.Status, resp.Body)
	}
	f.v.SetDestinations(good)
	if resp := ok(); resp.Status != 200 {
		t.Fatalf("after the fix: %d %s", resp.Status, resp.Body)
	}
	f.c.Destinations = []string{"echo", "gone"}
	f.v.SetClients(f.c)
	if resp := ok(); resp.Status != 503 || resp.Code() != "unavailable" {
		t.Fatalf("with a client naming an unknown destination: %d %s", resp.Status, resp.Body)
	}
	f.c.Destinations = []string{"echo"}
	f.v.SetClients(f.c)
	if resp := ok(); resp.Status != 200 {
		t.Fatalf("after the registry fix: %d %s", resp.Status, resp.Body)
	}
	// A destination removed by an edit is refused at once.
	f.v.SetDestinations(`{"destinations": []}`)
	f.c.Destinations = nil
	f.v.SetClients(f.c)
	if resp := ok(); resp.Status != 403 {
		t.Fatalf("after removing the destination: %d %s", resp.Status, resp.Body)
	}
}

// failSending is an audit sink that cannot record the event of a forward
// about to send.
type failSending struct{ next audit.Sink }

func (s failSending) Record(ctx context.Context, e audit.Event) error {
	if e.Action == audit.ActionForwardSending {
		return errors.New("audit bus down")
	}
	return s.next.Record(ctx, e)
}

func TestForwardFailsClosedWithoutAudit(t *testing.T) {
	f := newForwardFixture(t, vaulttest.Options{WrapAudit: func(s audit.Sink) audit.Sink { return failSending{s} }})
	resp := f.send(t, f.claims("echo", stripeForm()))
	if resp.Status != 503 || resp.Code() != "unavailable" {
		t.Fatalf("answered %d %s, want 503: card data must not leave unaudited", resp.Status, resp.Body)
	}
	if n := len(f.p.requests()); n != 0 {
		t.Fatalf("the provider got %d requests", n)
	}
}
