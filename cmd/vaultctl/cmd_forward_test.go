package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vaultapp "github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/httpapi"
	"github.com/cardvault/vault/shared/localmode"
	"github.com/cardvault/vault/shared/stripemock"
)

// TestForwardToStripeMockThroughTheCLI is the README's round trip: a card
// vaulted with vaultctl becomes a Stripe PaymentMethod through stripe-mock
// (behind TLS, registered the way `make stripe-mock` registers it), and
// vaultctl prints the provider's answer without the number or the key.
func TestForwardToStripeMockThroughTheCLI(t *testing.T) {
	dir := t.TempDir()
	env, err := localmode.Start(context.Background(), localmode.Settings{Dir: dir}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("this test needs the local vault (and dynalite): %v", err)
	}
	t.Cleanup(env.Close)
	api, err := env.API(vaultapp.Functions...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.HTTPHandler(api))
	t.Cleanup(srv.Close)

	wd, _ := os.Getwd()
	root, err := stripemock.ModuleRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin, err := stripemock.Install(ctx, root)
	if err != nil {
		t.Fatalf("this test needs stripe-mock, which could not be installed: %v", err)
	}
	sm, err := stripemock.Start(ctx, bin, "127.0.0.1:0", nil)
	if err != nil {
		t.Fatalf("this test needs stripe-mock, which could not start: %v", err)
	}
	t.Cleanup(sm.Close)
	if err := stripemock.Register(env.Settings.DestinationsFile, env.Settings.ClientsFile, localmode.DemoClientID,
		stripemock.DestinationID, sm.DestinationJSON(stripemock.DestinationID, "stripe_api_key")); err != nil {
		t.Fatal(err)
	}

	cli := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := runCLI(t, "", map[string]string{"VAULT_LOCAL_DIR": dir}, append([]string{"--url", srv.URL}, args...)...)
		if code != exitOK {
			t.Fatalf("vaultctl %s: exit %d: %s", args[0], code, stderr)
		}
		return stdout
	}
	var vaulted struct{ Token string }
	if err := json.Unmarshal([]byte(cli("vault", "--merchant", "m_demo", "--number", "4242424242424242", "--exp", "12/2034", "--holder", "Jenny Rosen")), &vaulted); err != nil || vaulted.Token == "" {
		t.Fatalf("vault: %v", err)
	}
	cli("secret", "put", "--merchant", "m_demo", "--name", "stripe_api_key", "--value", "sk_test_4eC39HqLyjWDarjtT1zdp7dc")
	out := cli("forward", "--merchant", "m_demo", "--token", vaulted.Token, "--destination", "stripe-mock",
		"--method", "POST", "--path", "/v1/payment_methods", "--header", "Idempotency-Key: readme-1",
		"--form", "type=card", "--form", "card[number]={{card.number}}",
		"--form", "card[exp_month]={{card.exp_month}}", "--form", "card[exp_year]={{card.exp_year}}")
	var answer struct {
		Destination string            `json:"destination"`
		Status      int               `json:"status"`
		Headers     map[string]string `json:"headers"`
		Body        string            `json:"body"`
	}
	if err := json.Unmarshal([]byte(out), &answer); err != nil {
		t.Fatalf("forward printed %s", out)
	}
	var pm struct {
		ID, Object string
	}
	if err := json.Unmarshal([]byte(answer.Body), &pm); err != nil || answer.Status != 200 || pm.Object != "payment_method" || !strings.HasPrefix(pm.ID, "pm_") {
		t.Fatalf("forward answered %s", out)
	}
	if strings.Contains(out, "4242424242424242") || strings.Contains(out, "sk_test_4eC39") {
		t.Errorf("vaultctl printed the card number or the key: %s", out)
	}

	// A JSON body from a file, to the same destination.
	body := filepath.Join(t.TempDir(), "pi.json")
	if err := os.WriteFile(body, []byte(`{"amount": 2000}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "", map[string]string{"VAULT_LOCAL_DIR": dir}, "--url", srv.URL, "forward", "--merchant", "m_demo",
		"--destination", "stripe-mock", "--path", "/v1/payment_methods", "--json", body, "--form", "a=b")
	if code != exitUsage || !strings.Contains(stderr, "--form and --json") {
		t.Errorf("--form with --json: exit %d %s", code, stderr)
	}
}
