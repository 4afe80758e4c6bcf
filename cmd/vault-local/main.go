// Command vault-local serves the vault's API on one machine with embedded
// defaults (see package localmode). It runs the same handlers as the
// Lambda functions, fed the same API Gateway events.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/localmode"
	"github.com/cardvault/vault/shared/vault"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "vault-local:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	logger := app.NewLogger()
	settings, err := localmode.SettingsFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	env, err := localmode.Start(ctx, settings, logger)
	if err != nil {
		return err
	}
	defer env.Close()

	api, err := env.API(app.Functions...)
	if err != nil {
		return err
	}
	listener, err := net.Listen("tcp", settings.Addr)
	if err != nil {
		return err
	}
	server := &http.Server{
		Handler:           env.Handler(api),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	env.SetFilesBaseURL("http://" + listener.Addr().String())
	fmt.Fprintf(os.Stderr, "card vault (local mode) listening on http://%s\n", listener.Addr())
	fmt.Fprintf(os.Stderr, "  data, keys and audit log: %s\n", settings.Dir)
	fmt.Fprintf(os.Stderr, "  client registry:          %s\n", settings.ClientsFile)
	fmt.Fprintf(os.Stderr, "  demo client credentials:  %s\n", filepath.Join(settings.Dir, localmode.DemoClientFile))
	fmt.Fprintf(os.Stderr, "  DynamoDB endpoint:        %s (table %s)\n", env.DynamoDBEndpoint(), settings.Table)

	go env.RunPurger(ctx, time.Minute)
	go env.RunKeyWork(ctx, 30*time.Second, vault.WorkRequest{Action: vault.ActionRotateDue, MaxAgeDays: 90})

	errc := make(chan error, 1)
	go func() { errc <- server.Serve(listener) }()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return server.Shutdown(shutdown)
}
