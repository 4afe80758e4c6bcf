// Package audit defines the vault's audit event and the sinks that keep it.
//
// The event has a fixed set of typed fields rather than a free-form map, so
// that nothing sensitive can ride along by accident: there is no field that
// could hold a card number, holder name, secret value, key or raw JOSE.
// The string fields that do exist hold identifiers; every sink still passes
// them through redaction (a card number typed into a URL in place of a
// token is masked to first 4 / last 4) and a length bound before keeping
// them. docs/audit.md is the schema's reference.
package audit

import (
	"context"
	"time"
)

// SchemaVersion is the version of the event schema the sinks write in the
// "v" member. It changes only when a field changes meaning or is removed;
// new optional fields keep the version.
const SchemaVersion = 1

// Outcome tells whether the action was carried out.
type Outcome string

const (
	// Allowed: the action was carried out.
	Allowed Outcome = "allowed"
	// Refused: the vault declined the request (4xx); nothing changed.
	Refused Outcome = "refused"
	// Failed: the vault could not carry the action out (5xx).
	Failed Outcome = "failed"
)

// Actions that are not one of the contract's operations. Requests for an
// operation use the operation's name (vault_card, reveal_card, ...).
const (
	ActionGetJWKS      = "get_jwks"
	ActionHealth       = "health"
	ActionUnknownRoute = "unknown_route"

	ActionRotationStarted     = "rotation_started"
	ActionRotationPage        = "rotation_page"
	ActionRotationFinished    = "rotation_finished"
	ActionKeyVersionDestroyed = "key_version_destroyed"
	ActionMerchantShredded    = "merchant_shredded"
	ActionRecordsPurged       = "records_purged"
	// ActionForwardSending is recorded before a forward sends card data
	// out; the forward fails (503) if it cannot be.
	ActionForwardSending = "forward_sending"

	// Migration jobs: the worker's actions on an import or export job
	// (the requests creating and reading jobs use their operation names).
	ActionImportStarted  = "import_started"
	ActionImportFinished = "import_finished"
	ActionExportFinished = "export_finished"
	ActionJobFileDeleted = "job_file_deleted"
)

// Event is one audited action: a request (allowed or refused) or a
// background action of the vault itself.
//
// The order of the fields is the order of the JSON members, and the local
// file's hash chain hashes that encoding: do not reorder fields, and add new
// ones just before Hash.
type Event struct {
	// V is the schema version; sinks fill it in when it is zero.
	V int `json:"v"`
	// Seq and Prev chain the local audit file's lines (see FileSink); they
	// are empty in other sinks.
	Seq  uint64 `json:"seq,omitempty"`
	Prev string `json:"prev,omitempty"`

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
	// Records counts the records a background action touched (rotation
	// pages, purges, shredding).
	Records int `json:"records,omitempty"`
	// TargetVersion is the key version a rotation moves records to.
	TargetVersion uint32 `json:"target_version,omitempty"`
	// JobID names the import or export job of a migration action.
	JobID string `json:"job_id,omitempty"`

	// Destination, Method and Route describe a forward: the operator's
	// destination id, the HTTP method and the destination's route pattern
	// the path matched (never the path itself, which may hold ids).
	// ProviderStatus is the provider's status code, absent when no answer
	// came; ProviderMS how long the exchange took, present (0 included)
	// whenever the vault tried it (a dial the address guard refused
	// included), absent when it was refused before.
	Destination    string `json:"destination,omitempty"`
	Method         string `json:"method,omitempty"`
	Route          string `json:"route,omitempty"`
	ProviderStatus int    `json:"provider_status,omitempty"`
	ProviderMS     *int64 `json:"provider_latency_ms,omitempty"`
	// IAMUserARN, IAMAccountID and IAMCallerID name the AWS principal
	// that API Gateway's IAM authorizer admitted (its SigV4 signer), beside
	// the JWS issuer in ClientID. Empty in local mode and for routes
	// without the authorizer.
	IAMUserARN   string `json:"iam_user_arn,omitempty"`
	IAMAccountID string `json:"iam_account_id,omitempty"`
	IAMCallerID  string `json:"iam_caller_id,omitempty"`

	// Hash is the local file chain's SHA-256 of this line's canonical form
	// (see FileSink); it is always the last member.
	Hash string `json:"hash,omitempty"`
}

// Sink keeps audit events durably.
type Sink interface {
	Record(ctx context.Context, e Event) error
}
