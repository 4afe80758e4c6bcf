package card

import (
	"strings"
	"testing"
	"unicode"
)

func TestFindCVC(t *testing.T) {
	tests := []struct {
		name string
		json string
		want bool
	}{
		{"plain card", `{"number":"4242424242424242","exp_month":12,"exp_year":2030,"holder_name":"Jane Doe"}`, false},
		{"cvc", `{"number":"4242424242424242","cvc":"123"}`, true},
		{"cvv", `{"cvv":"123"}`, true},
		{"cvv2", `{"cvv2":123}`, true},
		{"upper case", `{"CVC":"123"}`, true},
		{"mixed case", `{"CvV2":"123"}`, true},
		{"escaped name", `{"\u0063vc":"123"}`, true},
		{"null value", `{"cvc":null}`, true},
		{"empty value", `{"cvc":""}`, true},
		{"object value", `{"cvv":{}}`, true},
		{"nested object", `{"number":"4242","extra":{"security":{"cvc":"123"}}}`, true},
		{"inside array", `{"extra":[1,"x",{"Cvv":"123"}]}`, true},
		{"inside nested arrays", `{"extra":[[[{"a":[{"cvv2":"1"}]}]]]}`, true},
		{"after nested containers", `{"a":{"b":[1,{"c":2}]},"d":[],"e":{},"cvc":"1"}`, true},
		{"duplicate names", `{"cvc":"1","cvc":"2"}`, true},
		{"name as value", `{"holder_name":"cvc"}`, false},
		{"names as values in arrays", `{"x":["cvc","cvv","cvv2"],"y":{"z":"CVV"}}`, false},
		{"value then name-like value", `{"a":"cvc","b":"cvv"}`, false},
		{"similar names", `{"cvc_hint":"x","cvv3":"x","card_cvc":"x","cv":"x"}`, false},
		{"padded name", `{" cvc":"1"}`, false},
		{"top-level string", `"cvc"`, false},
		{"top-level array of names", `["cvc"]`, false},
		{"array with objects", `[{"cvc":"1"}]`, true},
		{"empty", ``, false},
		{"empty object", `{}`, false},
		{"malformed after cvc", `{"cvc":"1",`, true},
		{"malformed before cvc", `{"a":}{"cvc":"1"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FindCVC([]byte(tt.json)); got != tt.want {
				t.Fatalf("FindCVC(%s) = %v, want %v", tt.json, got, tt.want)
			}
		})
	}
}

// The pre-filter in FindCVC folds ASCII only; that is sound only while no
// other character case-folds to c or v.
func TestNoNonASCIILetterFoldsToCOrV(t *testing.T) {
	for r := rune(0x80); r <= unicode.MaxRune; r++ {
		s := string(r)
		if strings.EqualFold(s, "c") || strings.EqualFold(s, "v") {
			t.Fatalf("%U case-folds to c or v", r)
		}
	}
}

func TestFindCVCScansWhenPreFilterCannotDecide(t *testing.T) {
	tests := []struct {
		json string
		want bool
	}{
		{`{"holder_name":"Ms Cvc"}`, false},
		{`{"holder_name":"a\"b"}`, false},
		{`{"\u0043VV2":"1"}`, true},
		{`{"c\u0076v":"1"}`, true},
	}
	for _, tt := range tests {
		if !mayNameVerificationCode([]byte(tt.json)) {
			t.Fatalf("pre-filter skips %s", tt.json)
		}
		if got := FindCVC([]byte(tt.json)); got != tt.want {
			t.Fatalf("FindCVC(%s) = %v, want %v", tt.json, got, tt.want)
		}
	}
}
