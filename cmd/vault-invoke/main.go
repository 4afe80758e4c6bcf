// Command vault-invoke runs one of the vault's Lambda functions in-process
// with a sample event, on local mode's backends, and prints the response
// event: what `sam local invoke` does, without containers or AWS.
//
//	vault-invoke --function vault-card --event events/vault-card.json
//	make invoke FN=get-masked
//
// See package invoke for the event templates (x-vault-request,
// $VAULTED_TOKEN, $STORED_SECRET).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/cardvault/vault/shared/invoke"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := invoke.Run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
