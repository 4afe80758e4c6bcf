package audit

import (
	"context"
	"errors"
	"log/slog"
)

// LogSink writes events to a structured log, one line each under the
// message "audit". In AWS the function's log is the copy that survives
// when the audit bus does not answer.
type LogSink struct {
	Logger *slog.Logger
}

var _ Sink = LogSink{}

// Record implements Sink.
func (s LogSink) Record(ctx context.Context, e Event) error {
	s.Logger.LogAttrs(ctx, slog.LevelInfo, "audit", slog.Any("event", prepare(e)))
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

var _ Sink = Discard{}

// Record implements Sink.
func (Discard) Record(context.Context, Event) error { return nil }
