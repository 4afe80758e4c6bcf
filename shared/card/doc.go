// Package card validates, classifies and masks payment card data for the
// vault_card operation.
//
// Everything here is a pure function of its arguments: no I/O, no clock
// (callers pass the time), no logging. Every error is a *vaulterr.Error with
// code invalid_card and a constant message, so a refusal can be returned to
// the caller and logged as it is: no message ever carries the card number or
// the holder name.
package card
