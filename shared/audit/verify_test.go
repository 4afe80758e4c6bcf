package audit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestVerifyFindsTheFirstBrokenLine(t *testing.T) {
	cases := []struct {
		name     string
		damage   func(t *testing.T, path string, lines []string) []string
		wantLine int
		wantKind BreakKind
	}{
		{"edited", func(_ *testing.T, _ string, l []string) []string {
			l[3] = strings.Replace(l[3], `"m_123"`, `"m_999"`, 1)
			return l
		}, 4, BreakEdited},
		{"removed", func(_ *testing.T, _ string, l []string) []string {
			return append(l[:3:3], l[4:]...)
		}, 4, BreakRemoved},
		{"first removed", func(_ *testing.T, _ string, l []string) []string {
			return l[1:]
		}, 1, BreakRemoved},
		{"last removed shows only against a kept head", func(_ *testing.T, _ string, l []string) []string {
			return l[:len(l)-1]
		}, 0, ""},
		{"reordered", func(_ *testing.T, _ string, l []string) []string {
			l[2], l[3] = l[3], l[2]
			return l
		}, 3, BreakRemoved},
		{"duplicated", func(_ *testing.T, _ string, l []string) []string {
			return append(l[:4:4], append([]string{l[1]}, l[4:]...)...)
		}, 5, BreakReordered},
		{"forged line inserted with a valid link", func(t *testing.T, path string, l []string) []string {
			// A forger who can compute hashes chains a new line to line 2;
			// line 3 then no longer links.
			writeLines(t, path, l[:2])
			s, err := OpenFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Record(context.Background(), testEvent(99)); err != nil {
				t.Fatal(err)
			}
			_ = s.Close()
			forged := readLines(t, path)[2]
			return append(l[:2:2], append([]string{forged}, l[2:]...)...)
		}, 4, BreakReordered},
		{"line replaced with a valid link", func(t *testing.T, path string, l []string) []string {
			writeLines(t, path, l[:2])
			s, _ := OpenFile(path)
			_ = s.Record(context.Background(), testEvent(99))
			_ = s.Close()
			l[2] = readLines(t, path)[2]
			return l
		}, 4, BreakInserted},
		{"plain line inserted", func(_ *testing.T, _ string, l []string) []string {
			return append(l[:2:2], append([]string{`{"event_id":"x"}`}, l[2:]...)...)
		}, 3, BreakMalformed},
		{"blank line", func(_ *testing.T, _ string, l []string) []string {
			return append(l[:5:5], append([]string{""}, l[5:]...)...)
		}, 6, BreakMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeChain(t, 8)
			writeLines(t, path, c.damage(t, path, readLines(t, path)))
			res, err := verifyFile(t, path)
			if c.wantLine == 0 {
				if err != nil {
					t.Fatalf("verify: %v", err)
				}
				if res.Events != 7 || res.Head.Seq != 7 {
					t.Fatalf("result %+v", res)
				}
				return
			}
			var brk *ChainBreak
			if !errors.As(err, &brk) {
				t.Fatalf("verify error %v, want a chain break", err)
			}
			if brk.Line != c.wantLine || brk.Kind != c.wantKind {
				t.Fatalf("break at line %d (%s: %s), want line %d (%s)", brk.Line, brk.Kind, brk.Reason, c.wantLine, c.wantKind)
			}
			if res.Events != c.wantLine-1 {
				t.Errorf("events before the break: %d, want %d", res.Events, c.wantLine-1)
			}
			if !strings.HasPrefix(err.Error(), "broken at line ") {
				t.Errorf("error text %q", err)
			}
		})
	}
}

func TestVerifyFindsATruncatedLastLine(t *testing.T) {
	path := writeChain(t, 3)
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, b[:len(b)-10], 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := verifyFile(t, path)
	var brk *ChainBreak
	if !errors.As(err, &brk) || brk.Line != 3 || brk.Kind != BreakMalformed {
		t.Fatalf("verify: %v", err)
	}
}

func TestVerifyOfNothingIsAnEmptyChain(t *testing.T) {
	res, err := Verify(bytes.NewReader(nil))
	if err != nil || res.Events != 0 || res.Head.Hash != GenesisPrev {
		t.Fatalf("%+v %v", res, err)
	}
}
