package invoke

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/cardvault/vault/shared/localmode"
	"github.com/cardvault/vault/shared/logging"
)

// Exit codes of Run.
const (
	ExitOK      = 0
	ExitFailed  = 1
	ExitUsage   = 2
	ExitNotHTTP = 3
)

// Run is the vault-invoke command: it starts local mode's backends as the
// local server does (localmode.SettingsFromEnv: VAULT_LOCAL_DIR,
// VAULT_DYNAMODB_ENDPOINT, VAULT_TABLE, VAULT_CLIENTS_FILE; dynalite unless
// an endpoint is named), invokes one function with one event file and
// prints the response event (or a scheduled function's output) on stdout.
// Logs go to stderr. Background work (re-encryption, purges) runs to the
// end before Run returns.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	flags := flag.NewFlagSet("vault-invoke", flag.ContinueOnError)
	flags.SetOutput(stderr)
	function := flags.String("function", "", "function to invoke (a directory under functions/, e.g. vault-card)")
	eventPath := flags.String("event", "", "event file (default events/<function>.json)")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: vault-invoke --function NAME [--event FILE]")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return ExitUsage
	}
	if *function == "" || flags.NArg() != 0 {
		flags.Usage()
		return ExitUsage
	}
	if *eventPath == "" {
		*eventPath = filepath.Join("events", *function+".json")
	}
	event, err := os.ReadFile(*eventPath)
	if err != nil {
		printErr(stderr, "vault-invoke:", err)
		return ExitUsage
	}

	logger := logging.New(stderr, slog.LevelInfo)
	settings, err := localmode.SettingsFromEnv(getenv)
	if err != nil {
		printErr(stderr, "vault-invoke:", err)
		return ExitUsage
	}
	env, err := localmode.Start(ctx, settings, logger)
	if err != nil {
		printErr(stderr, "vault-invoke: local backends:", err)
		return ExitFailed
	}
	defer env.Close()

	iv, err := New(env.Components, filepath.Join(settings.Dir, localmode.DemoClientFile))
	if err != nil {
		printErr(stderr, "vault-invoke:", err)
		return ExitFailed
	}
	res, err := iv.Invoke(ctx, *function, event)
	if errors.Is(err, ErrNotHTTP) {
		printErr(stderr, "vault-invoke:", err)
		return ExitNotHTTP
	}
	if err != nil {
		printErr(stderr, "vault-invoke:", err)
		return ExitFailed
	}
	out, err := res.JSON()
	if err != nil {
		printErr(stderr, "vault-invoke:", err)
		return ExitFailed
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", out); err != nil {
		return ExitFailed
	}
	return ExitOK
}

// printErr writes a failure for the operator, masked as the vault's log
// lines are: an error can quote an event's path or ids, which a careless
// event file could fill with a card number.
func printErr(w io.Writer, prefix string, err error) {
	fmt.Fprintln(w, prefix, logging.Field(err.Error()))
}
