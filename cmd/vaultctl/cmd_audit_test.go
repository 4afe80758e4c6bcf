package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/audit"
)

// auditEvent is the i-th event of a test trail: merchants alternate, every
// third is refused.
func auditEvent(i int) audit.Event {
	e := audit.Event{
		ID: fmt.Sprintf("ev-%d", i), Time: time.Date(2026, 11, 22, 10, 0, i, 0, time.UTC),
		Action: "get_masked", Outcome: audit.Allowed, ClientID: "app-server",
		Merchant: fmt.Sprintf("m_%d", i%2), Token: fmt.Sprintf("tok_%d", i), RequestID: fmt.Sprintf("req-%d", i),
	}
	if i%3 == 0 {
		e.Action, e.Outcome, e.Code = "reveal_card", audit.Refused, "forbidden"
	}
	return e
}

// writeAuditTrail writes n events to <dir>/audit.jsonl through the vault's
// own sink and returns the directory.
func writeAuditTrail(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	appendAuditEvents(t, filepath.Join(dir, auditFileName), 1, n)
	return dir
}

func appendAuditEvents(t *testing.T, path string, from, to int) {
	t.Helper()
	sink, err := audit.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	for i := from; i <= to; i++ {
		if err := sink.Record(context.Background(), auditEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
}

func auditLines(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, auditFileName))
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(string(b), "\n")
}

func TestAuditVerifyPassesOnARealChain(t *testing.T) {
	dir := writeAuditTrail(t, 6)
	code, stdout, stderr := runCLI(t, "", map[string]string{"VAULT_LOCAL_DIR": dir}, "audit", "verify")
	if code != exitOK || !strings.HasPrefix(stdout, "ok: 6 events, chain intact\n") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "head: seq 6 hash ") {
		t.Errorf("no head line: %s", stdout)
	}
}

func TestAuditVerifyNamesTheBrokenLine(t *testing.T) {
	cases := map[string]struct {
		damage   func(l []string) []string
		wantLine int
	}{
		"edited": {func(l []string) []string {
			l[1] = strings.Replace(l[1], `"allowed"`, `"refused"`, 1)
			return l
		}, 2},
		"removed": {func(l []string) []string { return append(l[:1:1], l[2:]...) }, 2},
		"reordered": {func(l []string) []string {
			l[3], l[4] = l[4], l[3]
			return l
		}, 4},
		"inserted": {func(l []string) []string {
			return append(l[:2:2], append([]string{l[4]}, l[2:]...)...)
		}, 3},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := writeAuditTrail(t, 6)
			path := filepath.Join(dir, auditFileName)
			if err := os.WriteFile(path, []byte(strings.Join(c.damage(auditLines(t, dir)), "")), 0o600); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := runCLI(t, "", nil, "audit", "verify", "--file", path)
			want := fmt.Sprintf("broken at line %d: ", c.wantLine)
			if code != exitFailed || !strings.HasPrefix(stdout, want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, stdout, stderr, want)
			}
		})
	}
}

func TestAuditVerifyOfAMissingFileFails(t *testing.T) {
	code, _, stderr := runCLI(t, "", nil, "audit", "verify", "--file", filepath.Join(t.TempDir(), "none.jsonl"))
	if code != exitFailed || !strings.Contains(stderr, "no such file") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestAuditTailPrintsTheLastMatchingEvents(t *testing.T) {
	dir := writeAuditTrail(t, 12)
	env := map[string]string{"VAULT_LOCAL_DIR": dir}
	cases := []struct {
		args    []string
		wantIDs []string
	}{
		{[]string{"-n", "2"}, []string{"req-11", "req-12"}},
		{[]string{"--merchant", "m_1", "-n", "3"}, []string{"req-7", "req-9", "req-11"}},
		{[]string{"--token", "tok_5"}, []string{"req-5"}},
		{[]string{"--action", "reveal_card", "--outcome", "refused"}, []string{"req-3", "req-6", "req-9", "req-12"}},
		{[]string{"--outcome", "failed"}, nil},
	}
	for _, c := range cases {
		code, stdout, stderr := runCLI(t, "", env, append([]string{"audit", "tail"}, c.args...)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s", c.args, code, stderr)
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
			if line == "" {
				continue
			}
			fields := strings.Fields(line)
			got = append(got, strings.TrimPrefix(fields[len(fields)-1], "request="))
		}
		if strings.Join(got, ",") != strings.Join(c.wantIDs, ",") {
			t.Errorf("%v: got %v, want %v\n%s", c.args, got, c.wantIDs, stdout)
		}
	}

	_, stdout, _ := runCLI(t, "", env, "audit", "tail", "--token", "tok_3")
	for _, want := range []string{"2026-11-22T10:00:03.000Z", "reveal_card", "refused", "forbidden", "client=app-server", "merchant=m_1", "token=tok_3", "request=req-3"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("tail line lacks %q: %s", want, stdout)
		}
	}
}

func TestAuditTailRefusesABadOutcome(t *testing.T) {
	code, _, stderr := runCLI(t, "", map[string]string{"VAULT_LOCAL_DIR": t.TempDir()}, "audit", "tail", "--outcome", "maybe")
	if code != exitUsage || !strings.Contains(stderr, "--outcome") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if code, _, _ := runCLI(t, "", nil, "audit"); code != exitUsage {
		t.Fatalf("audit without a subcommand: exit %d", code)
	}
}

func TestAuditTailQuotesHostileValues(t *testing.T) {
	line := formatEvent(audit.Event{Action: "get_masked", Outcome: audit.Refused, Token: "tok\x1b[31m x=1"})
	if strings.ContainsRune(line, '\x1b') || !strings.Contains(line, `token="tok\x1b[31m x=1"`) {
		t.Fatalf("hostile token printed raw: %q", line)
	}
}

// signallingBuffer is a stdout that tells the test when it was written.
type signallingBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{}
}

func (b *signallingBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	select {
	case b.written <- struct{}{}:
	default:
	}
	return n, err
}

func (b *signallingBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor blocks until stdout holds want; the bound only keeps a broken
// follow from hanging the suite.
func (b *signallingBuffer) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(time.Minute)
	for !strings.Contains(b.String(), want) {
		select {
		case <-b.written:
		case <-deadline:
			t.Fatalf("stdout never showed %q: %s", want, b.String())
		}
	}
}

func TestAuditTailFollowsNewEvents(t *testing.T) {
	dir := writeAuditTrail(t, 3)
	path := filepath.Join(dir, auditFileName)
	stdout := &signallingBuffer{written: make(chan struct{}, 1)}
	var stderr bytes.Buffer
	a := newApp(strings.NewReader(""), stdout, &stderr, func(string) string { return "" })
	a.pollInterval = time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() { done <- a.run(ctx, []string{"audit", "tail", "--file", path, "--follow", "--merchant", "m_0"}) }()

	stdout.waitFor(t, "request=req-2")
	appendAuditEvents(t, path, 4, 6)
	stdout.waitFor(t, "request=req-6")
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	for _, unwanted := range []string{"req-1 ", "req-3", "req-5"} {
		if strings.Contains(out+" ", unwanted) {
			t.Errorf("followed output holds %s of another merchant: %s", unwanted, out)
		}
	}
	if strings.Count(out, "\n") != 3 {
		t.Errorf("want req-2, req-4, req-6 once each:\n%s", out)
	}
}
