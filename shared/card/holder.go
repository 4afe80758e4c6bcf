package card

import (
	"unicode"
	"unicode/utf8"
)

// maxHolderNameRunes is the contract's limit, counted in characters (runes),
// not bytes, so names in non-Latin scripts get the same room.
const maxHolderNameRunes = 100

// CheckHolderName accepts an optional cardholder name: empty, or valid UTF-8
// of at most 100 characters with no control characters. Control characters
// (Unicode category Cc: C0, DEL, C1) have no place in a printed name and
// would corrupt the name when it is later rendered or exported. Format
// characters such as the zero-width joiner are allowed because several
// scripts need them to spell names.
func CheckHolderName(name string) error {
	if !utf8.ValidString(name) {
		return invalid(msgHolderUTF8)
	}
	if utf8.RuneCountInString(name) > maxHolderNameRunes {
		return invalid(msgHolderLength)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return invalid(msgHolderControl)
		}
	}
	return nil
}
