package client

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error codes of the wire contract, as found in APIError.Code.
const (
	CodeMalformed            = "malformed_request"
	CodeUnauthenticated      = "unauthenticated"
	CodeStale                = "stale_request"
	CodeForbidden            = "forbidden"
	CodeNotFound             = "not_found"
	CodeReplayed             = "replayed"
	CodePayloadTooLarge      = "payload_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeInvalidCard          = "invalid_card"
	CodeCVCNotAccepted       = "cvc_not_accepted"
	CodeInvalidSecret        = "invalid_secret"
	CodeRateLimited          = "rate_limited"
	CodeIntegrity            = "integrity_error"
	CodeUnavailable          = "unavailable"
	// Contract v1.1, forward: the provider connection failed or timed out.
	CodeDestinationError   = "destination_error"
	CodeDestinationTimeout = "destination_timeout"
)

// APIError is a non-2xx answer of the vault. Code, Message and RequestID
// come from the contract's error JSON; when the body is not that JSON (a
// proxy's error page, say) Code is empty and Message is the HTTP status
// text, because an arbitrary body is never copied into an error.
type APIError struct {
	Status    int
	Code      string
	Message   string
	RequestID string
	// RetryAfter is the Retry-After delay the vault asked for (429, 503), or
	// zero.
	RetryAfter time.Duration
}

// Error reports status, code, message and request id. The vault's messages
// never hold card data or secret values (a contract rule), and nothing else
// of the request is added here.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("vault: ")
	b.WriteString(strconv.Itoa(e.Status))
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request " + e.RequestID + ")")
	}
	return b.String()
}

// ErrorCode is the contract code of the first *APIError in err's chain, or
// "" when there is none.
func ErrorCode(err error) string {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code
	}
	return ""
}

// maxMessageLen bounds what of the vault's message is kept, so a broken or
// hostile server cannot make errors arbitrarily large.
const maxMessageLen = 512

// parseAPIError turns a non-2xx response into an *APIError.
func parseAPIError(status int, header http.Header, body []byte) *APIError {
	apiErr := &APIError{Status: status, RetryAfter: parseRetryAfter(header.Get("Retry-After"))}
	var doc struct {
		Error struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &doc) == nil && doc.Error.Code != "" {
		apiErr.Code = truncate(doc.Error.Code, 64)
		apiErr.Message = truncate(doc.Error.Message, maxMessageLen)
		apiErr.RequestID = truncate(doc.Error.RequestID, 128)
	} else {
		apiErr.Message = http.StatusText(status)
	}
	if apiErr.RequestID == "" {
		apiErr.RequestID = truncate(requestIDHeader(header), 128)
	}
	return apiErr
}

// requestIDHeader is the request id a gateway put in a header, used when the
// body did not carry one.
func requestIDHeader(h http.Header) string {
	for _, name := range []string{"X-Request-Id", "Apigw-Requestid"} {
		if v := h.Get(name); v != "" {
			return v
		}
	}
	return ""
}

// parseRetryAfter reads a delay in seconds or an HTTP date; anything else is
// zero.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		if d := time.Until(at); d > 0 {
			return d
		}
	}
	return 0
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a byte boundary, then drop a split trailing rune.
	return strings.ToValidUTF8(s[:n], "")
}
