package localmode

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/cardvault/vault/shared/audit"
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
		ID:         eventID(),
		Time:       start.UTC(),
		Action:     audit.ActionRecordsPurged,
		Outcome:    audit.Allowed,
		Records:    total,
		DurationMS: e.Now().Sub(start).Milliseconds(),
	}); err != nil {
		e.Logger.ErrorContext(ctx, "audit event not recorded", "action", audit.ActionRecordsPurged, "err", err)
	}
}

func eventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
