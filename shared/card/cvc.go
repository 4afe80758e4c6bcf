package card

import (
	"bytes"
	"encoding/json"
	"strings"
)

// FindCVC reports whether the JSON object cardJSON (the "card" claim) has a
// member named cvc, cvv or cvv2, in any letter case, at any depth. The
// contract refuses such a card wherever the code is nested, so a card
// verification code can never reach storage. Only member names count: a
// string value "cvc" does not.
//
// It reads the JSON as a stream of tokens, so it sees every member,
// duplicate names included, and stops at the first forbidden one. On
// malformed JSON it reports what it found before the error; the caller
// parses the card claim itself and refuses malformed JSON on its own.
func FindCVC(cardJSON []byte) bool {
	if !mayNameVerificationCode(cardJSON) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(cardJSON))
	var open []container
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			open = open[:len(open)-1]
			continue
		}
		if n := len(open); n > 0 && open[n-1].object {
			top := &open[n-1]
			if top.expectName {
				// Member names are always strings; the decoder refuses
				// anything else before returning it.
				if name, _ := tok.(string); isVerificationCode(name) {
					return true
				}
				top.expectName = false
				continue
			}
			// This token is a member's value (or opens one); a name
			// follows it.
			top.expectName = true
		}
		if d, ok := tok.(json.Delim); ok {
			open = append(open, container{object: d == '{', expectName: d == '{'})
		}
	}
}

// container is one open JSON object or array while scanning for member
// names.
type container struct {
	object     bool
	expectName bool // for an object: the next token is a member name
}

// mayNameVerificationCode is a cheap, sound pre-filter that spares almost
// every request the token scan: a member named cvc, cvv or cvv2 is spelled
// in the bytes either with an escape sequence (a backslash) or as "cvc" or
// "cvv" in some letter case. No non-ASCII letter case-folds to c or v, so
// ASCII folding is enough.
func mayNameVerificationCode(data []byte) bool {
	if bytes.IndexByte(data, '\\') >= 0 {
		return true
	}
	for i := 0; i+3 <= len(data); i++ {
		if data[i]|0x20 == 'c' && data[i+1]|0x20 == 'v' {
			if c := data[i+2] | 0x20; c == 'c' || c == 'v' {
				return true
			}
		}
	}
	return false
}

func isVerificationCode(name string) bool {
	return strings.EqualFold(name, "cvc") ||
		strings.EqualFold(name, "cvv") ||
		strings.EqualFold(name, "cvv2")
}
