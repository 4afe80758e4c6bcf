package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cardvault/vault/shared/envelope"
)

// Work actions of the rotate-dek function. The schedule sends
// ActionRotateDue; rotate_keys, shred_merchant and rotate-dek itself send
// the others to carry on work that does not fit one invocation.
const (
	ActionRotateDue        = "rotate-due"
	ActionContinueRotation = "continue-rotation"
	ActionPurgeMerchant    = "purge-merchant"
	ActionReWrap           = "rewrap"
)

// WorkRequest is the input of the rotate-dek function: an EventBridge
// Scheduler input or the detail of a work event.
type WorkRequest struct {
	Action     string `json:"action"`
	MerchantID string `json:"merchant_id,omitempty"`
	// MaxAgeDays rotates merchants whose primary is older (rotate-due).
	MaxAgeDays int `json:"max_age_days,omitempty"`
	// MaxRecords rotates merchants whose primary seals more records
	// (rotate-due; 0: no limit).
	MaxRecords int `json:"max_records,omitempty"`
	// Force rotates every merchant now (rotate-due run by hand, e.g. after
	// a suspected key exposure); the schedule never sets it.
	Force bool `json:"force,omitempty"`
}

// WorkResult reports what an invocation did.
type WorkResult struct {
	Action    string `json:"action"`
	Merchants int    `json:"merchants"`
	Rotated   int    `json:"rotated"`
	ReWrapped int    `json:"rewrapped"`
	Purged    int    `json:"purged"`
	// Done is false when work remains and was handed on.
	Done bool `json:"done"`
}

// RunWork carries out one work request within ctx's deadline. Work left
// when the deadline nears is handed to the background again; nothing is
// lost if that fails, because the next scheduled run resumes every
// running rotation and every unpurged shredded merchant.
func (l *KeyLifecycle) RunWork(ctx context.Context, req WorkRequest) (WorkResult, error) {
	res := WorkResult{Action: req.Action}
	switch req.Action {
	case ActionRotateDue:
		return l.rotateDue(ctx, req)
	case ActionContinueRotation, ActionPurgeMerchant:
		if req.MerchantID == "" {
			return res, fmt.Errorf("%s needs merchant_id", req.Action)
		}
		res.Merchants = 1
		var err error
		if req.Action == ActionContinueRotation {
			res.Done, err = l.ContinueRotation(withMargin(ctx), req.MerchantID)
		} else {
			res.Purged, err = l.PurgeMerchant(withMargin(ctx), req.MerchantID)
			res.Done = err == nil
		}
		if err == nil && !res.Done && ctx.Err() == nil {
			err = l.handOn(ctx, req)
		}
		return res, err
	case ActionReWrap:
		return l.rotateDue(ctx, WorkRequest{Action: ActionReWrap})
	default:
		return res, fmt.Errorf("unknown work action %q", req.Action)
	}
}

// ErrMerchantWorkFailed is the error of a rotate-due or rewrap run in
// which some merchants' work failed: the run tends every other merchant
// first, then fails, so that the invocation counts as an error (the
// rotate-dek Errors alarm) and Lambda retries it. A retry repeats only
// what is still to do: a merchant rotated by the failed run is no longer
// due, and its re-encryption resumes from its checkpoint.
var ErrMerchantWorkFailed = errors.New("scheduled key work failed")

// rotateDue walks every merchant: re-wraps keys still under an old master
// key, rotates merchants whose primary is due (unless only re-wrapping),
// resumes running rotations and purges of shredded merchants. It fails
// (ErrMerchantWorkFailed, with the count) when any merchant's work failed.
func (l *KeyLifecycle) rotateDue(ctx context.Context, req WorkRequest) (WorkResult, error) {
	res := WorkResult{Action: req.Action, Done: true}
	maxAge := time.Duration(req.MaxAgeDays) * 24 * time.Hour
	failed := 0
	cursor := ""
	for {
		merchants, next, err := l.admin.Merchants(ctx, cursor, 100)
		if err != nil {
			return res, err
		}
		for _, m := range merchants {
			res.Merchants++
			if err := l.tend(ctx, m, req, maxAge, &res); err != nil {
				// One merchant's trouble must not stop the others' rotation.
				l.opts.Logger.ErrorContext(ctx, "scheduled key work failed for a merchant", "merchant_id", m, "err", err)
				res.Done = false
				failed++
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if failed > 0 {
		return res, fmt.Errorf("%w for %d of %d merchants (each is logged with its cause)", ErrMerchantWorkFailed, failed, res.Merchants)
	}
	return res, nil
}

func (l *KeyLifecycle) tend(ctx context.Context, merchantID string, req WorkRequest, maxAge time.Duration, res *WorkResult) error {
	shredded, err := l.admin.Shredded(ctx, merchantID)
	if err != nil {
		return err
	}
	if shredded {
		return l.startWork(ctx, ActionPurgeMerchant, merchantID)
	}
	n, _, err := l.life.ReWrap(ctx, merchantID)
	res.ReWrapped += n
	if err != nil {
		return err
	}
	if req.Action == ActionReWrap {
		return nil
	}
	st, err := l.records.RotationState(ctx, merchantID)
	if err != nil {
		return err
	}
	rotate := req.Force
	if !st.Running && !rotate {
		if rotate, err = l.due(ctx, merchantID, maxAge, req.MaxRecords); err != nil {
			return err
		}
	}
	if !st.Running && rotate {
		if _, err := l.Rotate(ctx, merchantID); err != nil {
			return err
		}
		res.Rotated++
		st.Running = true
	}
	if st.Running {
		return l.startWork(ctx, ActionContinueRotation, merchantID)
	}
	return nil
}

// due reports whether the merchant's primary is older than maxAge or
// seals more than maxRecords records. A merchant without a key has
// nothing to rotate; a failure to tell is an error, not "not due", so
// that a denied or failing read cannot silently skip a rotation.
func (l *KeyLifecycle) due(ctx context.Context, merchantID string, maxAge time.Duration, maxRecords int) (bool, error) {
	latest, err := l.admin.LatestKey(ctx, merchantID)
	if errors.Is(err, envelope.ErrNoKey) || errors.Is(err, envelope.ErrShredded) {
		return false, nil // nothing to rotate (a shred is purged by the next run)
	}
	if err != nil {
		return false, err
	}
	if maxAge > 0 && l.now().Sub(latest.CreatedAt) >= maxAge {
		return true, nil
	}
	if maxRecords > 0 {
		n, err := l.records.CountRecords(ctx, merchantID, latest.Version)
		if err != nil {
			return false, err
		}
		return n > maxRecords, nil
	}
	return false, nil
}

// handOn starts the rest of req again, as background work.
func (l *KeyLifecycle) handOn(ctx context.Context, req WorkRequest) error {
	return l.startWork(ctx, req.Action, req.MerchantID)
}

// startWork starts one merchant's background work (continue-rotation or
// purge-merchant).
func (l *KeyLifecycle) startWork(ctx context.Context, action, merchantID string) error {
	return l.work.Start(ctx, WorkRequest{Action: action, MerchantID: merchantID})
}

// withMargin leaves time before ctx's deadline to save a checkpoint and
// hand the rest of the work on.
func withMargin(ctx context.Context) context.Context {
	deadline, ok := ctx.Deadline()
	if !ok {
		return ctx
	}
	margin := time.Until(deadline) / 10
	margin = min(max(margin, 2*time.Second), 30*time.Second)
	c, cancel := context.WithDeadline(ctx, deadline.Add(-margin))
	context.AfterFunc(ctx, cancel)
	return c
}
