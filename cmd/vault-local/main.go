// Command vault-local serves the vault's API on one machine with embedded
// defaults (see package localmode). It runs the same handlers as the
// Lambda functions, fed the same API Gateway events.
package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/httpapi"
	"github.com/cardvault/vault/shared/localmode"
	"github.com/cardvault/vault/shared/vault"
)

func main() {
	// Everything the server writes, its own start-up lines included, goes
	// through the vault's logger, which masks every field.
	logger := app.NewLogger()
	if err := run(logger); err != nil {
		logger.Error("vault-local stopped", "err", err)
		os.Exit(1)
	}
}

func run(logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

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
	server := httpapi.NewServer(api)
	// The same server also serves the job files' signed URLs (uploads and
	// results), which local mode keeps in a directory.
	server.Handler = env.Handler(api)
	env.SetFilesBaseURL("http://" + listener.Addr().String())
	logger.Info("card vault (local mode) listening",
		"url", "http://"+listener.Addr().String(),
		"data_dir", settings.Dir,
		"client_registry", settings.ClientsFile,
		"forward_destinations", settings.DestinationsFile,
		"demo_client_credentials", filepath.Join(settings.Dir, localmode.DemoClientFile),
		"dynamodb_endpoint", env.DynamoDBEndpoint(),
		"table", settings.Table)

	go env.RunPurger(ctx, time.Minute)
	go env.RunJobSweeper(ctx, 30*time.Second)
	go env.RunKeyWork(ctx, 30*time.Second, vault.WorkRequest{Action: vault.ActionRotateDue, MaxAgeDays: 90})

	errc := make(chan error, 1)
	go func() { errc <- server.Serve(httpapi.Listener(listener, api)) }()
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
