package audit

import (
	"errors"
	"fmt"
	"io"
)

// VerifyResult is what Verify found before the end of the input or the
// first break.
type VerifyResult struct {
	// Events is the number of lines whose links all held.
	Events int
	// Head is the last intact line's link (seq 0 and 64 zeros if none).
	Head Link
}

// BreakKind classifies the first broken line of a chain.
type BreakKind string

const (
	// BreakMalformed: the line is not a chained event at all (blank, cut
	// short, not JSON, no hash member).
	BreakMalformed BreakKind = "malformed"
	// BreakEdited: the line's hash does not cover its content.
	BreakEdited BreakKind = "edited"
	// BreakRemoved: seq jumps forward; lines are missing (or moved later).
	BreakRemoved BreakKind = "removed"
	// BreakReordered: seq goes back or repeats; a line was moved,
	// duplicated, or a forged line was inserted before this one.
	BreakReordered BreakKind = "reordered"
	// BreakInserted: seq is right but prev is not the previous line's
	// hash: a line was inserted or replaced here.
	BreakInserted BreakKind = "inserted"
	// BreakSeqGap: prev links correctly but seq does not follow.
	BreakSeqGap BreakKind = "seq_gap"
)

// ChainBreak is the first line of a chain that does not hold.
type ChainBreak struct {
	Line   int
	Kind   BreakKind
	Reason string
}

func (b *ChainBreak) Error() string {
	return fmt.Sprintf("broken at line %d: %s", b.Line, b.Reason)
}

// Verify reads an audit file and checks every link of its chain: each
// line's hash covers its content, seq counts 1, 2, 3, ... and prev is the
// previous line's hash (64 zeros for the first). It returns a *ChainBreak
// for the first line that does not hold, another error only when reading
// fails. An empty input is an intact chain of 0 events.
//
// Verify proves the file is one unbroken chain; it cannot tell a file
// rewritten from scratch with fresh hashes. Compare Head with a link kept
// elsewhere (FileSink.Head) for that.
func Verify(r io.Reader) (VerifyResult, error) {
	res := VerifyResult{Head: genesis()}
	lr := newLineReader(r)
	for {
		b, err := lr.next()
		if errors.Is(err, io.EOF) {
			return res, nil
		}
		if errors.Is(err, errIncompleteLine) || errors.Is(err, errLineTooLong) {
			return res, &ChainBreak{Line: lr.line, Kind: BreakMalformed, Reason: err.Error()}
		}
		if err != nil {
			return res, fmt.Errorf("audit: read: %w", err)
		}
		e, err := parseLine(b)
		if err != nil {
			kind := BreakMalformed
			if errors.Is(err, errHashMismatch) {
				kind = BreakEdited
			}
			return res, &ChainBreak{Line: lr.line, Kind: kind, Reason: err.Error()}
		}
		if brk := checkLink(res.Head, e); brk != nil {
			brk.Line = lr.line
			return res, brk
		}
		res.Events++
		res.Head = Link{Seq: e.Seq, Hash: e.Hash}
	}
}

// checkLink checks that e follows prev. Its messages name what most
// likely happened; every case is a break.
func checkLink(prev Link, e Event) *ChainBreak {
	want := prev.Seq + 1
	switch {
	case e.Prev == prev.Hash && e.Seq == want:
		return nil
	case e.Prev == prev.Hash:
		return &ChainBreak{Kind: BreakSeqGap, Reason: fmt.Sprintf("seq %d where %d was expected, although prev links to the previous line", e.Seq, want)}
	case e.Seq > want:
		return &ChainBreak{Kind: BreakRemoved, Reason: fmt.Sprintf("seq %d where %d was expected and prev does not match the previous line: %d event(s) removed or moved", e.Seq, want, e.Seq-want)}
	case e.Seq < want:
		return &ChainBreak{Kind: BreakReordered, Reason: fmt.Sprintf("seq %d where %d was expected and prev does not match the previous line: a line was reordered, duplicated or inserted", e.Seq, want)}
	default:
		return &ChainBreak{Kind: BreakInserted, Reason: fmt.Sprintf("prev does not match the previous line's hash (seq %d): a line was inserted or replaced", e.Seq)}
	}
}
