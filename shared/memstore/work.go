package memstore

import (
	"context"
	"slices"
	"sync"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/vault"
)

// Work is vault.BackgroundWork that records every request it is given and
// runs it with Run, if set, inside the call that starts it (as local
// mode's one-shot commands do). A Run error is Start's error.
type Work struct {
	// Run carries out a started request; nil only records it.
	Run func(ctx context.Context, req vault.WorkRequest) error

	mu      sync.Mutex
	started []vault.WorkRequest
}

var _ vault.BackgroundWork = (*Work)(nil)

// Start implements vault.BackgroundWork.
func (w *Work) Start(ctx context.Context, req vault.WorkRequest) error {
	w.mu.Lock()
	w.started = append(w.started, req)
	w.mu.Unlock()
	if w.Run == nil {
		return nil
	}
	return w.Run(ctx, req)
}

// Started returns the requests started so far, oldest first.
func (w *Work) Started() []vault.WorkRequest {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.started)
}

// Audit is an audit trail in memory: vault.Auditor and audit.Sink. While
// Err is set, Record keeps nothing and answers it, as a sink that cannot
// reach its destination does.
type Audit struct {
	mu     sync.Mutex
	err    error
	events []audit.Event
}

var (
	_ vault.Auditor = (*Audit)(nil)
	_ audit.Sink    = (*Audit)(nil)
)

// Record implements audit.Sink.
func (a *Audit) Record(_ context.Context, e audit.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return a.err
	}
	a.events = append(a.events, e)
	return nil
}

// Fail makes every Record answer err from now on (nil: record again).
func (a *Audit) Fail(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.err = err
}

// Events returns the events recorded so far, oldest first.
func (a *Audit) Events() []audit.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.events)
}
