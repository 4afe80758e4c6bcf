package deploy_test

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/cardvault/vault/shared/localmode"
)

// useEchoDestination gives the sample forward (events/forward.json) a
// provider: a loopback TLS server answering like Stripe's PaymentMethod
// endpoint, registered as the "stripe-mock" destination with the demo
// secret as its credential, and lets the demo client use it.
func useEchoDestination(t *testing.T, env *localmode.Env) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"pm_1","object":"payment_method","type":"card"}`))
	}))
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	doc, err := json.Marshal(map[string]any{"destinations": []any{map[string]any{
		"id":                    "stripe-mock",
		"url":                   srv.URL,
		"routes":                []any{map[string]string{"method": "POST", "path": "/v1/payment_methods"}},
		"request_headers":       []string{"Idempotency-Key"},
		"credential":            map[string]string{"secret": "demo_connector_key", "header": "Authorization", "prefix": "Bearer "},
		"ca_pem":                string(ca),
		"allow_private_network": true,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(env.Settings.DestinationsFile, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	var reg struct {
		Clients []map[string]any `json:"clients"`
	}
	raw, err := os.ReadFile(env.Settings.ClientsFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &reg); err != nil {
		t.Fatal(err)
	}
	for _, c := range reg.Clients {
		c["destinations"] = []string{"stripe-mock"}
	}
	raw, err = json.Marshal(reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(env.Settings.ClientsFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}
