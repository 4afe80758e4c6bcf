package card

import "testing"

func TestLuhnCheckDigitCompletesAValidNumber(t *testing.T) {
	for _, partial := range []string{"424242424242424", "555555555555444", "37828224631000", "0", "41111100000001"} {
		n := partial + string(LuhnCheckDigit(partial))
		if !Luhn(n) {
			t.Fatalf("%s + check digit fails Luhn", partial)
		}
	}
	if got := LuhnCheckDigit("424242424242424"); got != '2' {
		t.Fatalf("check digit of 424242424242424 = %c, want 2", got)
	}
}
