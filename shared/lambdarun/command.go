package lambdarun

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/cardvault/vault/shared/dynalite"
)

// Exit codes of RunInvoke.
const (
	ExitOK     = 0
	ExitFailed = 1
	ExitUsage  = 2
	// ExitDenied: the function made a call its role does not allow.
	ExitDenied = 4
)

// RunInvoke is the vault-lambda command behind `make invoke`: what `sam
// local invoke` does, without a container. It builds the function's
// bootstrap for this machine, starts a fresh stack of stand-ins (dynalite
// in memory, local-kms, the loopback Secrets Manager holding a new vault
// JWKS, a registry with one demo client and a destinations document, a
// loopback TLS destination for forward, the loopback EventBridge, the IAM
// proxy), runs the bootstrap under aws-lambda-rie with the environment
// template.yaml gives it, invokes it with the event (a sample's request
// signed and sealed afresh, its setup steps run through the functions they
// name) and prints the function's answer on stdout. The functions' output
// goes to stderr, with every AWS call the proxy saw and the work events
// put on the bus (not delivered: an invocation is one function's, as in
// sam local invoke). Everything stops when it returns.
func RunInvoke(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// The functions' output is copied to stderr as it comes, beside the
	// command's own lines.
	stderr = &lockedWriter{w: stderr}
	flags := flag.NewFlagSet("vault-lambda", flag.ContinueOnError)
	flags.SetOutput(stderr)
	function := flags.String("function", "", "function to invoke (a directory under functions/, e.g. vault-card)")
	eventPath := flags.String("event", "", "event file (default events/<function>.json)")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: vault-lambda --function NAME [--event FILE]")
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
	event, err := os.ReadFile(*eventPath) // #nosec G304 -- the event file the operator named
	if err != nil {
		fmt.Fprintln(stderr, "vault-lambda:", err)
		return ExitUsage
	}
	fail := func(what string, err error) int {
		fmt.Fprintf(stderr, "vault-lambda: %s: %v\n", what, err)
		return ExitFailed
	}

	root, err := ModuleRoot()
	if err != nil {
		return fail("module root", err)
	}
	dir, err := os.MkdirTemp("", "vault-lambda-")
	if err != nil {
		return fail("scratch directory", err)
	}
	defer os.RemoveAll(dir)
	db, err := dynalite.Start(ctx, "")
	if err != nil {
		return fail("dynalite", err)
	}
	defer func() { _ = db.Stop() }()
	owner := &Cleanups{}
	defer owner.Run()
	stack, err := Start(ctx, Options{Root: root, Dir: dir, DynamoDBEndpoint: db.Endpoint, Owner: owner, Echo: stderr}, nil)
	if err != nil {
		return fail("stand-ins", err)
	}
	defer stack.Close()

	res, err := stack.InvokeEvent(ctx, *function, event)
	report(stderr, stack)
	if err != nil {
		return fail(*function, err)
	}
	out, err := res.JSON()
	if err != nil {
		return fail(*function, err)
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", out); err != nil {
		return ExitFailed
	}
	for _, c := range stack.Proxy.Calls() {
		if c.Denied() {
			return ExitDenied
		}
	}
	return ExitOK
}

// report prints the calls the proxy saw and the work events on the bus.
func report(w io.Writer, s *Stack) {
	fmt.Fprintln(w, "---- AWS calls, as the roles in template.yaml judged them")
	for _, c := range s.Proxy.Calls() {
		fmt.Fprintln(w, c)
	}
	for _, e := range s.Events.Entries() {
		if e.DetailType == "Card Vault Key Work Requested" {
			fmt.Fprintf(w, "---- work event on the bus (not delivered): %s\n", e.Detail)
		}
	}
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
