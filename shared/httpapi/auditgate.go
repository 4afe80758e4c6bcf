package httpapi

import (
	"context"
	"time"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
	"github.com/cardvault/vault/shared/wire"
)

// failsClosed reports whether op is refused with 503 unavailable when its
// audit event cannot be recorded: every operation that stores, reveals or
// destroys card data, secrets or merchant keys, and the migration jobs
// that store (import_cards) or hand out (export_cards) a merchant's cards. The others (get_masked,
// get_secret, get_keys, jwks, health) release nothing that needs a key
// and change nothing; their event is logged when the trail refuses it.
func failsClosed(op wire.Operation) bool {
	switch op {
	case wire.OpVaultCard, wire.OpPutSecret,
		wire.OpRevealCard, wire.OpRevealSecret,
		wire.OpDeleteCard, wire.OpDeleteSecret,
		wire.OpShredMerchant, wire.OpRotateKeys,
		wire.OpImportCards, wire.OpExportCards:
		return true
	}
	return false
}

// auditGate holds a fail-closed request's audit event to what the
// operation did. Operations whose change can be undone (vault_card,
// put_secret) make it first and have their event recorded after, as every
// request does; if it cannot be, the change is undone (Trace.Undo) and
// the request fails. Operations whose change cannot be undone (delete,
// shred, a new key version) have their event recorded before the change
// (vault.Caller.Witness): if it cannot be, the change is not made.
type auditGate struct {
	api        *API
	invocation context.Context
	event      *audit.Event
	start      time.Time
	// witnessed is set once the event was recorded ahead of the change.
	witnessed bool
}

// witness records the request's event, as allowed, before an
// irreversible change.
func (g *auditGate) witness(_ context.Context, t vault.Trace) error {
	e := *g.event
	e.Outcome = audit.Allowed
	e.Code = ""
	if t.Token != "" {
		e.Token = t.Token
	}
	if t.JobID != "" {
		e.JobID = t.JobID
	}
	e.KeyVersion = t.KeyVersion
	e.KMSRequestIDs = t.KMSRequestIDs
	e.DurationMS = time.Since(g.start).Milliseconds()
	if err := g.api.deps.Audit.Record(g.invocation, e); err != nil {
		g.api.deps.Logger.ErrorContext(g.invocation, "audit event not recorded; the change is not made",
			"request_id", e.RequestID, "action", e.Action, "err", err)
		return vaulterr.Wrap(vaulterr.Unavailable, "audit trail unavailable", err)
	}
	g.witnessed = true
	return nil
}

// finish records the request's event now that the operation is over, and
// returns the request's outcome: err, or unavailable if a fail-closed
// request's event cannot be recorded (its write undone first), which it
// then also sets in e for the request's log line and metrics.
func (g *auditGate) finish(e *audit.Event, closed bool, reply Reply, err error) error {
	a := g.api
	if g.witnessed {
		if err == nil {
			return nil // the event is recorded already
		}
		// The change failed after its event said it was allowed: the
		// request's last event tells its outcome.
		e.ID = audit.NewID()
		a.recordOrLog(g.invocation, *e)
		return err
	}
	auditErr := a.deps.Audit.Record(g.invocation, *e)
	if auditErr == nil {
		return err
	}
	a.deps.Logger.ErrorContext(g.invocation, "audit event not recorded", "request_id", e.RequestID, "action", e.Action, "err", auditErr)
	if !closed || err != nil {
		return err
	}
	// Nothing leaves the vault, and nothing stays stored, unaudited.
	if reply.Trace.Undo != nil {
		if undoErr := reply.Trace.Undo(g.invocation); undoErr != nil {
			a.deps.Logger.ErrorContext(g.invocation, "unaudited write not undone", "request_id", e.RequestID, "action", e.Action, "token", e.Token, "err", undoErr)
		}
	}
	failed := vaulterr.Wrap(vaulterr.Unavailable, "audit trail unavailable", auditErr)
	// A sink that timed out may still have taken the event: a second
	// one, if the trail takes it, says how the request ended.
	e.ID = audit.NewID()
	e.Outcome = audit.Failed
	e.Code = string(vaulterr.Unavailable)
	a.recordOrLog(g.invocation, *e)
	return failed
}

func (a *API) recordOrLog(ctx context.Context, e audit.Event) {
	if err := a.deps.Audit.Record(ctx, e); err != nil {
		a.deps.Logger.ErrorContext(ctx, "audit event not recorded", "request_id", e.RequestID, "action", e.Action, "err", err)
	}
}
