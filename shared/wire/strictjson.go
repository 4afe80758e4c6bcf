package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode"
	"unicode/utf8"
)

// Strict JSON reading for signed documents.
//
// Two parsers that read the same bytes differently are a classic way to
// smuggle a claim past a check: {"merchant_id":"a","merchant_id":"b"} is "a"
// to one library and "b" to another. encoding/json also matches struct
// fields case-insensitively, so "Merchant_ID" can stand in for
// "merchant_id". The vault therefore refuses, anywhere in a document, two
// member names of one object that encoding/json could confuse (equal under
// its case folding), and refuses invalid UTF-8, which encoding/json would
// otherwise replace silently.

var (
	errInvalidJSON   = errors.New("not valid JSON")
	errInvalidUTF8   = errors.New("not valid UTF-8")
	errNotObject     = errors.New("not a JSON object")
	errDuplicateName = errors.New("duplicate member name")
	errTooDeep       = errors.New("nested too deeply")
)

// maxJSONDepth bounds nesting: no claim set or header of the contract comes
// near it, and it keeps the recursive scan's stack small.
const maxJSONDepth = 32

// smallObjectNames is the member count up to which duplicates are found by
// pairwise comparison (no allocation); larger objects switch to a map so an
// object with thousands of members costs linear, not quadratic, time.
const smallObjectNames = 16

// member is one top-level member of an object: its unescaped name and the
// raw bytes of its value (a sub-slice of the document, not a copy).
type member struct {
	name []byte
	raw  []byte
}

// parseStrictObject checks data as described above and returns the
// top-level members of the object, appended to dst.
func parseStrictObject(data []byte, dst []member) ([]member, error) {
	if !utf8.Valid(data) {
		return nil, errInvalidUTF8
	}
	if !json.Valid(data) {
		return nil, errInvalidJSON
	}
	s := strictScanner{data: data}
	s.skipSpace()
	if s.data[s.pos] != '{' {
		return nil, errNotObject
	}
	if err := s.object(1, &dst); err != nil {
		return nil, err
	}
	return dst, nil
}

// strictScanner walks a document that json.Valid already accepted, so it
// only has to find boundaries, never to diagnose syntax.
type strictScanner struct {
	data []byte
	pos  int
}

func (s *strictScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *strictScanner) value(depth int) error {
	s.skipSpace()
	switch s.data[s.pos] {
	case '{':
		return s.object(depth+1, nil)
	case '[':
		return s.array(depth + 1)
	case '"':
		s.str()
	default:
		s.scalar()
	}
	return nil
}

// object scans the object at s.pos; when top is not nil it collects the
// object's members into it.
func (s *strictScanner) object(depth int, top *[]member) error {
	if depth > maxJSONDepth {
		return errTooDeep
	}
	s.pos++ // '{'
	var small [smallObjectNames][]byte
	names := small[:0]
	var folded map[string]struct{}

	s.skipSpace()
	if s.data[s.pos] == '}' {
		s.pos++
		return nil
	}
	for {
		s.skipSpace()
		name, err := unquote(s.str())
		if err != nil {
			return err
		}
		switch {
		case folded != nil:
			key := string(foldName(name))
			if _, dup := folded[key]; dup {
				return errDuplicateName
			}
			folded[key] = struct{}{}
		case len(names) < smallObjectNames:
			for _, n := range names {
				if bytes.EqualFold(n, name) {
					return errDuplicateName
				}
			}
			names = append(names, name)
		default:
			folded = make(map[string]struct{}, 2*smallObjectNames)
			for _, n := range names {
				folded[string(foldName(n))] = struct{}{}
			}
			key := string(foldName(name))
			if _, dup := folded[key]; dup {
				return errDuplicateName
			}
			folded[key] = struct{}{}
		}

		s.skipSpace()
		s.pos++ // ':'
		s.skipSpace()
		start := s.pos
		if err := s.value(depth); err != nil {
			return err
		}
		if top != nil {
			*top = append(*top, member{name: name, raw: s.data[start:s.pos]})
		}
		s.skipSpace()
		if s.data[s.pos] == ',' {
			s.pos++
			continue
		}
		s.pos++ // '}'
		return nil
	}
}

func (s *strictScanner) array(depth int) error {
	if depth > maxJSONDepth {
		return errTooDeep
	}
	s.pos++ // '['
	s.skipSpace()
	if s.data[s.pos] == ']' {
		s.pos++
		return nil
	}
	for {
		if err := s.value(depth); err != nil {
			return err
		}
		s.skipSpace()
		if s.data[s.pos] == ',' {
			s.pos++
			continue
		}
		s.pos++ // ']'
		return nil
	}
}

// str returns the string token at s.pos, quotes included.
func (s *strictScanner) str() []byte {
	start := s.pos
	s.pos++ // opening quote
	for {
		switch s.data[s.pos] {
		case '\\':
			s.pos += 2
		case '"':
			s.pos++
			return s.data[start:s.pos]
		default:
			s.pos++
		}
	}
}

func (s *strictScanner) scalar() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return
		}
		s.pos++
	}
}

// unquote returns the content of a JSON string token. The common case, no
// escapes, costs nothing; escaped text goes through encoding/json.
func unquote(tok []byte) ([]byte, error) {
	inner := tok[1 : len(tok)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner, nil
	}
	var v string
	if err := json.Unmarshal(tok, &v); err != nil {
		return nil, errInvalidJSON
	}
	return []byte(v), nil
}

// jsonString returns the value of a raw JSON value if it is a string.
func jsonString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	v, err := unquote(raw)
	if err != nil {
		return "", false
	}
	return string(v), true
}

// foldName maps names that bytes.EqualFold (and so encoding/json's field
// matching) considers equal to the same bytes.
func foldName(in []byte) []byte {
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); {
		if c := in[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(in[i:])
		out = utf8.AppendRune(out, foldRune(r))
		i += n
	}
	return out
}

// foldRune returns the smallest rune of r's case-folding orbit.
func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}
