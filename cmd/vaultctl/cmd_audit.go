package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/cardvault/vault/shared/audit"
)

// auditFileName is the local mode audit file inside VAULT_LOCAL_DIR.
const auditFileName = "audit.jsonl"

// errChainBroken ends `audit verify` with exit code 1 once the break has
// been printed on stdout.
var errChainBroken = errors.New("audit trail verification failed")

func runAudit(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return usageError("audit needs a subcommand: verify or tail")
	}
	switch args[0] {
	case "verify":
		return runAuditVerify(ctx, a, args[1:])
	case "tail":
		return runAuditTail(ctx, a, args[1:])
	default:
		return usageError("unknown audit subcommand %q (verify, tail)", args[0])
	}
}

func (a *app) defaultAuditFile() string {
	return filepath.Join(a.envOr("VAULT_LOCAL_DIR", ".vault-local"), auditFileName)
}

// runAuditVerify checks the local audit file's hash chain from the first
// line to the last.
func runAuditVerify(_ context.Context, a *app, args []string) error {
	fs := a.newFlagSet("audit verify", "")
	path := fs.String("file", a.defaultAuditFile(), "audit file (default <VAULT_LOCAL_DIR>/audit.jsonl)")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	f, err := os.Open(*path)
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := audit.Verify(f)
	var brk *audit.ChainBreak
	if errors.As(err, &brk) {
		fmt.Fprintln(a.stdout, brk.Error())
		return errChainBroken
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "ok: %d events, chain intact\n", res.Events)
	_, err = fmt.Fprintf(a.stdout, "head: seq %d hash %s\n", res.Head.Seq, res.Head.Hash)
	return err
}

// runAuditTail prints the last events of the audit file, one readable line
// each, and with --follow the events written after them.
func runAuditTail(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("audit tail", "")
	path := fs.String("file", a.defaultAuditFile(), "audit file (default <VAULT_LOCAL_DIR>/audit.jsonl)")
	n := fs.Int("n", 20, "number of events to print (0: all)")
	follow := fs.Bool("follow", false, "keep printing events as they are written, until interrupted")
	var filter audit.Filter
	fs.StringVar(&filter.Merchant, "merchant", "", "only this merchant id")
	fs.StringVar(&filter.Token, "token", "", "only this card token")
	fs.StringVar(&filter.Secret, "secret", "", "only this secret name")
	fs.StringVar(&filter.ClientID, "client", "", "only this client id")
	fs.StringVar(&filter.Action, "action", "", "only this action (operation name or background action)")
	outcome := fs.String("outcome", "", "only this outcome: allowed, refused or failed")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	switch audit.Outcome(*outcome) {
	case "", audit.Allowed, audit.Refused, audit.Failed:
		filter.Outcome = audit.Outcome(*outcome)
	default:
		return usageError("--outcome must be allowed, refused or failed")
	}
	if *n < 0 {
		return usageError("-n must be 0 or more")
	}

	f, err := os.Open(*path)
	if err != nil {
		return err
	}
	defer f.Close()
	end, err := completeLinesEnd(f)
	if err != nil {
		return err
	}
	events, err := audit.Tail(io.NewSectionReader(f, 0, end), *n, filter)
	if err != nil {
		return err
	}
	for _, e := range events {
		if _, err := fmt.Fprintln(a.stdout, formatEvent(e)); err != nil {
			return err
		}
	}
	if !*follow {
		return nil
	}
	return a.followAudit(ctx, f, end, filter)
}

// followAudit polls the file for lines appended after offset and prints
// those that match, until ctx ends (an interrupt is the normal way out).
func (a *app) followAudit(ctx context.Context, f *os.File, offset int64, filter audit.Filter) error {
	ticker := time.NewTicker(a.pollInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		info, err := f.Stat()
		if err != nil {
			return err
		}
		if info.Size() < offset {
			fmt.Fprintln(a.stderr, "audit file truncated; reading it from the start")
			offset = 0
		}
		if info.Size() == offset {
			continue
		}
		fresh := make([]byte, info.Size()-offset)
		if _, err := f.ReadAt(fresh, offset); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		complete := bytes.LastIndexByte(fresh, '\n') + 1
		err = audit.Scan(bytes.NewReader(fresh[:complete]), func(_ int, e audit.Event) error {
			if !filter.Match(e) {
				return nil
			}
			_, err := fmt.Fprintln(a.stdout, formatEvent(e))
			return err
		})
		if err != nil {
			return err
		}
		offset += int64(complete)
	}
}

// completeLinesEnd is the offset just past the file's last newline: a line
// after it is still being written.
func completeLinesEnd(f *os.File) (int64, error) {
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := info.Size()
	for end := size; end > 0; {
		start := max(end-64<<10, 0)
		chunk := make([]byte, end-start)
		if _, err := f.ReadAt(chunk, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}

// formatEvent is one event on one line: time, action, outcome, error code,
// then who and what.
func formatEvent(e audit.Event) string {
	code := e.Code
	if code == "" {
		code = "-"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-21s %-8s %-22s", e.Time.UTC().Format("2006-01-02T15:04:05.000Z"),
		printable(e.Action), printable(string(e.Outcome)), printable(code))
	for _, kv := range []struct{ key, value string }{
		{"client", e.ClientID}, {"merchant", e.Merchant}, {"token", e.Token},
		{"secret", e.Secret}, {"request", e.RequestID},
	} {
		if kv.value != "" {
			b.WriteString(" " + kv.key + "=" + printable(kv.value))
		}
	}
	if e.KeyVersion != 0 {
		fmt.Fprintf(&b, " key_version=%d", e.KeyVersion)
	}
	return strings.TrimRight(b.String(), " ")
}

// printable quotes a value holding spaces or control characters, so a
// hostile path or header cannot forge columns or drive the terminal.
func printable(s string) string {
	for _, r := range s {
		if r == ' ' || r == '"' || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
