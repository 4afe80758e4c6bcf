package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cardvault/vault/shared/client"
)

// Exit codes: 1 for a failed command, 2 for a command line that could not
// be understood, 130 when interrupted (the shell's convention for SIGINT).
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130
)

const defaultURL = "http://127.0.0.1:3000"

// app is one run of the CLI with its streams and environment, so tests can
// run commands in-process.
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string

	// pollInterval is how often `keys status --watch` asks the vault.
	pollInterval time.Duration

	// global flags, also accepted after the command name.
	url         string
	credentials string
}

// command runs one subcommand with its arguments (after the command name).
type command struct {
	summary string
	run     func(ctx context.Context, a *app, args []string) error
}

// commands is the command table. Groups (keys, secret) dispatch again on
// their first argument.
func commands() map[string]command {
	return map[string]command{
		"audit":      {"audit verify | tail (the local audit file)", runAudit},
		"bench":      {"load-test a local vault: vault, masked, reveal (loopback only)", runBench},
		"cards":      {"cards list --customer C | --fingerprint F (saved cards, masked)", runCards},
		"health":     {"check that the vault is ready", runHealth},
		"jwks":       {"print the vault's public keys", runJWKS},
		"keys":       {"keys generate | rotate | status", runKeys},
		"vault":      {"vault a card", runVault},
		"masked":     {"print a card's masked view", runMasked},
		"reveal":     {"print a card in clear (decrypted and verified)", runReveal},
		"delete":     {"delete a card", runDelete},
		"export":     {"export a merchant's cards as an OpenPGP file to a provider's key", runExport},
		"import":     {"import start: upload an OpenPGP card file (import_cards)", runImport},
		"import-key": {"print the vault's import key, or generate | rotate a key ring", runImportKey},
		"job":        {"job status | result (an import's or export's job)", runJob},
		"forward":    {"send a request to a provider through the vault (card and credential filled in, answer redacted)", runForward},
		"secret":     {"secret put | get | reveal | delete", runSecret},
		"shred":      {"crypto-shred a merchant (irreversible)", runShred},
		"vault-keys": {"the vault's own JOSE keys: list | generate | add | sign-with | retire", runVaultKeys},
	}
}

func newApp(stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *app {
	return &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, pollInterval: time.Second}
}

// errUsage marks an error in the command line; the flag package has already
// printed what was wrong when it is returned from a parse.
var errUsage = errors.New("usage")

// usageError is a command-line mistake found after parsing.
func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

func (a *app) run(ctx context.Context, args []string) int {
	a.url = a.envOr("VAULT_URL", defaultURL)
	localDir := a.envOr("VAULT_LOCAL_DIR", ".vault-local")
	a.credentials = a.envOr("VAULTCTL_CREDENTIALS", filepath.Join(localDir, "demo-client.json"))

	global := flag.NewFlagSet("vaultctl", flag.ContinueOnError)
	global.SetOutput(a.stderr)
	a.addGlobalFlags(global)
	global.Usage = a.usage
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	rest := global.Args()
	if len(rest) == 0 || rest[0] == "help" {
		a.usage()
		if len(rest) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := commands()[rest[0]]
	if !ok {
		fmt.Fprintf(a.stderr, "error: unknown command %q\n", rest[0])
		a.usage()
		return exitUsage
	}
	if groups[rest[0]] && len(rest) == 2 && (rest[1] == "-h" || rest[1] == "--help") {
		fmt.Fprintf(a.stderr, "usage: vaultctl %s\nrun \"vaultctl %s <subcommand> -h\" for a subcommand's flags\n", cmd.summary, rest[0])
		return exitOK
	}
	return a.report(ctx, cmd.run(ctx, a, rest[1:]))
}

// groups are the commands that dispatch again on a subcommand.
// (vault-keys prints its own, longer help.)
var groups = map[string]bool{"audit": true, "cards": true, "keys": true, "secret": true, "import": true, "job": true}

// report turns a command's error into the exit code and the stderr line.
func (a *app) report(ctx context.Context, err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if ctx.Err() != nil {
		fmt.Fprintln(a.stderr, "interrupted")
		return exitInterrupted
	}
	var apiErr *client.APIError
	switch {
	case errors.As(err, &apiErr):
		code := apiErr.Code
		if code == "" {
			code = fmt.Sprintf("http_%d", apiErr.Status)
		}
		line := "error: " + code + ": " + apiErr.Message
		if apiErr.RequestID != "" {
			line += " (request " + apiErr.RequestID + ")"
		}
		fmt.Fprintln(a.stderr, line)
		return exitFailed
	case errors.Is(err, errUsage):
		if msg := strings.TrimPrefix(err.Error(), errUsage.Error()+": "); msg != errUsage.Error() {
			fmt.Fprintln(a.stderr, "error: "+msg)
		}
		return exitUsage
	default:
		fmt.Fprintln(a.stderr, "error: "+err.Error())
		return exitFailed
	}
}

func (a *app) envOr(name, fallback string) string {
	if v := a.getenv(name); v != "" {
		return v
	}
	return fallback
}

func (a *app) addGlobalFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.url, "url", a.url, "vault base URL (env VAULT_URL)")
	fs.StringVar(&a.credentials, "credentials", a.credentials, "client credentials file (env VAULTCTL_CREDENTIALS)")
}

func (a *app) usage() {
	fmt.Fprintln(a.stderr, "usage: vaultctl [--url URL] [--credentials FILE] <command> [flags] [args]")
	fmt.Fprintln(a.stderr, "\ncommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for name := range cmds {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(a.stderr, "  %-8s %s\n", name, cmds[name].summary)
	}
	fmt.Fprintln(a.stderr, "\nrun \"vaultctl <command> -h\" for a command's flags")
}

// client builds a vault client with the credentials file.
func (a *app) client() (*client.Client, error) {
	creds, err := client.LoadCredentials(a.credentials)
	if err != nil {
		return nil, err
	}
	return client.New(a.url, creds), nil
}

// anonymousClient is enough for the unauthenticated routes (health, jwks),
// so they work before any credentials exist.
func (a *app) anonymousClient() *client.Client {
	return client.New(a.url, nil)
}
