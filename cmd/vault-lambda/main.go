// Command vault-lambda invokes one function's built bootstrap under the
// AWS Lambda Runtime Interface Emulator, in AWS mode, on local stand-ins
// of the template's resources (`make invoke`); see package lambdarun.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/cardvault/vault/shared/lambdarun"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := lambdarun.RunInvoke(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
