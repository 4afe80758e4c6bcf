package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
)

// FileSink appends events as JSON lines to a local file (local mode's
// stand-in for EventBridge). Safe for concurrent use.
type FileSink struct {
	mu sync.Mutex
	f  *os.File
}

var _ Sink = (*FileSink)(nil)

// OpenFile opens (creating, mode 0600) the audit file for appending.
func OpenFile(path string) (*FileSink, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", path, err)
	}
	return &FileSink{f: f}, nil
}

// Record implements Sink: one write per event, so lines never interleave.
func (s *FileSink) Record(_ context.Context, e Event) error {
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err = s.f.Write(line)
	return err
}

// Close closes the file.
func (s *FileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}

// LogSink writes events to a structured log, one line each under the
// message "audit". In AWS the function's log is the copy that survives
// when the audit bus does not answer.
type LogSink struct {
	Logger *slog.Logger
}

var _ Sink = LogSink{}

// Record implements Sink.
func (s LogSink) Record(ctx context.Context, e Event) error {
	s.Logger.LogAttrs(ctx, slog.LevelInfo, "audit", slog.Any("event", e))
	return nil
}

// Multi records every event in each sink in turn, and fails if any sink
// failed, after trying them all.
type Multi []Sink

var _ Sink = Multi(nil)

// Record implements Sink.
func (m Multi) Record(ctx context.Context, e Event) error {
	var errs []error
	for _, s := range m {
		if err := s.Record(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Discard drops events; for benchmarks only.
type Discard struct{}

// Record implements Sink.
func (Discard) Record(context.Context, Event) error { return nil }
