// Package audit defines the vault's audit event and the sinks that keep it.
//
// The event has a fixed set of typed fields rather than a free-form map, so
// that nothing sensitive can ride along by accident: there is no field that
// could hold a card number, holder name, secret value, key or raw JOSE.
package audit

import (
	"context"
	"time"
)

// Outcome tells whether the action was carried out.
type Outcome string

const (
	Allowed Outcome = "allowed"
	Refused Outcome = "refused"
	Failed  Outcome = "failed"
)

// Event is one audited action: a request (allowed or refused) or a
// background action of the vault itself.
type Event struct {
	ID       string    `json:"event_id"`
	Time     time.Time `json:"time"`
	Action   string    `json:"action"`
	Outcome  Outcome   `json:"outcome"`
	Code     string    `json:"error_code,omitempty"`
	ClientID string    `json:"client_id,omitempty"`
	Merchant string    `json:"merchant_id,omitempty"`
	Token    string    `json:"token,omitempty"`
	Secret   string    `json:"secret_name,omitempty"`
	// KeyVersion is the merchant key version the action used, if any.
	KeyVersion uint32 `json:"key_version,omitempty"`
	// KMSRequestIDs join the event to CloudTrail records of KMS calls the
	// action caused (cache misses only).
	KMSRequestIDs []string `json:"kms_request_ids,omitempty"`
	RequestID     string   `json:"request_id,omitempty"`
	SourceIP      string   `json:"source_ip,omitempty"`
	UserAgent     string   `json:"user_agent,omitempty"`
	// JTI is the client's request id; it is not secret (it only ever
	// identifies a request) and lets a client match its own logs.
	JTI        string `json:"jti,omitempty"`
	DurationMS int64  `json:"duration_ms"`
}

// Sink keeps audit events durably.
type Sink interface {
	Record(ctx context.Context, e Event) error
}
