package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestFileSinkWritesAChainThatVerifies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	s, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := s.Record(context.Background(), testEvent(w*each+i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	head := s.Head()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	res, err := verifyFile(t, path)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if res.Events != writers*each || res.Head != head || head.Seq != writers*each {
		t.Fatalf("result %+v, sink head %+v", res, head)
	}
	lines := readLines(t, path)
	var first Event
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first.Seq != 1 || first.Prev != strings.Repeat("0", 64) || first.V != SchemaVersion {
		t.Errorf("first line seq %d prev %q v %d", first.Seq, first.Prev, first.V)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("audit file mode: %v %v", info.Mode().Perm(), err)
	}
}

// TestCanonicalFormAsDocumented recomputes every hash the two ways
// docs/audit.md gives an independent verifier.
func TestCanonicalFormAsDocumented(t *testing.T) {
	path := writeChain(t, 5)
	prev := strings.Repeat("0", 64)
	for i, line := range readLines(t, path) {
		line = strings.TrimSuffix(line, "\n")
		var e Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		if e.Prev != prev || e.Seq != uint64(i+1) {
			t.Fatalf("line %d: seq %d prev %s, want prev %s", i+1, e.Seq, e.Prev, prev)
		}

		// Way 1: cut the trailing hash member off the line's bytes.
		suffix := `,"hash":"` + e.Hash + `"}`
		if !strings.HasSuffix(line, suffix) {
			t.Fatalf("line %d does not end with the hash member: %s", i+1, line)
		}
		canon := strings.TrimSuffix(line, suffix) + "}"
		sum := sha256.Sum256([]byte(canon))
		if hex.EncodeToString(sum[:]) != e.Hash {
			t.Fatalf("line %d: hash of the stripped line differs", i+1)
		}

		// Way 2: re-encode the decoded event without hash, HTML escaping off.
		hash := e.Hash
		e.Hash = ""
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(e); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSuffix(buf.String(), "\n"); got != canon {
			t.Fatalf("line %d: re-encoding differs:\n got %s\nwant %s", i+1, got, canon)
		}
		prev = hash
	}
}

func TestOpenFileContinuesTheChain(t *testing.T) {
	path := writeChain(t, 3)
	s, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if h := s.Head(); h.Seq != 3 {
		t.Fatalf("reopened head %+v, want seq 3", h)
	}
	for i := 4; i <= 5; i++ {
		if err := s.Record(context.Background(), testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.Close()
	res, err := verifyFile(t, path)
	if err != nil || res.Events != 5 {
		t.Fatalf("verify after reopen: %+v %v", res, err)
	}
}

func TestOpenFileRefusesADamagedLastLine(t *testing.T) {
	cases := map[string]func(lines []string) []string{
		"cut short": func(l []string) []string {
			return append(l[:2], strings.TrimSuffix(l[2], "\n")[:40]) // rewritten below without newline
		},
		"edited": func(l []string) []string {
			l[2] = strings.Replace(l[2], `"allowed"`, `"refused"`, 1)
			return l
		},
		"not an event": func(l []string) []string { return append(l, "hello") },
		"blank":        func(l []string) []string { return append(l, "") },
	}
	wantLine := map[string]string{"cut short": "line 3", "edited": "line 3", "not an event": "line 4", "blank": "line 4"}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			path := writeChain(t, 3)
			lines := damage(readLines(t, path))
			writeLines(t, path, lines)
			if name == "cut short" {
				b, _ := os.ReadFile(path)
				if err := os.WriteFile(path, bytes.TrimSuffix(b, []byte("\n")), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := os.ReadFile(path)
			_, err := OpenFile(path)
			if err == nil || !strings.Contains(err.Error(), wantLine[name]) {
				t.Fatalf("OpenFile error %v, want one naming %s", err, wantLine[name])
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Error("OpenFile changed a damaged file")
			}
		})
	}
}

func TestOpenFileStartsAChainInAnEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if h := s.Head(); h.Seq != 0 || h.Hash != GenesisPrev {
		t.Fatalf("head of an empty file: %+v", h)
	}
}

func TestFileSinkRecordFailsAfterClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	s, err := OpenFile(path, SyncEachEvent())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Record(context.Background(), testEvent(1)); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if err := s.Record(context.Background(), testEvent(2)); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Record after Close: %v", err)
	}
	if res, err := verifyFile(t, path); err != nil || res.Events != 1 {
		t.Fatalf("verify: %+v %v", res, err)
	}
}

func TestFileSinkNeverWritesACardNumber(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	s, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	e := testEvent(1)
	e.Token = "4242424242424242"
	e.UserAgent = "curl 4111 1111 1111 1111"
	e.Secret = "5555-5555-5555-4444"
	if err := s.Record(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	b, _ := os.ReadFile(path)
	for _, pan := range []string{"4242424242424242", "4111 1111 1111 1111", "5555-5555-5555-4444", "42424242", "11111111"} {
		if bytes.Contains(b, []byte(pan)) {
			t.Errorf("audit file holds %q: %s", pan, b)
		}
	}
	for _, masked := range []string{"4242********4242", "4111 **** **** 1111", "5555-****-****-4444"} {
		if !bytes.Contains(b, []byte(masked)) {
			t.Errorf("audit file lacks masked %q: %s", masked, b)
		}
	}
	if _, err := verifyFile(t, path); err != nil {
		t.Fatal(err)
	}
}
