package vault

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/forward"
	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vaulterr"
)

// ForwardInput is a forward request: the caller, the destination it names,
// the card (optional) and the provider request template.
type ForwardInput struct {
	Caller
	// RequestID joins the event recorded before sending to the request's
	// own audit event.
	RequestID string
	// Allowed are the destinations the client's registry entry lists.
	Allowed     []string
	Destination string
	// Token is "" when the request names no card.
	Token   string
	Request *forward.Request
}

// ForwardResult is the provider's answer with every injected value
// redacted.
type ForwardResult struct {
	Destination string
	Status      int
	Headers     map[string]string
	Body        []byte
}

// ForwardTrace tells the audit trail what a forward sent and what came
// back; it never holds a body.
type ForwardTrace struct {
	Destination    string
	Method         string
	Route          string
	ProviderStatus int
	// ProviderMS is set once the exchange was tried (a pointer, so that an
	// exchange under a millisecond still names its latency).
	ProviderMS *int64
}

// Forwarder sends card data and merchant credentials to the operator's
// destinations on a client's behalf, so that the client never holds them.
type Forwarder struct {
	cards        *CardVault
	cardStore    CardStore
	secrets      SecretStore
	replay       UndoableReplayGuard
	merchants    MerchantStatus
	keys         *envelope.Manager
	destinations forward.Source
	sender       forward.Sender
	audit        Auditor
	now          Clock
}

// ForwarderDeps are what a Forwarder is built from.
type ForwarderDeps struct {
	Cards        CardStore
	Secrets      SecretStore
	Replay       UndoableReplayGuard
	Merchants    MerchantStatus
	Keys         *envelope.Manager
	Destinations forward.Source
	Sender       forward.Sender
	Audit        Auditor
	Now          Clock
}

// NewForwarder builds a Forwarder.
func NewForwarder(d ForwarderDeps) *Forwarder {
	return &Forwarder{
		cards:     NewCardVault(d.Cards, d.Replay, d.Merchants, d.Keys, d.Now),
		cardStore: d.Cards, secrets: d.Secrets, replay: d.Replay, merchants: d.Merchants, keys: d.Keys,
		destinations: d.Destinations, sender: d.Sender, audit: d.Audit, now: d.Now,
	}
}

// Forward checks the request against the destination, reads the card and
// the secrets it needs while it spends the request id, records that card
// data is about to leave (failing with 503 if that cannot be recorded),
// sends the request and returns the answer redacted.
//
// Every refusal of the request itself (400, 403, and the 404 of an
// unknown token or secret) is answered with the request id unspent (a
// spend made beside the reads is taken back first), so a refused forward
// changes nothing; once the reads pass, the jti is spent, whatever the
// provider did, and so it is for a failure after them (a 503, or the 404
// of a key version destroyed between the read and the open, as for
// reveal_card).
func (f *Forwarder) Forward(ctx context.Context, in ForwardInput) (ForwardResult, Trace, error) {
	r := in.Request
	ft := &ForwardTrace{Destination: in.Destination, Method: r.Method}
	trace := Trace{Token: in.Token, Forward: ft}
	if r.UsesCard() && in.Token == "" {
		return ForwardResult{}, trace, vaulterr.New(vaulterr.Malformed, "card placeholders need a token")
	}
	dests, err := f.destinations.Destinations()
	if err != nil {
		return ForwardResult{}, trace, err
	}
	d, ok := dests.Get(in.Destination)
	if !ok || !slices.Contains(in.Allowed, in.Destination) {
		// One answer for both: a client learns nothing of destinations
		// it may not use.
		return ForwardResult{}, trace, vaulterr.New(vaulterr.Forbidden, "the client may not forward to this destination")
	}
	segments, err := forward.CheckPath(r.Path)
	if err != nil {
		return ForwardResult{}, trace, err
	}
	route, err := d.MatchRoute(r.Method, segments)
	if err != nil {
		return ForwardResult{}, trace, err
	}
	ft.Route = route.Pattern
	names := r.Secrets()
	for _, name := range names {
		if !d.AllowsSecret(name) {
			return ForwardResult{}, trace, vaulterr.New(vaulterr.Forbidden, "the body references a secret the destination does not list")
		}
	}
	if d.Credential != nil && !slices.Contains(names, d.Credential.Secret) {
		names = append(names, d.Credential.Secret)
	}

	// The card, the merchant's state and the secrets are read while the
	// request id is spent: one table round trip before the provider is
	// called. A refusal among the reads takes the spend back first.
	now := f.now().UTC()
	var (
		rec     CardRecord
		records []SecretRecord
	)
	if err := admit(ctx, f.replay, in.Caller, now, func() (err error) {
		rec, records, err = f.read(ctx, in, names, now)
		return err
	}); err != nil {
		return ForwardResult{}, trace, err
	}
	trace.KeyVersion = rec.KeyVersion

	values := forward.Values{Secrets: make(map[string]secret.Secret[string], len(names))}
	if in.Token != "" {
		sc, usage, err := f.cards.openCard(ctx, rec)
		trace.usedKeys(usage)
		if err != nil {
			return ForwardResult{}, trace, err
		}
		values.Card = &forward.Card{Number: secret.New(sc.Number), ExpMonth: sc.ExpMonth, ExpYear: sc.ExpYear, HolderName: secret.New(sc.HolderName)}
	}
	for i, name := range names {
		value, err := openSecret(ctx, f.keys, &trace, in.MerchantID, name, records[i])
		if err != nil {
			return ForwardResult{}, trace, err
		}
		values.Secrets[name] = value
	}
	out, redactor, err := forward.Build(d, r, route, values)
	if err != nil {
		return ForwardResult{}, trace, err
	}

	// Card data must not leave the vault unaudited.
	if err := f.audit.Record(ctx, audit.Event{
		ID: audit.NewID(), Time: now, Action: audit.ActionForwardSending, Outcome: audit.Allowed,
		ClientID: in.ClientID, Merchant: in.MerchantID, Token: in.Token, JTI: in.JTI, RequestID: in.RequestID,
		KeyVersion: trace.KeyVersion, Destination: d.ID, Method: r.Method, Route: route.Pattern,
	}); err != nil {
		return ForwardResult{}, trace, vaulterr.Wrap(vaulterr.Unavailable, "audit trail unavailable", err)
	}
	start := time.Now()
	answer, err := f.sender.Send(ctx, d, out)
	took := time.Since(start).Milliseconds()
	ft.ProviderMS = &took
	if err != nil {
		return ForwardResult{}, trace, err
	}
	ft.ProviderStatus = answer.Status

	res := ForwardResult{Destination: d.ID, Status: answer.Status, Headers: map[string]string{}, Body: redactor.Bytes(answer.Body)}
	for _, name := range append([]string{"Content-Type"}, d.ResponseHeaders...) {
		if vs := answer.Header.Values(name); len(vs) > 0 {
			res.Headers[name] = redactor.String(joinHeader(vs))
		}
	}
	return res, trace, nil
}

func joinHeader(vs []string) string {
	out := vs[0]
	for _, v := range vs[1:] {
		out += ", " + v
	}
	return out
}

// read fetches the card (with the merchant's shredded check) and the
// latest version of every secret the forward needs. The reads are
// independent, so they run at once: one table round trip of latency for
// the secrets instead of one each. The answer is decided in a fixed order
// whatever finished first: the card's refusal or failure, then each
// secret's.
func (f *Forwarder) read(ctx context.Context, in ForwardInput, names []string, now time.Time) (CardRecord, []SecretRecord, error) {
	var (
		wg      sync.WaitGroup
		rec     CardRecord
		cardErr error
	)
	records := make([]SecretRecord, len(names))
	errs := make([]error, len(names))
	wg.Go(func() {
		if in.Token != "" {
			rec, cardErr = liveCard(ctx, f.cardStore, f.merchants, in.MerchantID, in.Token, now)
		} else {
			cardErr = checkMerchant(ctx, f.merchants, in.MerchantID)
		}
	})
	for i, name := range names {
		wg.Go(func() { records[i], errs[i] = f.secrets.LatestSecret(ctx, in.MerchantID, name) })
	}
	wg.Wait()
	if cardErr != nil {
		return CardRecord{}, nil, cardErr
	}
	for _, err := range errs {
		if errors.Is(err, ErrNotFound) {
			return CardRecord{}, nil, vaulterr.New(vaulterr.NotFound, "no such secret")
		}
		if err != nil {
			return CardRecord{}, nil, err
		}
	}
	return rec, records, nil
}
