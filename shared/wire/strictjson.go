package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode"
	"unicode/utf16"
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
// otherwise replace silently, and \u escapes that do not form valid UTF-16
// (a lone surrogate), which encoding/json would replace with U+FFFD.

var (
	errInvalidJSON   = errors.New("not valid JSON")
	errInvalidUTF8   = errors.New("not valid UTF-8")
	errNotObject     = errors.New("not a JSON object")
	errDuplicateName = errors.New("duplicate member name")
	errTooDeep       = errors.New("nested too deeply")
	errLoneSurrogate = errors.New("string escapes are not valid UTF-16 (lone surrogate)")
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

// lookup returns the raw value of the member called name, matched
// exactly.
func lookup(members []member, name string) ([]byte, bool) {
	for _, m := range members {
		if string(m.name) == name {
			return m.raw, true
		}
	}
	return nil, false
}

// parseStrictObject checks data as described above and returns the
// top-level members of the object, appended to dst. It is a complete JSON
// grammar check too (what json.Valid refuses, it refuses; what json.Valid
// accepts, it accepts unless a string's escapes are not valid UTF-16:
// FuzzStrictClaims holds it to that), done in the
// same pass that finds the members, because the request path reads three
// or four small documents per request and the extra pass of json.Valid
// cost more than the scan itself.
func parseStrictObject(data []byte, dst []member) ([]member, error) {
	if !utf8.Valid(data) {
		return nil, errInvalidUTF8
	}
	s := strictScanner{data: data}
	s.skipSpace()
	if s.pos == len(data) || data[s.pos] != '{' {
		if json.Valid(data) {
			return nil, errNotObject
		}
		return nil, errInvalidJSON
	}
	if err := s.object(1, &dst); err != nil {
		return nil, err
	}
	s.skipSpace()
	if s.pos != len(data) {
		return nil, errInvalidJSON
	}
	return dst, nil
}

// strictScanner walks a document, checking its syntax as it goes. Every
// read is bounds-checked: the input is whatever a client sent.
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

// next returns the byte at s.pos, or 0 at the end of the input (0 is
// never valid where a token is expected).
func (s *strictScanner) next() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

func (s *strictScanner) value(depth int) error {
	s.skipSpace()
	switch s.next() {
	case '{':
		return s.object(depth+1, nil)
	case '[':
		return s.array(depth + 1)
	case '"':
		_, err := s.str()
		return err
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		return s.number()
	}
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
	if s.next() == '}' {
		s.pos++
		return nil
	}
	for {
		s.skipSpace()
		if s.next() != '"' {
			return errInvalidJSON
		}
		tok, err := s.str()
		if err != nil {
			return err
		}
		name, err := unquote(tok)
		if err != nil {
			return err
		}
		if folded == nil && len(names) == smallObjectNames {
			// Past the small size: from here on, a map of folded names.
			folded = make(map[string]struct{}, 2*smallObjectNames)
			for _, n := range names {
				folded[string(foldName(n))] = struct{}{}
			}
		}
		if folded != nil {
			key := string(foldName(name))
			if _, dup := folded[key]; dup {
				return errDuplicateName
			}
			folded[key] = struct{}{}
		} else {
			for _, n := range names {
				if bytes.EqualFold(n, name) {
					return errDuplicateName
				}
			}
			names = append(names, name)
		}

		s.skipSpace()
		if s.next() != ':' {
			return errInvalidJSON
		}
		s.pos++
		s.skipSpace()
		start := s.pos
		if err := s.value(depth); err != nil {
			return err
		}
		if top != nil {
			*top = append(*top, member{name: name, raw: s.data[start:s.pos]})
		}
		s.skipSpace()
		switch s.next() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return errInvalidJSON
		}
	}
}

func (s *strictScanner) array(depth int) error {
	if depth > maxJSONDepth {
		return errTooDeep
	}
	s.pos++ // '['
	s.skipSpace()
	if s.next() == ']' {
		s.pos++
		return nil
	}
	for {
		if err := s.value(depth); err != nil {
			return err
		}
		s.skipSpace()
		switch s.next() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return errInvalidJSON
		}
	}
}

// str scans the string token at s.pos and returns it, quotes included.
func (s *strictScanner) str() ([]byte, error) {
	start := s.pos
	s.pos++ // opening quote
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; {
		case c == '"':
			s.pos++
			return s.data[start:s.pos], nil
		case c == '\\':
			if s.pos+1 >= len(s.data) {
				return nil, errInvalidJSON
			}
			switch s.data[s.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos += 2
			case 'u':
				if err := s.unicodeEscape(); err != nil {
					return nil, err
				}
			default:
				return nil, errInvalidJSON
			}
		case c < 0x20:
			return nil, errInvalidJSON // control characters must be escaped
		default:
			s.pos++
		}
	}
	return nil, errInvalidJSON // unterminated
}

// unicodeEscape consumes the \uXXXX escape at s.pos, and the one after it
// when the first is the high half of a surrogate pair. The escapes of a
// string must form valid UTF-16: a lone high or low surrogate is refused,
// where encoding/json would silently turn it into U+FFFD and the vault
// would keep something other than what the client signed.
func (s *strictScanner) unicodeEscape() error {
	r, ok := s.hex4(s.pos)
	if !ok {
		return errInvalidJSON
	}
	s.pos += 6
	switch {
	case utf16.IsSurrogate(r) && r < 0xDC00: // high half: a low half must follow
		if s.pos+1 >= len(s.data) || s.data[s.pos] != '\\' || s.data[s.pos+1] != 'u' {
			return errLoneSurrogate
		}
		low, ok := s.hex4(s.pos)
		if !ok {
			return errInvalidJSON
		}
		if utf16.DecodeRune(r, low) == unicode.ReplacementChar {
			return errLoneSurrogate
		}
		s.pos += 6
	case utf16.IsSurrogate(r): // a low half with no high half before it
		return errLoneSurrogate
	}
	return nil
}

// hex4 reads the code unit of the \uXXXX escape at i.
func (s *strictScanner) hex4(i int) (rune, bool) {
	if i+6 > len(s.data) || !isHex4(s.data[i+2:i+6]) {
		return 0, false
	}
	var r rune
	for _, c := range s.data[i+2 : i+6] {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func (s *strictScanner) literal(word string) error {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(word)) {
		return errInvalidJSON
	}
	s.pos += len(word)
	return nil
}

// number scans -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?; whatever
// follows is the caller's to judge (a delimiter, or the end).
func (s *strictScanner) number() error {
	d, p := s.data, s.pos
	digits := func() bool {
		begin := p
		for p < len(d) && '0' <= d[p] && d[p] <= '9' {
			p++
		}
		return p > begin
	}
	if p < len(d) && d[p] == '-' {
		p++
	}
	switch {
	case p < len(d) && d[p] == '0':
		p++
	case !digits():
		return errInvalidJSON
	}
	if p < len(d) && d[p] == '.' {
		p++
		if !digits() {
			return errInvalidJSON
		}
	}
	if p < len(d) && (d[p] == 'e' || d[p] == 'E') {
		p++
		if p < len(d) && (d[p] == '+' || d[p] == '-') {
			p++
		}
		if !digits() {
			return errInvalidJSON
		}
	}
	s.pos = p
	return nil
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
