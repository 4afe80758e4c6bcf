package localmode

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/vault"
)

// purgeBatch bounds one purge call, so a large backlog is worked off in
// steps that each finish quickly.
const purgeBatch = 500

// RunPurger deletes expired items every interval until ctx ends. DynamoDB
// does this itself through its TTL attribute; dynalite never does, so
// local mode must, or expired cards would stay in the table.
func (e *Env) RunPurger(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		e.PurgeOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PurgeOnce deletes every item expired by now and records one audit event
// if it deleted any.
func (e *Env) PurgeOnce(ctx context.Context) {
	start := e.Now()
	total := 0
	for ctx.Err() == nil {
		n, err := e.Store.PurgeExpired(ctx, e.Now(), purgeBatch)
		total += n
		if err != nil {
			e.Logger.ErrorContext(ctx, "purge of expired records failed", "err", err)
			break
		}
		if n < purgeBatch {
			break
		}
	}
	if total == 0 {
		return
	}
	e.Logger.InfoContext(ctx, "purged expired records", "records", total)
	if err := e.Audit.Record(ctx, audit.Event{
		ID:         audit.NewID(),
		Time:       start.UTC(),
		Action:     audit.ActionRecordsPurged,
		Outcome:    audit.Allowed,
		Records:    total,
		DurationMS: e.Now().Sub(start).Milliseconds(),
	}); err != nil {
		e.Logger.ErrorContext(ctx, "audit event not recorded", "action", audit.ActionRecordsPurged, "err", err)
	}
}

// RunKeyWork does locally what the rotation schedule does in AWS, every
// interval until ctx ends: rotate merchants whose primary is due, resume
// rotations and purges that a one-shot command or a restart left
// unfinished, and re-wrap keys after a master key change.
func (e *Env) RunKeyWork(ctx context.Context, interval time.Duration, req vault.WorkRequest) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		life, err := e.KeyLifecycle()
		if err != nil {
			e.Logger.ErrorContext(ctx, "key work unavailable", "err", err)
			return
		}
		if _, err := life.RunWork(ctx, req); err != nil && ctx.Err() == nil {
			e.Logger.ErrorContext(ctx, "scheduled key work failed", "err", err)
		}
	}
}

// localWork runs the vault's background work in this process: in
// goroutines beside the local server, or inline for one-shot commands
// such as `make rotate`, which must finish the work before they exit.
type localWork struct {
	life   *vault.KeyLifecycle
	ctx    context.Context
	inline bool
	logger *slog.Logger

	mu      sync.Mutex
	running map[string]bool
	wg      sync.WaitGroup
}

var _ vault.BackgroundWork = (*localWork)(nil)

// Start implements vault.BackgroundWork.
func (w *localWork) Start(ctx context.Context, req vault.WorkRequest) error {
	merchantID := req.MerchantID
	switch req.Action {
	case vault.ActionContinueRotation:
		return w.run(ctx, "rotation", merchantID, func(ctx context.Context) error {
			_, err := w.life.ContinueRotation(ctx, merchantID)
			return err
		})
	case vault.ActionPurgeMerchant:
		return w.run(ctx, "purge", merchantID, func(ctx context.Context) error {
			_, err := w.life.PurgeMerchant(ctx, merchantID)
			return err
		})
	}
	return fmt.Errorf("localmode: no background work %q", req.Action)
}

// run starts job unless the same job for the merchant is running.
func (w *localWork) run(ctx context.Context, kind, merchantID string, job func(context.Context) error) error {
	if w.inline {
		return job(ctx)
	}
	key := kind + "\x00" + merchantID
	w.mu.Lock()
	if w.running[key] {
		w.mu.Unlock()
		return nil
	}
	w.running[key] = true
	w.mu.Unlock()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() {
			w.mu.Lock()
			delete(w.running, key)
			w.mu.Unlock()
		}()
		if err := job(w.ctx); err != nil && w.ctx.Err() == nil {
			w.logger.Error("background key work failed", "work", kind, "merchant_id", merchantID, "err", err)
		}
	}()
	return nil
}
