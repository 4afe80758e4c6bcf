package card

import (
	"testing"
	"time"
)

func TestCheckExpiry(t *testing.T) {
	utc := func(y int, m time.Month, d, h, min, s, ns int) time.Time {
		return time.Date(y, m, d, h, min, s, ns, time.UTC)
	}
	tokyo := time.FixedZone("UTC+9", 9*3600)
	tests := []struct {
		name        string
		month, year int
		now         time.Time
		want        string // "" for accepted
	}{
		{"future", 12, 2030, utc(2026, 11, 22, 10, 0, 0, 0), ""},
		{"first day of expiry month", 11, 2026, utc(2026, 11, 1, 0, 0, 0, 0), ""},
		{"last day of expiry month", 11, 2026, utc(2026, 11, 30, 12, 0, 0, 0), ""},
		{"last instant of expiry month", 11, 2026, utc(2026, 11, 30, 23, 59, 59, 999999999), ""},
		{"first instant of next month", 11, 2026, utc(2026, 12, 1, 0, 0, 0, 0), msgExpired},
		{"next month", 11, 2026, utc(2026, 12, 15, 0, 0, 0, 0), msgExpired},
		{"december through year end", 12, 2026, utc(2026, 12, 31, 23, 59, 59, 999999999), ""},
		{"december refused in January", 12, 2026, utc(2027, 1, 1, 0, 0, 0, 0), msgExpired},
		{"february in leap year", 2, 2028, utc(2028, 2, 29, 23, 0, 0, 0), ""},
		{"february over in leap year", 2, 2028, utc(2028, 3, 1, 0, 0, 0, 0), msgExpired},
		{"years ago", 1, 2020, utc(2026, 11, 22, 0, 0, 0, 0), msgExpired},
		// Expiry is judged in UTC whatever zone the clock reports in:
		// 2026-12-01 08:00 in UTC+9 is still November in UTC.
		{"zone ahead of UTC, still valid", 11, 2026, time.Date(2026, 12, 1, 8, 0, 0, 0, tokyo), ""},
		{"zone ahead of UTC, expired", 11, 2026, time.Date(2026, 12, 1, 9, 0, 0, 0, tokyo), msgExpired},
		{"month 0", 0, 2030, utc(2026, 1, 1, 0, 0, 0, 0), msgExpiryMonth},
		{"month 13", 13, 2030, utc(2026, 1, 1, 0, 0, 0, 0), msgExpiryMonth},
		{"month negative", -1, 2030, utc(2026, 1, 1, 0, 0, 0, 0), msgExpiryMonth},
		{"two-digit year", 12, 30, utc(2026, 1, 1, 0, 0, 0, 0), msgExpiryYear},
		{"three-digit year", 12, 999, utc(2026, 1, 1, 0, 0, 0, 0), msgExpiryYear},
		{"five-digit year", 12, 12345, utc(2026, 1, 1, 0, 0, 0, 0), msgExpiryYear},
		{"negative year", 12, -2030, utc(2026, 1, 1, 0, 0, 0, 0), msgExpiryYear},
		{"year 2099", 12, 2099, utc(2026, 1, 1, 0, 0, 0, 0), ""},
		{"year 9999", 12, 9999, utc(2026, 1, 1, 0, 0, 0, 0), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckExpiry(tt.month, tt.year, tt.now)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckExpiry(%d, %d) = %v, want nil", tt.month, tt.year, err)
				}
				return
			}
			requireRefusal(t, err, tt.want, "")
		})
	}
}
