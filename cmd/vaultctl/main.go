// Command vaultctl is the card vault's client CLI: it generates client
// credentials and calls every operation of the vault's API with them.
//
// Usage: vaultctl [--url URL] [--credentials FILE] <command> [flags] [args]
// Run "vaultctl help" for the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := newApp(os.Stdin, os.Stdout, os.Stderr, os.Getenv).run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
