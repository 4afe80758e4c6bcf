package migrate

import (
	"errors"
	"strings"
	"testing"

	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

func TestLayoutOfEachFormat(t *testing.T) {
	for format, header := range map[string]string{
		FormatGeneric:  "number,exp_month,exp_year,holder_name,customer_id,reference",
		FormatStripe:   "card_number,card_exp_month,card_exp_year,name,old_customer_id,old_card_id",
		FormatSpreedly: "card_number,expiration_month,expiration_year,first_name,last_name,id",
	} {
		l, err := readLayout(strings.Split(header, ","), format, nil)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		for _, f := range []string{FieldNumber, FieldExpMonth, FieldExpYear, FieldReference} {
			if !l.has(f) {
				t.Errorf("%s: %s not mapped", format, f)
			}
		}
	}
	// Case, spaces and a byte order mark do not matter.
	if _, err := readLayout([]string{"\uFEFFNumber", " EXP_MONTH ", "Exp_Year"}, FormatGeneric, nil); err != nil {
		t.Fatal(err)
	}
}

func TestLayoutRefusals(t *testing.T) {
	code := func(err error) vaulterr.Code { return vaulterr.CodeOf(err) }
	for _, h := range []string{"cvc", "CVV", "cvv2", "Card_CVC"} {
		// The CVC check comes first, even when required columns are missing.
		if _, err := readLayout([]string{"a", h}, FormatGeneric, nil); code(err) != vaulterr.CVCNotAccepted {
			t.Errorf("%s: %v", h, err)
		}
	}
	if _, err := readLayout([]string{"number", "exp_month"}, FormatGeneric, nil); code(err) != vaulterr.InvalidImport {
		t.Errorf("missing exp_year: %v", err)
	}
	if _, err := readLayout([]string{"number", "exp_month", "exp_year", "Number"}, FormatGeneric, nil); code(err) != vaulterr.InvalidImport {
		t.Errorf("repeated header: %v", err)
	}
	_, err := readLayout([]string{"4242424242424242", "4242424242424242", "12", "2030"}, FormatGeneric, nil)
	if code(err) != vaulterr.InvalidImport || strings.Contains(err.Error(), "4242") {
		t.Errorf("a header row of card data: %v", err)
	}
	// An override naming a column the file lacks fails, even for an
	// optional field.
	if _, err := readLayout([]string{"number", "exp_month", "exp_year"}, FormatGeneric, map[string]string{"customer_id": "client"}); code(err) != vaulterr.InvalidImport {
		t.Errorf("missing overridden column: %v", err)
	}
	if err := CheckColumns(map[string]string{"cvv": "x"}); code(err) != vaulterr.Malformed {
		t.Errorf("unknown field: %v", err)
	}
}

func TestLinesAreBounded(t *testing.T) {
	r := &lineBound{r: strings.NewReader(strings.Repeat("x", 100) + "\n" + strings.Repeat("y", 200)), max: 150}
	buf := make([]byte, 1000)
	var err error
	for err == nil {
		_, err = r.Read(buf)
	}
	if !errors.Is(err, errLineTooLong) {
		t.Fatalf("long line: %v", err)
	}
}

func TestRepeatsOfACardGoInLaterWaves(t *testing.T) {
	rows := []row{
		{customerID: "c1", card: cardOf("4242 4242 4242 4242")},
		{customerID: "c1", card: cardOf("4242424242424242")},
		{customerID: "c2", card: cardOf("4242424242424242")},
		{reject: vaulterr.InvalidCard},
		{customerID: "c1", card: cardOf("4242-4242-4242-4242")},
	}
	w := waves(rows)
	if len(w) != 3 || len(w[0]) != 2 || w[0][0] != 0 || w[0][1] != 2 || w[1][0] != 1 || w[2][0] != 4 {
		t.Fatalf("waves %v", w)
	}
}

func cardOf(number string) vault.CardInput { return vault.CardInput{Number: secret.New(number)} }
