package card

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cardvault/vault/shared/vaulterr"
)

var fuzzSeeds = []string{
	"4242424242424242", "4242 4242 4242 4242", "4242-4242-4242-4242",
	"378282246310005", "6205500000000000004", "36227206271667",
	"424242424242", "42424242424", "42424242424242424242", "", "x", "\xff",
}

func FuzzNormalizeValidate(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, number string) {
		digits, err := Normalize(number)
		if err != nil {
			assertConstantRefusal(t, err)
			digits = number // Validate must cope with unnormalized input too
		} else {
			stripped := strings.NewReplacer(" ", "", "-", "").Replace(number)
			if digits != stripped || !allDigits(digits) {
				t.Fatalf("Normalize(%q) = %q", number, digits)
			}
		}
		brand, err := Validate(digits)
		if err != nil {
			assertConstantRefusal(t, err)
			return
		}
		if !Luhn(digits) || len(digits) < minDigits || len(digits) > maxDigits || !allDigits(digits) {
			t.Fatalf("Validate accepted %q", digits)
		}
		if brand == "" || !brand.acceptsLength(len(digits)) {
			t.Fatalf("Validate(%q) = brand %q", digits, brand)
		}
	})
}

func FuzzMask(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, digits string) {
		m := Mask(digits, Unknown, 1, 2030)
		if len(digits) >= minDigits && len(digits) <= maxDigits && allDigits(digits) {
			assertMaskReveals(t, digits, m)
			return
		}
		if m.First4 != "" || m.Last4 != "" || m.Display != "****" {
			t.Fatalf("Mask of invalid input revealed %+v", m)
		}
	})
}

func FuzzFindCVC(f *testing.F) {
	for _, s := range []string{`{"cvc":"1"}`, `{"a":[{"CVV2":1}]}`, `{"a":"cvc"}`, `["cvv"]`, `{"a":{"b":[]},"c":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := FindCVC(data)
		if !json.Valid(data) {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber() // numbers too large for float64 are still valid JSON
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("valid JSON fails to unmarshal: %v", err)
		}
		if want := hasVerificationCodeMember(v); got != want {
			t.Fatalf("FindCVC(%s) = %v, want %v", data, got, want)
		}
	})
}

// hasVerificationCodeMember is the obvious reference: decode, then walk.
func hasVerificationCodeMember(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		for name, member := range v {
			if isVerificationCode(name) || hasVerificationCodeMember(member) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if hasVerificationCodeMember(e) {
				return true
			}
		}
	}
	return false
}

var refusalMessages = map[string]bool{
	msgNotDigits: true, msgLength: true, msgLuhn: true,
}

func assertConstantRefusal(t *testing.T, err error) {
	t.Helper()
	ve, ok := err.(*vaulterr.Error)
	if !ok || ve.Code != vaulterr.InvalidCard || !refusalMessages[ve.Message] || ve.Cause != nil {
		t.Fatalf("refusal %#v is not a constant invalid_card error", err)
	}
}
