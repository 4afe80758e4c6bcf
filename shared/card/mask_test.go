package card

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestMaskContractExample(t *testing.T) {
	got := Mask("4242424242424242", Visa, 12, 2030)
	want := Masked{First4: "4242", Last4: "4242", Display: "4242 **** **** 4242", Brand: Visa, ExpMonth: 12, ExpYear: 2030}
	if got != want {
		t.Fatalf("Mask = %+v, want %+v", got, want)
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	const wantJSON = `{"first4":"4242","last4":"4242","display":"4242 **** **** 4242","brand":"visa","exp_month":12,"exp_year":2030}`
	if string(b) != wantJSON {
		t.Fatalf("JSON = %s, want %s", b, wantJSON)
	}
}

func TestMaskDisplayByLength(t *testing.T) {
	tests := []struct {
		digits, want string
	}{
		{"424242424242", "4242 **** 4242"},
		{"4222222222222", "4222 **** * 2222"},
		{"36227206271667", "3622 **** ** 1667"},
		{"378282246310005", "3782 **** *** 0005"},
		{"5555555555554444", "5555 **** **** 4444"},
		{"62000000000000051", "6200 **** **** * 0051"},
		{"620000000000000512", "6200 **** **** ** 0512"},
		{"6205500000000000004", "6205 **** **** *** 0004"},
	}
	for _, tt := range tests {
		if got := Mask(tt.digits, Unknown, 1, 2030).Display; got != tt.want {
			t.Errorf("Mask(%d digits).Display = %q, want %q", len(tt.digits), got, tt.want)
		}
	}
}

// For every allowed length, the masked view shows exactly the first 4 and
// last 4 digits and no other digit, in any field.
func TestMaskNeverShowsMoreThanEightDigits(t *testing.T) {
	for n := minDigits; n <= maxDigits; n++ {
		// Distinct middle digits, so any leaked one would be visible.
		digits := "1234" + strings.Repeat("9", n-8) + "5678"
		m := Mask(digits, Unknown, 1, 2030)
		assertMaskReveals(t, digits, m)
	}
}

func TestMaskOfInvalidInputRevealsNothing(t *testing.T) {
	for _, in := range []string{"", "4242", "42424242", "42424242424", "42424242424242424242", "4242 4242 4242 4242", "42424242x4242424"} {
		m := Mask(in, Unknown, 1, 2030)
		if m.First4 != "" || m.Last4 != "" || m.Display != "****" {
			t.Fatalf("Mask(%q) = %+v, want nothing revealed", in, m)
		}
	}
}

// assertMaskReveals checks that m shows digits' first and last four and not
// one digit more.
func assertMaskReveals(t *testing.T, digits string, m Masked) {
	t.Helper()
	n := len(digits)
	if m.First4 != digits[:4] || m.Last4 != digits[n-4:] {
		t.Fatalf("First4/Last4 = %q/%q for %d digits", m.First4, m.Last4, n)
	}
	if !strings.HasPrefix(m.Display, digits[:4]+" ") || !strings.HasSuffix(m.Display, " "+digits[n-4:]) {
		t.Fatalf("Display %q does not frame the first and last four", m.Display)
	}
	middle := m.Display[4 : len(m.Display)-4]
	if strings.Trim(middle, " *") != "" {
		t.Fatalf("Display %q shows more than first 4 and last 4", m.Display)
	}
	if stars := strings.Count(middle, "*"); stars != n-8 {
		t.Fatalf("Display %q has %d stars for %d hidden digits", m.Display, stars, n-8)
	}
	shown := 0
	for _, c := range m.Display {
		if c >= '0' && c <= '9' {
			shown++
		}
	}
	if shown != 8 {
		t.Fatalf("Display %q shows %d digits", m.Display, shown)
	}
}
