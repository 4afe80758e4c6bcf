package lambdarun

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/cardvault/vault/shared/invoke"
)

// DemoDestinationID is the forward destination the stack's destinations
// document holds and its demo client may use: the one events/forward.json
// names.
const DemoDestinationID = "stripe-mock"

// demoDestination is a provider on loopback behind TLS, answering as
// Stripe's PaymentMethod endpoint does, so that forward's real path runs
// (the destination's own CA, the private-network opt-in, the credential
// and card fields injected, the answer redacted). It accepts a request
// only when the credential header carries the merchant secret's value and
// the card number field the demo card's number: a forward that injected
// nothing is told so (400 or 401), and is not counted.
type demoDestination struct {
	srv *httptest.Server

	mu       sync.Mutex
	accepted int
}

// demoPath is the one route of the destination (events/forward.json's).
const demoPath = "/v1/payment_methods"

func startDemoDestination() *demoDestination {
	d := &demoDestination{}
	d.srv = httptest.NewTLSServer(http.HandlerFunc(d.serve))
	return d
}

func (d *demoDestination) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.URL.Path != demoPath {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"type":"invalid_request_error","message":"Unrecognized request URL"}}`))
		return
	}
	// The vault injects the secret as "Bearer <value>"; which value the
	// setup stored is its business, an empty one is not a credential.
	if key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); !ok || key == "" {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":{"type":"invalid_request_error","message":"You did not provide an API key."}}`))
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("card[number]") != invoke.DemoCardNumber {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":{"type":"card_error","code":"invalid_number","message":"Your card number is incorrect."}}`))
		return
	}
	d.mu.Lock()
	d.accepted++
	d.mu.Unlock()
	_, _ = w.Write([]byte(`{"id":"pm_demo","object":"payment_method","type":"card","card":{"brand":"visa","last4":"4242"}}`))
}

// Accepted counts the requests the destination accepted.
func (d *demoDestination) Accepted() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.accepted
}

// document is the destinations document (VAULT_DESTINATIONS) holding the
// destination: its CA, loopback allowed, the setup's merchant secret as
// its Bearer credential.
func (d *demoDestination) document() (string, error) {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d.srv.Certificate().Raw})
	doc, err := json.Marshal(map[string]any{"destinations": []any{map[string]any{
		"id":                    DemoDestinationID,
		"url":                   d.srv.URL,
		"routes":                []any{map[string]string{"method": http.MethodPost, "path": demoPath}},
		"request_headers":       []string{"Idempotency-Key"},
		"credential":            map[string]string{"secret": invoke.DemoSecretName, "header": "Authorization", "prefix": "Bearer "},
		"ca_pem":                string(ca),
		"allow_private_network": true,
	}}})
	return string(doc), err
}
