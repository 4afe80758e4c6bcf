package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// ForwardRequest asks the vault to send a request to one of the
// operator's destinations, filling card fields and merchant secrets in
// with placeholders ({{card.number}}, {{secret.NAME}}...; docs/api.md).
// The client never holds the card number or the provider's key.
type ForwardRequest struct {
	MerchantID  string
	Destination string
	// Token is the card the placeholders read; empty for a request that
	// references no card.
	Token  string
	Method string
	Path   string
	// Query and Headers hold no placeholder; only the headers the
	// destination lists reach the provider.
	Query   map[string]string
	Headers map[string]string
	// Form, when set, is sent form-encoded; JSON, when set, is sent as
	// JSON (its member order kept). At most one of them.
	Form map[string]string
	JSON json.RawMessage
}

// ForwardAnswer is the provider's answer, with every injected value
// replaced by [REDACTED].
type ForwardAnswer struct {
	Destination  string            `json:"destination"`
	Status       int               `json:"status"`
	Headers      map[string]string `json:"headers"`
	Body         string            `json:"body"`
	BodyEncoding string            `json:"body_encoding"`
}

// BodyBytes is the provider's body, decoded when it was not UTF-8.
func (a *ForwardAnswer) BodyBytes() ([]byte, error) {
	if a.BodyEncoding == "base64" {
		return base64.StdEncoding.DecodeString(a.Body)
	}
	return []byte(a.Body), nil
}

type forwardRequestClaim struct {
	Method      string            `json:"method"`
	Path        string            `json:"path"`
	Query       map[string]string `json:"query,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	ContentType string            `json:"content_type,omitempty"`
	Body        json.RawMessage   `json:"body,omitempty"`
}

// Forward sends r through the vault. The answer is the provider's, whatever
// its status; a *APIError is the vault's own refusal or failure (502
// destination_error, 504 destination_timeout when the provider connection
// failed). The request travels signed and encrypted to the vault.
func (c *Client) Forward(ctx context.Context, r ForwardRequest) (*ForwardAnswer, error) {
	if r.MerchantID == "" || r.Destination == "" {
		return nil, fmt.Errorf("vault client: %s: merchant id and destination are required", OpForward)
	}
	claim := forwardRequestClaim{Method: r.Method, Path: r.Path, Query: r.Query, Headers: r.Headers}
	switch {
	case r.Form != nil && r.JSON != nil:
		return nil, errors.New("vault client: forward: a form body or a JSON body, not both")
	case r.Form != nil:
		b, err := json.Marshal(r.Form)
		if err != nil {
			return nil, err
		}
		claim.ContentType, claim.Body = "application/x-www-form-urlencoded", b
	case r.JSON != nil:
		if !json.Valid(r.JSON) {
			return nil, errors.New("vault client: forward: the JSON body is not valid JSON")
		}
		claim.ContentType, claim.Body = "application/json", r.JSON
	}
	cl := call{
		op: OpForward, method: http.MethodPost, path: "/v1/forward", merchantID: r.MerchantID, token: r.Token,
		extra: map[string]any{"destination": r.Destination, "request": claim}, sensitive: true,
	}
	answer, _, err := doJSON[ForwardAnswer](ctx, c, cl)
	return answer, err
}
