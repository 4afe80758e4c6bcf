package card

import "github.com/cardvault/vault/shared/vaulterr"

// Caller-safe refusal messages. They are constants on purpose: a message
// built from the input could leak the number or the holder name into a
// response or a log line.
const (
	msgNotDigits     = "card number must contain only digits, spaces and dashes"
	msgLength        = "card number must have 12 to 19 digits"
	msgLuhn          = "card number fails the Luhn check"
	msgExpiryMonth   = "card expiry month must be 1 to 12"
	msgExpiryYear    = "card expiry year must have four digits"
	msgExpired       = "card has expired"
	msgHolderUTF8    = "holder name is not valid UTF-8"
	msgHolderLength  = "holder name must be at most 100 characters"
	msgHolderControl = "holder name must not contain control characters"
)

// invalid returns a fresh refusal, so no caller can alter an error another
// request will see.
func invalid(message string) error {
	return vaulterr.New(vaulterr.InvalidCard, message)
}
