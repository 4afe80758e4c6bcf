package audit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// The EventBridge envelope of every audit event; rules on the bus match
// on these.
const (
	EventSource     = "card-vault"
	EventDetailType = "Card Vault Audit Event"
)

// EventBridgeAPI is the part of the EventBridge client the sink uses;
// *eventbridge.Client implements it.
type EventBridgeAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

var _ EventBridgeAPI = (*eventbridge.Client)(nil)

// EventBridgeSink puts each event on an EventBridge bus before Record
// returns, so that a request's event is out before its response is: a
// Lambda container may be frozen or discarded as soon as the handler
// returns, and anything still buffered would go with it.
//
// The SDK client retries whole calls on throttling and server errors; the
// sink adds what the SDK does not do: it resends the entry when the call
// succeeded but the service refused the entry itself (FailedEntryCount > 0),
// and retries again after the SDK gave up, with jittered exponential
// backoff, up to a number of attempts and a time bound. An entry refused
// for a reason retrying cannot cure (a malformed entry, access denied)
// fails at once.
//
// Delivery is at least once: a call that timed out may have been accepted.
// Consumers deduplicate on detail.event_id.
type EventBridgeSink struct {
	client EventBridgeAPI
	bus    string
	cfg    ebConfig
}

var _ Sink = (*EventBridgeSink)(nil)

type ebConfig struct {
	maxAttempts int
	baseBackoff time.Duration
	maxBackoff  time.Duration
	timeout     time.Duration
}

// EventBridgeOption tunes NewEventBridgeSink.
type EventBridgeOption func(*ebConfig)

// WithMaxAttempts bounds the sink's own attempts per put (default 5; each
// may be several SDK attempts).
func WithMaxAttempts(n int) EventBridgeOption {
	return func(c *ebConfig) {
		if n > 0 {
			c.maxAttempts = n
		}
	}
}

// WithBackoff sets the backoff between the sink's attempts: a random delay
// up to base*2^(attempt-1), capped at max (defaults 25 ms and 400 ms).
func WithBackoff(base, max time.Duration) EventBridgeOption {
	return func(c *ebConfig) { c.baseBackoff, c.maxBackoff = base, max }
}

// WithTimeout bounds one Record, retries included (default 3 s,
// well inside API Gateway's 29 s); 0 leaves only the caller's deadline.
func WithTimeout(d time.Duration) EventBridgeOption {
	return func(c *ebConfig) { c.timeout = d }
}

// NewEventBridgeSink returns a sink putting events on busName (a name or
// ARN; empty means the account's default bus).
func NewEventBridgeSink(client EventBridgeAPI, busName string, opts ...EventBridgeOption) *EventBridgeSink {
	cfg := ebConfig{maxAttempts: 5, baseBackoff: 25 * time.Millisecond, maxBackoff: 400 * time.Millisecond, timeout: 3 * time.Second}
	for _, opt := range opts {
		opt(&cfg)
	}
	return &EventBridgeSink{client: client, bus: busName, cfg: cfg}
}

// Record implements Sink: it returns nil once EventBridge accepted the
// event.
func (s *EventBridgeSink) Record(ctx context.Context, e Event) error {
	entry, err := s.entry(e)
	if err != nil {
		return err
	}
	return s.put(ctx, entry)
}

// entry builds the PutEvents entry of an event: the detail is the event's
// JSON in the same encoding as a file line's canonical form, without the
// local file's chain members: seq and prev are cleared here, the hash by
// canonical, and empty members are omitted.
func (s *EventBridgeSink) entry(e Event) (types.PutEventsRequestEntry, error) {
	e = prepare(e)
	e.Seq, e.Prev = 0, ""
	detail, err := canonical(e)
	if err != nil {
		return types.PutEventsRequestEntry{}, err
	}
	entry := types.PutEventsRequestEntry{
		Source:     aws.String(EventSource),
		DetailType: aws.String(EventDetailType),
		Detail:     aws.String(string(detail)),
	}
	if s.bus != "" {
		entry.EventBusName = aws.String(s.bus)
	}
	if !e.Time.IsZero() {
		entry.Time = aws.Time(e.Time)
	}
	return entry, nil
}

// put sends one entry until it is accepted, within the sink's attempts
// and time bound.
func (s *EventBridgeSink) put(ctx context.Context, entry types.PutEventsRequestEntry) error {
	if s.cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.timeout)
		defer cancel()
	}
	var lastErr error
	for attempt := 1; ; attempt++ {
		batch := []types.PutEventsRequestEntry{entry}
		out, err := s.client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: batch})
		switch {
		case err != nil && !isRetryable(err):
			return fmt.Errorf("audit: eventbridge PutEvents: %w", err)
		case err != nil:
			lastErr = fmt.Errorf("audit: eventbridge PutEvents: %w", err)
		default:
			failed, permanent := refusedEntries(out, len(batch))
			if permanent != nil {
				return permanent
			}
			if len(failed) == 0 {
				return nil
			}
			lastErr = fmt.Errorf("audit: eventbridge refused %d of %d entries (throttled)", len(failed), len(batch))
		}
		if attempt >= s.cfg.maxAttempts {
			return fmt.Errorf("%w (gave up after %d attempts)", lastErr, attempt)
		}
		if err := sleep(ctx, s.backoff(attempt)); err != nil {
			return fmt.Errorf("%w (after %d attempts: %v)", err, attempt, lastErr)
		}
	}
}

// refusedEntries lists the positions of the entries the service refused.
// It returns an error if any refusal cannot be cured by retrying, or if
// the answer does not line up with the request (nothing can then be
// resent without risking duplicates the caller cannot see).
func refusedEntries(out *eventbridge.PutEventsOutput, sent int) ([]int, error) {
	if out.FailedEntryCount == 0 {
		return nil, nil
	}
	if len(out.Entries) != sent {
		return nil, fmt.Errorf("audit: eventbridge reported %d failed entries in an answer of %d results for %d entries", out.FailedEntryCount, len(out.Entries), sent)
	}
	var failed []int
	for i, r := range out.Entries {
		code := aws.ToString(r.ErrorCode)
		if code == "" {
			continue
		}
		if !retryableEntryCode(code) {
			return nil, fmt.Errorf("audit: eventbridge refused an entry: %s", code)
		}
		failed = append(failed, i)
	}
	return failed, nil
}

var retryableErrors = retry.IsErrorRetryables(retry.DefaultRetryables)

func isRetryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return retryableErrors.IsErrorRetryable(err) == aws.TrueTernary
}

func retryableEntryCode(code string) bool {
	if _, ok := retry.DefaultThrottleErrorCodes[code]; ok {
		return true
	}
	switch code {
	case "InternalFailure", "InternalException", "ServiceUnavailable", "ServiceUnavailableException":
		return true
	}
	return false
}

// backoff is "full jitter": a uniform delay up to the exponential bound,
// so that many containers throttled together do not retry in step.
func (s *EventBridgeSink) backoff(attempt int) time.Duration {
	bound := s.cfg.baseBackoff << (attempt - 1)
	if bound <= 0 || bound > s.cfg.maxBackoff {
		bound = s.cfg.maxBackoff
	}
	if bound <= 0 {
		return 0
	}
	return rand.N(bound + 1) // #nosec G404 -- retry jitter, not a secret: math/rand is the right tool
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
