package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// FileSink appends events to a local file as a hash chain of JSON lines
// (local mode's stand-in for EventBridge). Each line carries seq (1, 2,
// 3, ...), prev (the previous line's hash; 64 zeros on the first line) and
// hash (SHA-256 of the line's canonical form), so that editing, removing,
// inserting or reordering lines shows in Verify. docs/audit.md gives the
// exact form for independent verifiers.
//
// One FileSink, in one process, must be the only writer of its file: the
// chain is kept in memory between writes. Safe for concurrent use.
type FileSink struct {
	mu   sync.Mutex
	f    *os.File
	path string
	// head is the last line's link; size is the length of the file's intact
	// lines, to cut a partly written line off after a failed write.
	head Link
	size int64
	sync bool
	// broken is set when a failed write could not be undone; the chain
	// cannot be continued safely and every later Record fails.
	broken error
}

var _ Sink = (*FileSink)(nil)

// FileOption tunes OpenFile.
type FileOption func(*FileSink)

// SyncEachEvent makes Record flush every line to stable storage (fsync)
// before returning. Without it a recorded line survives a crash of the
// process but not of the machine.
func SyncEachEvent() FileOption { return func(s *FileSink) { s.sync = true } }

// OpenFile opens (creating, mode 0600) the audit file for appending and
// continues its chain from the last line. A last line that is incomplete
// or fails its own hash is an error naming the line: the file is left for
// an operator to inspect rather than silently starting a new chain.
func OpenFile(path string, opts ...FileOption) (*FileSink, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600) // #nosec G304 -- the local audit log path the operator chose
	if err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", path, err)
	}
	head, err := chainHead(f)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("audit: %s: %w (move the file aside, or run `vaultctl audit verify --file %s`)", path, err, path)
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("audit: stat %s: %w", path, err)
	}
	s := &FileSink{f: f, path: path, head: head, size: info.Size()}
	for _, opt := range opts {
		opt(s)
	}
	return s, nil
}

// chainHead reads the file to its end and checks the last line on its
// own (a full check of every link is Verify's job).
func chainHead(r io.Reader) (Link, error) {
	lr := newLineReader(r)
	var last []byte
	for {
		b, err := lr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Link{}, fmt.Errorf("line %d: %w", lr.line, err)
		}
		last = append(last[:0], b...)
	}
	if lr.line == 0 {
		return genesis(), nil
	}
	e, err := parseLine(last)
	if err != nil {
		return Link{}, fmt.Errorf("line %d: %w", lr.line, err)
	}
	return Link{Seq: e.Seq, Hash: e.Hash}, nil
}

// Record implements Sink: the event becomes the chain's next line, written
// with a single write so lines never interleave.
func (s *FileSink) Record(_ context.Context, e Event) error {
	e = prepare(e)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		return s.broken
	}
	e.Seq, e.Prev = s.head.Seq+1, s.head.Hash
	canon, err := canonical(e)
	if err != nil {
		return err
	}
	line, hash := chainLine(canon)
	n, err := s.f.Write(line)
	if err != nil {
		if n > 0 {
			if terr := s.f.Truncate(s.size); terr != nil {
				s.broken = fmt.Errorf("audit: %s: a failed write left a partial line that could not be removed: %w", s.path, terr)
			}
		}
		return fmt.Errorf("audit: write %s: %w", s.path, err)
	}
	s.head = Link{Seq: e.Seq, Hash: hash}
	s.size += int64(n)
	if s.sync {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("audit: sync %s: %w", s.path, err)
		}
	}
	return nil
}

// Head returns the chain's last link. Writing it down somewhere the file's
// writer cannot reach (a ticket, another host) anchors the chain: a file
// rewritten from scratch no longer ends at that link.
func (s *FileSink) Head() Link {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.head
}

// Close closes the file.
func (s *FileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}
