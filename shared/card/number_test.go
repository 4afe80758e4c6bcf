package card

import (
	"strings"
	"testing"
)

func TestValidateAcceptsRealTestNumbers(t *testing.T) {
	tests := []struct {
		number string
		want   Brand
	}{
		{"4242424242424242", Visa},
		{"4000056655665556", Visa},
		{"4222222222222", Visa},
		{numberOfLength("4", 19), Visa},
		{"5555555555554444", Mastercard},
		{"5105105105105100", Mastercard},
		{"2223003122003222", Mastercard},
		{numberOfLength("2221", 16), Mastercard},
		{numberOfLength("2720", 16), Mastercard},
		{"378282246310005", Amex},
		{"371449635398431", Amex},
		{"6011111111111117", Discover},
		{"6011000990139424", Discover},
		{numberOfLength("644", 16), Discover},
		{numberOfLength("649", 19), Discover},
		{numberOfLength("65", 16), Discover},
		{numberOfLength("622126", 16), Discover},
		{numberOfLength("622925", 19), Discover},
		{"3056930009020004", Diners},
		{"36227206271667", Diners},
		{numberOfLength("300", 14), Diners},
		{numberOfLength("3095", 16), Diners},
		{numberOfLength("38", 14), Diners},
		{numberOfLength("39", 19), Diners},
		{"3566002020360505", JCB},
		{numberOfLength("3528", 16), JCB},
		{numberOfLength("3589", 19), JCB},
		{"6200000000000005", UnionPay},
		{"6205500000000000004", UnionPay},
		{numberOfLength("622125", 16), UnionPay},
		{numberOfLength("622926", 16), UnionPay},
		{numberOfLength("6304", 12), Maestro},
		{numberOfLength("6759", 19), Maestro},
		{numberOfLength("5018", 16), Maestro},
		{numberOfLength("6763", 16), Maestro},
		{"1234567812345670", Unknown},
		{numberOfLength("9", 12), Unknown},
		{numberOfLength("7", 19), Unknown},
		{numberOfLength("2721", 16), Unknown},
		{numberOfLength("2220", 16), Unknown},
		{"0000000000000000", Unknown},
	}
	for _, tt := range tests {
		t.Run(string(tt.want)+"/"+tt.number[:4], func(t *testing.T) {
			got, err := Validate(tt.number)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got != tt.want {
				t.Fatalf("brand = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValidateRefuses(t *testing.T) {
	tests := []struct {
		name   string
		number string
		want   string
	}{
		{"empty", "", msgLength},
		{"11 digits", numberOfLength("9", 11), msgLength},
		{"20 digits", numberOfLength("9", 20), msgLength},
		{"visa 20 digits", numberOfLength("4", 20), msgLength},
		{"not normalized", "4242 4242 4242 4242", msgNotDigits},
		{"letter", "42424242424242a2", msgNotDigits},
		{"non-ASCII digit", "424242424242424\u0662", msgNotDigits},
		{"Luhn visa", "4242424242424241", msgLuhn},
		{"Luhn amex", "378282246310006", msgLuhn},
		{"Luhn unknown", "1234567812345678", msgLuhn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			brand, err := Validate(tt.number)
			requireRefusal(t, err, tt.want, tt.number)
			if brand != "" {
				t.Fatalf("brand %q returned with an error", brand)
			}
		})
	}
}

// Every Luhn-valid number of 12 to 19 digits is a card (the contract's
// rule); a length the IIN's brand does not issue names no brand.
func TestValidateAcceptsEveryLengthAndNamesNoBrandForAnUnissuedOne(t *testing.T) {
	tests := []struct {
		name   string
		number string
	}{
		{"visa 15", numberOfLength("4", 15)},
		{"visa 14", numberOfLength("4", 14)},
		{"visa 12", numberOfLength("4", 12)},
		{"mastercard 15", numberOfLength("51", 15)},
		{"mastercard 17", numberOfLength("2221", 17)},
		{"amex 16", numberOfLength("37", 16)},
		{"amex 14", numberOfLength("34", 14)},
		{"discover 12", numberOfLength("6011", 12)},
		{"discover 15", numberOfLength("6011", 15)},
		{"discover co-brand 15", numberOfLength("622126", 15)},
		{"jcb 15", numberOfLength("3566", 15)},
		{"diners 13", numberOfLength("36", 13)},
		{"unionpay 15", numberOfLength("62", 15)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			brand, err := Validate(tt.number)
			if err != nil {
				t.Fatalf("Validate refused a Luhn-valid number of %d digits: %v", len(tt.number), err)
			}
			if brand != Unknown {
				t.Fatalf("brand = %q for a length it does not issue, want %q", brand, Unknown)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"4242424242424242", "4242424242424242"},
		{"4242 4242 4242 4242", "4242424242424242"},
		{"4242-4242-4242-4242", "4242424242424242"},
		{" 3782-822463 10005 ", "378282246310005"},
		{"", ""},
		{"- -", ""},
	}
	for _, tt := range tests {
		got, err := Normalize(tt.in)
		if err != nil {
			t.Fatalf("Normalize(%q): %v", tt.in, err)
		}
		if got != tt.want {
			t.Fatalf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeRefusesOtherCharacters(t *testing.T) {
	for _, in := range []string{
		"4242.4242.4242.4242",
		"4242\t4242424242424",
		"4242_4242_4242_4242",
		"4242\u00a04242424242424", // no-break space
		"4242\u20134242424242424", // en dash
		"424242424242424\u0662",   // Arabic-Indic digit two
		"42424242424242x4",
		"+4242424242424242",
		"4242424242424242\x00",
		"\xff",
	} {
		got, err := Normalize(in)
		requireRefusal(t, err, msgNotDigits, "4242424242424242")
		if got != "" {
			t.Fatalf("Normalize(%q) returned digits with an error", in)
		}
	}
}

func TestLuhn(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"4242424242424242", true},
		{"79927398713", true},
		{"0", true},
		{"00", true},
		{"18", true},
		{"4242424242424241", false},
		{"79927398710", false},
		{"1", false},
		{"", false},
		{"4242 4242 4242 4242", false},
		{"42424242424242a2", false},
	}
	for _, tt := range tests {
		if got := Luhn(tt.in); got != tt.want {
			t.Errorf("Luhn(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// Every single-digit change to a valid number must fail Luhn: the check
// digit's whole purpose is catching mistyped digits.
func TestLuhnCatchesEverySingleDigitError(t *testing.T) {
	valid := "4242424242424242"
	for i := range len(valid) {
		for d := byte('0'); d <= '9'; d++ {
			if d == valid[i] {
				continue
			}
			changed := valid[:i] + string(d) + valid[i+1:]
			if Luhn(changed) {
				t.Fatalf("Luhn accepts a one-digit change at position %d", i)
			}
		}
	}
}

func TestIINRangesMostSpecificFirst(t *testing.T) {
	for i := 1; i < len(iinRanges); i++ {
		if iinRanges[i].prefixLen > iinRanges[i-1].prefixLen {
			t.Fatalf("iinRanges[%d] (prefix %d) after a shorter prefix", i, iinRanges[i].prefixLen)
		}
	}
	for i, a := range iinRanges {
		if a.low > a.high {
			t.Fatalf("iinRanges[%d]: low > high", i)
		}
		for _, b := range iinRanges[i+1:] {
			if a.prefixLen == b.prefixLen && a.low <= b.high && b.low <= a.high {
				t.Fatalf("ranges %v and %v overlap", a, b)
			}
		}
	}
}

func TestValidateAndNormalizeTogether(t *testing.T) {
	digits, err := Normalize("3714-496353-98431")
	if err != nil {
		t.Fatal(err)
	}
	brand, err := Validate(digits)
	if err != nil || brand != Amex {
		t.Fatalf("Validate = %q, %v", brand, err)
	}
	if strings.ContainsAny(digits, " -") {
		t.Fatal("separators left in the digits")
	}
}
