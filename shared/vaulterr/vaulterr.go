// Package vaulterr carries the wire contract's error codes through every
// layer of the vault, so a refusal keeps its status from the place it is
// decided to the response that reports it.
//
// An Error's Message is shown to the caller and its Cause is logged; neither
// may ever hold card data, secret values, key material or raw JOSE. Build
// messages from constants and non-sensitive identifiers only.
package vaulterr

import (
	"errors"
	"net/http"
)

// Code is one of the error codes of the wire contract.
type Code string

// The contract's error codes.
const (
	Malformed            Code = "malformed_request"
	Unauthenticated      Code = "unauthenticated"
	Stale                Code = "stale_request"
	Forbidden            Code = "forbidden"
	NotFound             Code = "not_found"
	Replayed             Code = "replayed"
	PayloadTooLarge      Code = "payload_too_large"
	UnsupportedMediaType Code = "unsupported_media_type"
	InvalidCard          Code = "invalid_card"
	CVCNotAccepted       Code = "cvc_not_accepted"
	InvalidSecret        Code = "invalid_secret"
	// InvalidImport (v1.1): an import file that does not decrypt or lacks
	// a required column; an export's recipient key unfit to encrypt to.
	InvalidImport Code = "invalid_import"
	RateLimited   Code = "rate_limited"
	Integrity     Code = "integrity_error"
	Unavailable   Code = "unavailable"
	// Contract v1.1, forward: the provider connection failed (refused
	// address, TLS, reset, an answer over the cap) or timed out.
	DestinationError   Code = "destination_error"
	DestinationTimeout Code = "destination_timeout"
	// Internal is not in the contract's table: it answers a bug, never an
	// expected condition, and is reported as 500 with no detail.
	Internal Code = "internal_error"
)

var statusByCode = map[Code]int{
	Malformed:            http.StatusBadRequest,
	Unauthenticated:      http.StatusUnauthorized,
	Stale:                http.StatusUnauthorized,
	Forbidden:            http.StatusForbidden,
	NotFound:             http.StatusNotFound,
	Replayed:             http.StatusConflict,
	PayloadTooLarge:      http.StatusRequestEntityTooLarge,
	UnsupportedMediaType: http.StatusUnsupportedMediaType,
	InvalidCard:          http.StatusUnprocessableEntity,
	CVCNotAccepted:       http.StatusUnprocessableEntity,
	InvalidSecret:        http.StatusUnprocessableEntity,
	InvalidImport:        http.StatusUnprocessableEntity,
	RateLimited:          http.StatusTooManyRequests,
	Integrity:            http.StatusInternalServerError,
	Unavailable:          http.StatusServiceUnavailable,
	DestinationError:     http.StatusBadGateway,
	DestinationTimeout:   http.StatusGatewayTimeout,
	Internal:             http.StatusInternalServerError,
}

// Status is the HTTP status the contract gives the code.
func (c Code) Status() int {
	if s, ok := statusByCode[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is a refusal with a contract code. Message is safe to return to the
// caller; Cause is for logs and errors.Is/As.
type Error struct {
	Code    Code
	Message string
	Cause   error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return string(e.Code) + ": " + e.Message + ": " + e.Cause.Error()
	}
	return string(e.Code) + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Cause }

// New returns a refusal with the given code and caller-safe message.
func New(code Code, message string) *Error {
	return &Error{Code: code, Message: message}
}

// Wrap returns a refusal with the given code and message, keeping cause for
// the logs.
func Wrap(code Code, message string, cause error) *Error {
	return &Error{Code: code, Message: message, Cause: cause}
}

// CodeOf is the contract code of err: the code of the first *Error in its
// chain, or Internal when there is none.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// As returns the first *Error in err's chain, or an Internal error that
// reveals nothing of err to the caller.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: Internal, Message: "internal error", Cause: err}
}
