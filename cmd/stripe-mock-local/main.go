// Command stripe-mock-local runs stripe-mock (Stripe's API emulator) on
// loopback behind a TLS front with a CA of its own, and registers it with
// the local vault as the destination "stripe-mock": the CA as its ca_pem,
// the merchant secret "stripe_api_key" as its Bearer credential, and the
// demo client allowed to use it. `make stripe-mock` runs it; the local
// vault (make run) follows the edit without a restart.
//
//	STRIPE_MOCK_ADDR  where the TLS front listens (default 127.0.0.1:12112)
//	VAULT_LOCAL_DIR, VAULT_CLIENTS_FILE, VAULT_DESTINATIONS_FILE  as for make run
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cardvault/vault/shared/localmode"
	"github.com/cardvault/vault/shared/stripemock"
)

// CredentialSecret is the merchant secret sent as the Bearer key.
const CredentialSecret = "stripe_api_key" // #nosec G101 -- the name of a secret, not a credential

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "stripe-mock-local:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	settings, err := localmode.SettingsFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, err := stripemock.ModuleRoot(wd)
	if err != nil {
		return err
	}
	installCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	bin, err := stripemock.Install(installCtx, root)
	if err != nil {
		return err
	}
	addr := os.Getenv("STRIPE_MOCK_ADDR")
	if addr == "" {
		addr = "127.0.0.1:12112"
	}
	srv, err := stripemock.Start(ctx, bin, addr, nil)
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := stripemock.Register(settings.DestinationsFile, settings.ClientsFile, localmode.DemoClientID,
		stripemock.DestinationID, srv.DestinationJSON(stripemock.DestinationID, CredentialSecret)); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "stripe-mock %s behind TLS at %s\n", stripemock.Version, srv.URL)
	fmt.Fprintf(os.Stderr, "  destination %q written to %s (credential: merchant secret %q)\n", stripemock.DestinationID, settings.DestinationsFile, CredentialSecret)
	fmt.Fprintf(os.Stderr, "  client %q may forward to it (%s)\n", localmode.DemoClientID, settings.ClientsFile)
	fmt.Fprintln(os.Stderr, "Ctrl-C stops it.")
	select {
	case <-ctx.Done():
		return nil
	case err := <-waitErr(srv):
		return fmt.Errorf("stripe-mock exited: %v", err)
	}
}

func waitErr(srv *stripemock.Server) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- srv.Wait() }()
	return ch
}
