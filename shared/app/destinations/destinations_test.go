package destinations

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cardvault/vault/shared/client"
	"github.com/cardvault/vault/shared/config"
	"github.com/cardvault/vault/shared/wire"
)

// registryWith is a registry of one client listing destinations.
func registryWith(t *testing.T, destinations ...string) *wire.Registry {
	t.Helper()
	creds, err := client.GenerateCredentials("app", "ECDH-ES+A256KW")
	if err != nil {
		t.Fatal(err)
	}
	entry, err := creds.RegistryEntry([]string{"*"}, []string{"forward"})
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(entry), `"id":`, `"destinations": [`+quoteAll(destinations)+`], "id":`, 1)
	reg, err := wire.ParseRegistry([]byte(`{"clients": [` + doc + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func quoteAll(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = `"` + id + `"`
	}
	return strings.Join(q, ",")
}

func loaderFor(t *testing.T, doc string) *config.Loader {
	t.Helper()
	path := filepath.Join(t.TempDir(), "destinations.json")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"VAULT_DESTINATIONS_FILE": path}
	return &config.Loader{Getenv: func(k string) string { return env[k] }}
}

const oneDestination = `{"destinations": [{"id": "stripe", "url": "https://api.stripe.com", "routes": [{"method": "POST", "path": "/v1/payment_methods"}]}]}`

// TestColdStartLoadsTheDestinationsOrFails: the forward function's cold
// start refuses the template's placeholder (naming the variable), a
// refused document, a plaintext value and a client naming an unknown
// destination.
func TestColdStartLoadsTheDestinationsOrFails(t *testing.T) {
	ctx := context.Background()
	src, err := loadDestinations(ctx, loaderFor(t, oneDestination), registryWith(t, "stripe"))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := src.Destinations(); err != nil || !d.Known("stripe") {
		t.Fatalf("%v %v", d, err)
	}
	if _, err := loadDestinations(ctx, loaderFor(t, `{"destinations":[]}`), registryWith(t)); err == nil || !strings.Contains(err.Error(), "VAULT_DESTINATIONS") || !strings.Contains(err.Error(), "placeholder") {
		t.Errorf("placeholder: %v", err)
	}
	if _, err := loadDestinations(ctx, loaderFor(t, strings.Replace(oneDestination, "https://", "http://", 1)), registryWith(t)); err == nil || !strings.Contains(err.Error(), `"stripe"`) {
		t.Errorf("refused document: %v", err)
	}
	if _, err := loadDestinations(ctx, loaderFor(t, oneDestination), registryWith(t, "stripe", "adyen")); err == nil || !strings.Contains(err.Error(), `"adyen"`) {
		t.Errorf("client naming an unknown destination: %v", err)
	}
	plain := &config.Loader{Getenv: func(k string) string {
		if k == "VAULT_DESTINATIONS" {
			return oneDestination
		}
		return ""
	}}
	if _, err := loadDestinations(ctx, plain, registryWith(t)); err == nil {
		t.Error("a plaintext destinations variable was accepted")
	}
}
