package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Scan decodes the events of an audit file in order and calls fn with each
// and its line number, stopping at the first error fn returns. It checks
// no chain (Verify does), so it also reads unchained JSON lines, such as
// events exported from the audit bus. A final line without its newline is
// still being written and is left out.
func Scan(r io.Reader, fn func(line int, e Event) error) error {
	lr := newLineReader(r)
	for {
		b, err := lr.next()
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, errIncompleteLine):
			return nil
		case err != nil:
			return fmt.Errorf("audit: line %d: %w", lr.line, err)
		}
		var e Event
		if err := json.Unmarshal(b, &e); err != nil {
			return fmt.Errorf("audit: line %d: not an audit event: %v", lr.line, err)
		}
		if err := fn(lr.line, e); err != nil {
			return err
		}
	}
}

// Filter selects events; an empty member matches anything.
type Filter struct {
	Action   string
	Outcome  Outcome
	ClientID string
	Merchant string
	Token    string
	Secret   string
}

// Match reports whether e passes every member of f that is set.
func (f Filter) Match(e Event) bool {
	return matches(f.Action, e.Action) &&
		matches(string(f.Outcome), string(e.Outcome)) &&
		matches(f.ClientID, e.ClientID) &&
		matches(f.Merchant, e.Merchant) &&
		matches(f.Token, e.Token) &&
		matches(f.Secret, e.Secret)
}

func matches(want, got string) bool { return want == "" || want == got }

// Tail returns the last n events of r that match f, oldest first; n <= 0
// returns them all. Memory stays within n events whatever the file size.
func Tail(r io.Reader, n int, f Filter) ([]Event, error) {
	var ring []Event
	next := 0
	err := Scan(r, func(_ int, e Event) error {
		if !f.Match(e) {
			return nil
		}
		if n <= 0 || len(ring) < n {
			ring = append(ring, e)
			return nil
		}
		ring[next] = e
		next = (next + 1) % n
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Event, 0, len(ring))
	out = append(out, ring[next:]...)
	return append(out, ring[:next]...), nil
}
