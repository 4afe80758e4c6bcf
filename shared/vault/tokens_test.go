package vault

import (
	"math"
	"strings"
	"testing"

	"github.com/cardvault/vault/shared/card"
)

// testNumber makes a Luhn-valid number of n digits from a seed.
func testNumber(n int, seed uint64) string {
	var b strings.Builder
	x := seed*6364136223846793005 + 1442695040888963407
	for b.Len() < n-1 {
		x = x*6364136223846793005 + 1442695040888963407
		b.WriteByte('0' + byte((x>>33)%10))
	}
	partial := b.String()
	return partial + string(card.LuhnCheckDigit(partial))
}

// TestCardTokenShape: same length, first 4 and last 4 kept, digits only,
// never Luhn-valid, and accepted as a token by the routes' check.
func TestCardTokenShape(t *testing.T) {
	for n := 12; n <= 19; n++ {
		for i := range 2000 {
			number := testNumber(n, uint64(n*100000+i))
			if !card.Luhn(number) {
				t.Fatal("test number not Luhn-valid")
			}
			tok, err := newCardToken(number)
			if err != nil {
				t.Fatal(err)
			}
			if len(tok) != n || tok[:4] != number[:4] || tok[n-4:] != number[n-4:] || !allDigits(tok) {
				t.Fatalf("%d-digit token has the wrong shape (len %d)", n, len(tok))
			}
			if card.Luhn(tok) {
				t.Fatalf("%d-digit token is Luhn-valid", n)
			}
			if !validToken(tok) || !isCardToken(tok) {
				t.Fatalf("%d-digit token refused by validToken", n)
			}
			if validToken(number) {
				t.Fatal("a card number passes as a token")
			}
		}
	}
	for _, bad := range []string{"", "42424242424", "42424242424242424242", "4242x24242424242"} {
		if _, err := newCardToken(bad); err == nil {
			t.Errorf("newCardToken(%d chars) made a token", len(bad))
		}
	}
}

// TestCardTokenMiddleIsUniform: every middle position takes each digit
// about equally often (chi-square over 10 cells, 9 degrees of freedom;
// 40 is passed by chance about once in two million runs, so the test
// does not flake across its eight positions).
func TestCardTokenMiddleIsUniform(t *testing.T) {
	const draws = 20000
	number := "4000056655665556"
	var counts [8][10]int
	for range draws {
		tok, err := newCardToken(number)
		if err != nil {
			t.Fatal(err)
		}
		for p := 4; p < 12; p++ {
			counts[p-4][tok[p]-'0']++
		}
	}
	for p, cells := range counts {
		chi := 0.0
		want := float64(draws) / 10
		for _, c := range cells {
			chi += math.Pow(float64(c)-want, 2) / want
		}
		// The Luhn rejection removes one middle in ten; spread over 8
		// positions it leaves each position's digits uniform.
		if chi > 40 {
			t.Errorf("middle position %d: chi-square %.1f over 10 digits (counts %v)", p, chi, cells)
		}
	}
}

func TestRandomDigitsUsesEveryDigit(t *testing.T) {
	buf := make([]byte, 100000)
	if err := randomDigits(buf); err != nil {
		t.Fatal(err)
	}
	var counts [10]int
	for _, c := range buf {
		if c < '0' || c > '9' {
			t.Fatalf("non-digit %q", c)
		}
		counts[c-'0']++
	}
	for d, c := range counts {
		if c < 9500 || c > 10500 {
			t.Errorf("digit %d drawn %d times of 100000", d, c)
		}
	}
}

func TestParseTokenFormat(t *testing.T) {
	for in, want := range map[string]TokenFormat{"": TokenFormatOpaque, "opaque": TokenFormatOpaque, "card": TokenFormatCard} {
		if got, ok := ParseTokenFormat(in); !ok || got != want {
			t.Errorf("ParseTokenFormat(%q) = %q, %v", in, got, ok)
		}
	}
	for _, in := range []string{"Card", "OPAQUE", "tok", "digits", " card"} {
		if _, ok := ParseTokenFormat(in); ok {
			t.Errorf("ParseTokenFormat(%q) accepted", in)
		}
	}
}
