package vault

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cardvault/vault/shared/vaulterr"
)

// inParallel runs independent steps of a request at once and returns when
// all are done. In AWS every store call is a network round trip of a few
// milliseconds, so a request waits for the longest chain of calls that
// depend on each other, not for the sum: reads that decide nothing for
// each other (is the merchant shredded? what does the record hold?) are
// issued together. Before a request is admitted only reads run this way,
// beside the spend of its request id that admit takes back if the reads
// refuse it, so a refused request still changes nothing.
func inParallel(steps ...func()) {
	var wg sync.WaitGroup
	for _, step := range steps[1:] {
		wg.Go(step)
	}
	steps[0]()
	wg.Wait()
}

// CheckMerchantWith is CheckMerchant with read, a read that decides
// nothing about the merchant, in flight at the same time: one round trip
// instead of two. The merchant's refusal comes first, as it would had
// they run in turn; read must change nothing, since it runs for a
// merchant that may turn out to be refused.
func CheckMerchantWith(ctx context.Context, status MerchantStatus, merchantID string, read func() error) error {
	var merchantErr, readErr error
	inParallel(
		func() { merchantErr = checkMerchant(ctx, status, merchantID) },
		func() { readErr = read() },
	)
	return firstError(merchantErr, readErr)
}

// firstError is the first of errs that is not nil: what a request that
// ran steps in parallel answers, as it would have had they run in turn.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// admit runs a request's reads (read: they decide whether it is refused,
// and answer the refusal or failure) and spends its request id at the
// same time, so that both cost one round trip instead of two in turn.
//
// A refused request still changes nothing: when read answers an error,
// the spend is taken back (Unspend deletes the entry this spend wrote,
// and only that one) before admit returns, so any request after the
// answer finds the request id unspent. If the spend cannot be taken
// back, the request answers unavailable, as any store failure after a
// spend does. The answer is the one the reads and spend would give in
// turn: read's error first, then a replay (which wrote nothing), then a
// failed spend.
func admit(ctx context.Context, replay UndoableReplayGuard, c Caller, now time.Time, read func() error) error {
	var (
		readErr, spendErr error
		spend             ReplaySpend
	)
	inParallel(
		func() { readErr = read() },
		func() { spend, spendErr = replay.Spend(ctx, c.ClientID, c.JTI, now.Add(ReplayWindow)) },
	)
	if readErr != nil {
		if errors.Is(spendErr, ErrReplayed) {
			return readErr
		}
		// The spend is taken back even when it failed: its put may have
		// been written all the same. A read cut off by the request's end
		// must not leave the spend behind, so the undo outlives it.
		if err := replay.Unspend(context.WithoutCancel(ctx), spend); err != nil {
			return vaulterr.Wrap(vaulterr.Unavailable, "storage unavailable", err)
		}
		return readErr
	}
	if errors.Is(spendErr, ErrReplayed) {
		return vaulterr.New(vaulterr.Replayed, "request id (jti) already used")
	}
	return spendErr
}
