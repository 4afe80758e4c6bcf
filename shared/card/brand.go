package card

// Brand is the card scheme recognised from the number's issuer
// identification number (IIN). It is reported in the masked view and decides
// which lengths a number may have.
type Brand string

// The recognised brands. Unknown is a valid result: a Luhn-valid number of
// 12 to 19 digits whose IIN the vault does not recognise is still accepted,
// because scheme tables change faster than deployments and refusing a real
// card is worse than labelling it "unknown".
const (
	Visa       Brand = "visa"
	Mastercard Brand = "mastercard"
	Amex       Brand = "amex"
	Discover   Brand = "discover"
	JCB        Brand = "jcb"
	Diners     Brand = "diners"
	UnionPay   Brand = "unionpay"
	Maestro    Brand = "maestro"
	Unknown    Brand = "unknown"
)

// iinRange maps the numbers whose first prefixLen digits lie in [low, high]
// to a brand.
type iinRange struct {
	prefixLen int
	low, high int
	brand     Brand
}

// iinRanges is ordered from the longest prefix to the shortest, so the most
// specific range wins: brandOf returns the first match.
//
// Discover and UnionPay overlap on 622126-622925: those are UnionPay cards
// co-branded for acceptance on the Discover network. The vault reports them
// as discover, the scheme whose IIN table lists the range explicitly; both
// brands allow 16 to 19 digits, so the choice changes the label only, never
// whether a number is accepted.
var iinRanges = []iinRange{
	{6, 622126, 622925, Discover},
	{4, 6011, 6011, Discover},
	{4, 2221, 2720, Mastercard},
	{4, 3528, 3589, JCB},
	{4, 3095, 3095, Diners},
	{4, 5018, 5018, Maestro},
	{4, 5020, 5020, Maestro},
	{4, 5038, 5038, Maestro},
	{4, 5893, 5893, Maestro},
	{4, 6304, 6304, Maestro},
	{4, 6759, 6759, Maestro},
	{4, 6761, 6763, Maestro},
	{3, 300, 305, Diners},
	{3, 644, 649, Discover},
	{2, 34, 34, Amex},
	{2, 36, 36, Diners},
	{2, 37, 37, Amex},
	{2, 38, 39, Diners},
	{2, 51, 55, Mastercard},
	{2, 62, 62, UnionPay},
	{2, 65, 65, Discover},
	{1, 4, 4, Visa},
}

// brandOf recognises the brand of a string of ASCII digits.
func brandOf(digits string) Brand {
	for _, r := range iinRanges {
		if len(digits) < r.prefixLen {
			continue
		}
		if p := prefixValue(digits, r.prefixLen); p >= r.low && p <= r.high {
			return r.brand
		}
	}
	return Unknown
}

// prefixValue is the integer value of the first n digits.
func prefixValue(digits string, n int) int {
	v := 0
	for i := range n {
		v = v*10 + int(digits[i]-'0')
	}
	return v
}

// acceptsLength reports whether the brand issues numbers of n digits. An
// unknown brand accepts the whole 12..19 range the contract allows.
func (b Brand) acceptsLength(n int) bool {
	switch b {
	case Visa:
		return n == 13 || n == 16 || n == 19
	case Mastercard:
		return n == 16
	case Amex:
		return n == 15
	case Discover, JCB, UnionPay:
		return n >= 16 && n <= 19
	case Diners:
		return n >= 14 && n <= 19
	default: // Maestro, Unknown
		return n >= minDigits && n <= maxDigits
	}
}
