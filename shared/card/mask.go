package card

import "strings"

// Masked is the view of a card that may be stored in clear beside its
// ciphertext and shown to dashboards: never more than the first 4 and the
// last 4 digits.
type Masked struct {
	First4   string `json:"first4"`
	Last4    string `json:"last4"`
	Display  string `json:"display"`
	Brand    Brand  `json:"brand"`
	ExpMonth int    `json:"exp_month"`
	ExpYear  int    `json:"exp_year"`
}

// Mask builds the masked view of a validated number.
//
// Display is the first 4 digits, the hidden middle digits as stars grouped
// in fours, and the last 4 digits, separated by spaces: "4242 **** **** 4242"
// for 16 digits, "3782 **** *** 0005" for 15, "4242 **** 4242" for 12. It
// shows the number's length, which the brand largely gives away anyway, and
// nothing more. Given anything but 12 to 19 ASCII digits (a caller bug, since
// numbers are validated first) Mask reveals no digit at all and Display is
// "****".
func Mask(digits string, brand Brand, expMonth, expYear int) Masked {
	m := Masked{Brand: brand, ExpMonth: expMonth, ExpYear: expYear}
	n := len(digits)
	if n < minDigits || n > maxDigits || !allDigits(digits) {
		m.Display = "****"
		return m
	}
	m.First4 = digits[:4]
	m.Last4 = digits[n-4:]

	var b strings.Builder
	b.Grow(n + 4)
	b.WriteString(m.First4)
	for i := range n - 8 {
		if i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('*')
	}
	b.WriteByte(' ')
	b.WriteString(m.Last4)
	m.Display = b.String()
	return m
}
