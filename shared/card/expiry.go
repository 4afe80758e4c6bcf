package card

import "time"

// CheckExpiry refuses an impossible or past expiry date. A card is valid
// through the last instant of its expiry month in UTC: the schemes print
// only month and year, and UTC keeps the answer the same in every region the
// vault runs in. The year must have four digits, as the contract says; a
// two-digit year is refused rather than guessed at.
func CheckExpiry(month, year int, now time.Time) error {
	if month < 1 || month > 12 {
		return invalid(msgExpiryMonth)
	}
	if year < 1000 || year > 9999 {
		return invalid(msgExpiryYear)
	}
	// time.Date normalises month 13 to January of the next year.
	firstInstantAfter := time.Date(year, time.Month(month)+1, 1, 0, 0, 0, 0, time.UTC)
	if !now.Before(firstInstantAfter) {
		return invalid(msgExpired)
	}
	return nil
}
