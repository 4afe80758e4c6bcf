package vaulterr_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cardvault/vault/shared/vaulterr"
)

func TestStatusOfEveryCode(t *testing.T) {
	for code, want := range map[vaulterr.Code]int{
		vaulterr.Malformed:            http.StatusBadRequest,
		vaulterr.Unauthenticated:      http.StatusUnauthorized,
		vaulterr.Stale:                http.StatusUnauthorized,
		vaulterr.Forbidden:            http.StatusForbidden,
		vaulterr.NotFound:             http.StatusNotFound,
		vaulterr.Replayed:             http.StatusConflict,
		vaulterr.PayloadTooLarge:      http.StatusRequestEntityTooLarge,
		vaulterr.UnsupportedMediaType: http.StatusUnsupportedMediaType,
		vaulterr.InvalidCard:          http.StatusUnprocessableEntity,
		vaulterr.CVCNotAccepted:       http.StatusUnprocessableEntity,
		vaulterr.InvalidSecret:        http.StatusUnprocessableEntity,
		vaulterr.RateLimited:          http.StatusTooManyRequests,
		vaulterr.Integrity:            http.StatusInternalServerError,
		vaulterr.Unavailable:          http.StatusServiceUnavailable,
		vaulterr.Internal:             http.StatusInternalServerError,
		vaulterr.Code("no_such_code"): http.StatusInternalServerError,
	} {
		if got := code.Status(); got != want {
			t.Errorf("%s.Status() = %d, want %d", code, got, want)
		}
	}
}

func TestErrorCarriesCodeMessageAndCause(t *testing.T) {
	cause := errors.New("dynamodb: throttled")
	plain := vaulterr.New(vaulterr.NotFound, "no such card")
	if plain.Error() != "not_found: no such card" || plain.Unwrap() != nil {
		t.Fatalf("New: %q, cause %v", plain.Error(), plain.Unwrap())
	}
	wrapped := vaulterr.Wrap(vaulterr.Unavailable, "storage unavailable", cause)
	if wrapped.Error() != "unavailable: storage unavailable: dynamodb: throttled" || !errors.Is(wrapped, cause) {
		t.Fatalf("Wrap: %q", wrapped.Error())
	}
	// Deeper in a chain, the first refusal decides the code.
	chain := fmt.Errorf("vault card: %w", wrapped)
	if vaulterr.CodeOf(chain) != vaulterr.Unavailable || vaulterr.As(chain) != wrapped {
		t.Fatalf("CodeOf/As through a chain: %s, %v", vaulterr.CodeOf(chain), vaulterr.As(chain))
	}
}

func TestAnErrorWithoutCodeIsInternalAndRevealsNothing(t *testing.T) {
	err := errors.New("table card-vault: item tok_abc holds 4242424242424242")
	if vaulterr.CodeOf(err) != vaulterr.Internal {
		t.Fatalf("CodeOf = %s", vaulterr.CodeOf(err))
	}
	e := vaulterr.As(err)
	if e.Code != vaulterr.Internal || e.Message != "internal error" || strings.Contains(e.Message, "4242") || !errors.Is(e, err) {
		t.Fatalf("As = %+v", e)
	}
	if vaulterr.CodeOf(nil) != vaulterr.Internal {
		t.Fatal("CodeOf(nil) is not internal")
	}
}
