package migrate

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cardvault/vault/shared/vaulterr"
)

// The vault's field names an import maps CSV columns to.
const (
	FieldNumber     = "number"
	FieldExpMonth   = "exp_month"
	FieldExpYear    = "exp_year"
	FieldHolderName = "holder_name"
	FieldFirstName  = "first_name"
	FieldLastName   = "last_name"
	FieldCustomerID = "customer_id"
	FieldReference  = "reference"
)

var allFields = []string{FieldNumber, FieldExpMonth, FieldExpYear, FieldHolderName, FieldFirstName, FieldLastName, FieldCustomerID, FieldReference}

// requiredFields must be columns of every import file.
var requiredFields = []string{FieldNumber, FieldExpMonth, FieldExpYear}

// Import formats: the header names each provider's export uses.
const (
	FormatGeneric  = "generic"
	FormatStripe   = "stripe"
	FormatSpreedly = "spreedly"
)

var formats = map[string]map[string]string{
	FormatGeneric: {
		FieldNumber: "number", FieldExpMonth: "exp_month", FieldExpYear: "exp_year",
		FieldHolderName: "holder_name", FieldFirstName: "first_name", FieldLastName: "last_name",
		FieldCustomerID: "customer_id", FieldReference: "reference",
	},
	FormatStripe: {
		FieldNumber: "card_number", FieldExpMonth: "card_exp_month", FieldExpYear: "card_exp_year",
		FieldHolderName: "name", FieldCustomerID: "old_customer_id", FieldReference: "old_card_id",
	},
	FormatSpreedly: {
		FieldNumber: "card_number", FieldExpMonth: "expiration_month", FieldExpYear: "expiration_year",
		FieldFirstName: "first_name", FieldLastName: "last_name", FieldReference: "id",
	},
}

// cvcHeaders are the column names that refuse a whole file: card
// verification codes are never accepted, not even to be ignored.
var cvcHeaders = map[string]bool{"cvc": true, "cvv": true, "cvv2": true, "card_cvc": true}

// ValidFormat reports whether format names an import format.
func ValidFormat(format string) bool { _, ok := formats[format]; return ok }

// CheckColumns refuses a columns override naming an unknown field or an
// empty header (400 malformed_request).
func CheckColumns(columns map[string]string) error {
	for field, header := range columns {
		if !isField(field) {
			return vaulterr.New(vaulterr.Malformed, "claim columns names an unknown field; fields are "+strings.Join(allFields, ", "))
		}
		if strings.TrimSpace(header) == "" || len(header) > 128 {
			return vaulterr.New(vaulterr.Malformed, "claim columns maps a field to an empty or overlong header name")
		}
	}
	return nil
}

func isField(name string) bool {
	for _, f := range allFields {
		if f == name {
			return true
		}
	}
	return false
}

// layout is where each field is in a file's rows (-1: absent).
type layout struct {
	index map[string]int
	width int
}

func (l layout) get(row []string, field string) string {
	i, ok := l.index[field]
	if !ok || i >= len(row) {
		return ""
	}
	return strings.TrimSpace(row[i])
}

func (l layout) has(field string) bool { _, ok := l.index[field]; return ok }

// normalizeHeader compares header names without case or surrounding space;
// the first header may carry a UTF-8 byte order mark.
func normalizeHeader(h string) string {
	return strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF")))
}

// readLayout maps a header row to fields. A CVC column refuses the file
// (cvc_not_accepted) before anything else is looked at; a missing
// required column, a column the override names that is absent, or a
// header named twice fails it (invalid_import).
func readLayout(header []string, format string, columns map[string]string) (layout, error) {
	names := make(map[string]int, len(header))
	for _, h := range header {
		n := normalizeHeader(h)
		if cvcHeaders[n] {
			return layout{}, vaulterr.New(vaulterr.CVCNotAccepted, "the file has a card verification code column ("+n+"); card verification codes are never accepted")
		}
	}
	for i, h := range header {
		n := normalizeHeader(h)
		if n == "" {
			continue
		}
		if _, dup := names[n]; dup {
			// The name itself is not quoted: a file without a header row
			// has card data where the names should be.
			return layout{}, vaulterr.New(vaulterr.InvalidImport, fmt.Sprintf("header column %d repeats an earlier column's name", i+1))
		}
		names[n] = i
	}
	mapping := make(map[string]string, len(allFields))
	for f, h := range formats[format] {
		mapping[f] = h
	}
	for f, h := range columns {
		mapping[f] = h
	}
	l := layout{index: make(map[string]int, len(mapping)), width: len(header)}
	var missing []string
	for field, h := range mapping {
		i, ok := names[normalizeHeader(h)]
		if !ok {
			_, overridden := columns[field]
			if overridden || isRequired(field) {
				missing = append(missing, h)
			}
			continue
		}
		l.index[field] = i
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return layout{}, vaulterr.New(vaulterr.InvalidImport, fmt.Sprintf("the header lacks column(s) %s (format %s)", quoteAll(missing), format))
	}
	return l, nil
}

func isRequired(field string) bool {
	for _, f := range requiredFields {
		if f == field {
			return true
		}
	}
	return false
}

// quote shows an expected header name (from the format or the columns
// claim, never from the file) in a message, bounded and printable.
func quote(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return fmt.Sprintf("%q", strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s))
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quote(n)
	}
	return strings.Join(q, ", ")
}
