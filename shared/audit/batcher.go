package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// DefaultMaxBuffered bounds a Batcher's backlog while EventBridge does not
// answer.
const DefaultMaxBuffered = 1000

// ErrBacklogFull is returned by Batcher.Record when the backlog is full:
// EventBridge has refused events for long enough that keeping more in
// memory would only hide the outage.
var ErrBacklogFull = errors.New("audit: eventbridge backlog full")

// Batcher is the sink for background actions (rotation pages, purges),
// which come in bursts and have no caller waiting on each event: Record
// only buffers (and logs first, when built by AWSBatcher), full batches of
// 10 go out as they fill, and Flush, called at the end of every Lambda
// invocation, sends the rest. An event is durable on the bus only once a
// Flush returned nil; events EventBridge did not accept stay buffered, in
// order, for the next Flush. Safe for concurrent use.
type Batcher struct {
	sink        *EventBridgeSink
	log         Sink
	maxBuffered int

	mu      sync.Mutex
	pending []types.PutEventsRequestEntry
	lastErr error
}

var _ Sink = (*Batcher)(nil)

// NewBatcher buffers events for sink, at most maxBuffered of them (<= 0:
// DefaultMaxBuffered).
func NewBatcher(sink *EventBridgeSink, maxBuffered int) *Batcher {
	if maxBuffered <= 0 {
		maxBuffered = DefaultMaxBuffered
	}
	return &Batcher{sink: sink, maxBuffered: maxBuffered}
}

// AWSBatcher is AWS mode's sink for background actions: every event is
// written to the function log at once, then batched to the bus.
func AWSBatcher(logger *slog.Logger, eb EventBridgeAPI, bus string, opts ...EventBridgeOption) *Batcher {
	b := NewBatcher(NewEventBridgeSink(eb, bus, opts...), DefaultMaxBuffered)
	b.log = LogSink{Logger: logger}
	return b
}

// Record implements Sink. It returns nil once the event is buffered; a
// failed send of a full batch keeps the events and is reported by Flush.
// It fails when the backlog is full.
func (b *Batcher) Record(ctx context.Context, e Event) error {
	if b.log != nil {
		_ = b.log.Record(ctx, e)
	}
	entry, err := b.sink.entry(e)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pending) >= b.maxBuffered {
		return fmt.Errorf("%w (%d events): %v", ErrBacklogFull, len(b.pending), b.lastErr)
	}
	b.pending = append(b.pending, entry)
	if len(b.pending) >= maxEntriesPerPut {
		b.lastErr = b.sendLocked(ctx, true)
	}
	return nil
}

// Flush sends every buffered event and returns nil once all are on the
// bus. On failure the events not accepted stay buffered.
func (b *Batcher) Flush(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastErr = b.sendLocked(ctx, false)
	return b.lastErr
}

// Pending is the number of events buffered and not yet accepted.
func (b *Batcher) Pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
}

// sendLocked sends the buffer in order, in batches of 10 (only full ones
// when fullOnly), and stops at the first batch that fails, keeping it and
// everything after it.
func (b *Batcher) sendLocked(ctx context.Context, fullOnly bool) error {
	for len(b.pending) > 0 {
		n := min(len(b.pending), maxEntriesPerPut)
		if fullOnly && n < maxEntriesPerPut {
			return nil
		}
		unsent, err := b.sink.put(ctx, b.pending[:n])
		if err != nil {
			kept := make([]types.PutEventsRequestEntry, 0, len(unsent)+len(b.pending)-n)
			for _, i := range unsent {
				kept = append(kept, b.pending[i])
			}
			b.pending = append(kept, b.pending[n:]...)
			return err
		}
		b.pending = b.pending[n:]
	}
	b.pending = nil
	return nil
}
