package audit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testEvent is a plausible request event; n makes it unique.
func testEvent(n int) Event {
	return Event{
		ID:        fmt.Sprintf("ev-%04d", n),
		Time:      time.Date(2026, 11, 22, 10, 0, n%60, 0, time.UTC),
		Action:    "reveal_card",
		Outcome:   Allowed,
		ClientID:  "app-server",
		Merchant:  "m_123",
		Token:     fmt.Sprintf("tok_%d", n),
		RequestID: fmt.Sprintf("req-%d", n),
		SourceIP:  "192.0.2.10",
		UserAgent: "shop/1.0 <&> é",
		JTI:       fmt.Sprintf("jti-%d", n),
	}
}

// writeChain records n events into a new audit file and returns its path.
func writeChain(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	s, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if err := s.Record(context.Background(), testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
}

func writeLines(t *testing.T, path string, lines []string) {
	t.Helper()
	var buf bytes.Buffer
	for _, l := range lines {
		buf.WriteString(strings.TrimSuffix(l, "\n"))
		buf.WriteByte('\n')
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func verifyFile(t *testing.T, path string) (VerifyResult, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return Verify(f)
}
