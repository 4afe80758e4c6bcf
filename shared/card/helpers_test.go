package card

import (
	"errors"
	"strings"
	"testing"

	"github.com/cardvault/vault/shared/vaulterr"
)

// withCheckDigit appends the Luhn check digit that makes partial valid.
func withCheckDigit(partial string) string {
	for d := '0'; d <= '9'; d++ {
		if candidate := partial + string(d); Luhn(candidate) {
			return candidate
		}
	}
	panic("no Luhn check digit for " + partial)
}

// numberOfLength builds a Luhn-valid number of n digits starting with
// prefix.
func numberOfLength(prefix string, n int) string {
	return withCheckDigit(prefix + strings.Repeat("0", n-len(prefix)-1))
}

// requireRefusal asserts err is a caller-safe invalid_card refusal with the
// expected message, and that the message does not echo the input.
func requireRefusal(t *testing.T, err error, wantMessage string, input string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want refusal %q, got nil", wantMessage)
	}
	var ve *vaulterr.Error
	if !errors.As(err, &ve) {
		t.Fatalf("want *vaulterr.Error, got %T", err)
	}
	if ve.Code != vaulterr.InvalidCard {
		t.Fatalf("code = %q, want %q", ve.Code, vaulterr.InvalidCard)
	}
	if ve.Message != wantMessage {
		t.Fatalf("message = %q, want %q", ve.Message, wantMessage)
	}
	if ve.Cause != nil {
		t.Fatalf("unexpected cause %v", ve.Cause)
	}
	if input != "" && strings.Contains(err.Error(), input) {
		t.Fatalf("error %q echoes its input", err)
	}
}
