package invoke

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/app/migrateworker"
	"github.com/cardvault/vault/shared/migrate"
	"github.com/cardvault/vault/shared/vault"
)

// RunWork is rotate-dek's handler: it decodes the input as Lambda would
// (an EventBridge Scheduler input or a work event's detail) and runs the
// key lifecycle's work on it, as app.RunWorker does.
func RunWork(ctx context.Context, c *app.Components, input json.RawMessage) (json.RawMessage, error) {
	var req vault.WorkRequest
	if err := json.Unmarshal(input, &req); err != nil {
		return nil, fmt.Errorf("input is not a work request: %w", err)
	}
	life, err := c.KeyLifecycle()
	if err != nil {
		return nil, err
	}
	res, err := life.RunWork(ctx, req)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(res, "", "  ")
}

// defaultScheduled are the vault's non-HTTP functions.
func defaultScheduled() map[string]ScheduledHandler {
	return map[string]ScheduledHandler{app.RotateDEK.Name: RunWork, app.Migrate.Name: RunMigrate}
}

// RunMigrate is the migrate function's handler: an S3 upload event or a
// job work event, as migrateworker.Run serves it.
func RunMigrate(ctx context.Context, c *app.Components, input json.RawMessage) (json.RawMessage, error) {
	w, err := c.Worker()
	if err != nil {
		return nil, err
	}
	res, err := migrateworker.Handle(ctx, w, input)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(res, "", "  ")
}

// DefaultWorkTimeout bounds background work run inline (see
// workAsRotateDEK), as Lambda's timeout bounds a rotate-dek invocation.
const DefaultWorkTimeout = 30 * time.Second

// workAsRotateDEK runs background work at once, in the calling goroutine,
// as the rotate-dek function. In AWS an HTTP function hands such work to
// rotate-dek through a work event; running it here under rotate-dek's name
// keeps each function's calls its own (what its IAM role must allow). Like
// an invocation it has a deadline, and work rotate-dek hands on again is
// left to the next scheduled run (as in AWS when an event is lost), so a
// rotation waiting for key caches to expire cannot hold the caller.
type workAsRotateDEK struct {
	life    *vault.KeyLifecycle
	timeout time.Duration
	logger  *slog.Logger
}

var _ vault.BackgroundWork = workAsRotateDEK{}

// Start implements vault.BackgroundWork.
func (w workAsRotateDEK) Start(ctx context.Context, req vault.WorkRequest) error {
	if FunctionFrom(ctx) == app.RotateDEK.Name {
		w.logger.InfoContext(ctx, "work handed on; the next scheduled run resumes it", "action", req.Action, "merchant_id", req.MerchantID)
		return nil
	}
	// The caller's request is over once it has handed the work on; the
	// work is not cancelled with it, only bounded.
	ctx, cancel := context.WithTimeout(WithFunction(context.WithoutCancel(ctx), app.RotateDEK.Name), w.timeout)
	defer cancel()
	_, err := w.life.RunWork(ctx, req)
	return err
}

// jobsAsMigrate runs a job an invocation starts (an export) at once, in
// the calling goroutine, as the migrate function, for the reason
// workAsRotateDEK runs key work as rotate-dek: each function's calls stay
// its own. A job migrate hands on is left (as a lost event would be).
type jobsAsMigrate struct {
	c       *app.Components
	timeout time.Duration
	logger  *slog.Logger
}

var _ migrate.Work = jobsAsMigrate{}

// StartJob implements migrate.Work.
func (w jobsAsMigrate) StartJob(ctx context.Context, jobID string) error {
	if FunctionFrom(ctx) == app.Migrate.Name {
		w.logger.InfoContext(ctx, "job handed on; not run again inline", "job_id", jobID)
		return nil
	}
	ctx, cancel := context.WithTimeout(WithFunction(context.WithoutCancel(ctx), app.Migrate.Name), w.timeout)
	defer cancel()
	worker, err := w.c.Worker()
	if err != nil {
		return err
	}
	_, err = worker.Run(ctx, jobID)
	return err
}
