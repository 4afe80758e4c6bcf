package card

import "strings"

// The lengths the contract allows for a card number.
const (
	minDigits = 12
	maxDigits = 19
)

// Normalize strips the spaces and dashes people type into card numbers and
// returns the digits. Any other character that is not an ASCII digit is
// refused rather than dropped, so a mangled number is never silently turned
// into a different valid-looking one.
func Normalize(number string) (string, error) {
	var b strings.Builder
	b.Grow(min(len(number), maxDigits+1))
	for i := 0; i < len(number); i++ {
		switch c := number[i]; {
		case c >= '0' && c <= '9':
			b.WriteByte(c)
		case c == ' ' || c == '-':
		default:
			return "", invalid(msgNotDigits)
		}
	}
	return b.String(), nil
}

// Validate checks a normalized card number: ASCII digits only, 12 to 19 of
// them and a correct Luhn check digit, the contract's whole rule. It
// returns the brand: the one the IIN names when the number has a length
// that brand issues, otherwise Unknown. A length a brand does not issue
// is no reason to refuse a card: issuers' ranges and lengths change
// (Visa's 19 digits, Mastercard's 2-series, co-brands) faster than any
// table of them, and the contract accepts every Luhn-valid number of 12 to
// 19 digits.
func Validate(digits string) (Brand, error) {
	if len(digits) < minDigits || len(digits) > maxDigits {
		return "", invalid(msgLength)
	}
	if !allDigits(digits) {
		return "", invalid(msgNotDigits)
	}
	if !Luhn(digits) {
		return "", invalid(msgLuhn)
	}
	brand := brandOf(digits)
	if !brand.acceptsLength(len(digits)) {
		brand = Unknown
	}
	return brand, nil
}

// Luhn reports whether digits, a non-empty string of ASCII digits, ends in a
// correct Luhn (mod 10) check digit. Any other input is false.
func Luhn(digits string) bool {
	if digits == "" {
		return false
	}
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		c := digits[i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// LuhnCheckDigit is the digit that makes partial (ASCII digits only)
// Luhn-valid when appended: for test card numbers and load generators.
func LuhnCheckDigit(partial string) byte {
	sum, double := 0, true
	for i := len(partial) - 1; i >= 0; i-- {
		d := int(partial[i] - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return byte('0' + (10-sum%10)%10)
}
