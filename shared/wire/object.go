package wire

import (
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"
)

var (
	// errIllTyped is a member present with a value of the wrong JSON type.
	errIllTyped = errors.New("member of the wrong type")
	// errCaseVariant is a member whose name differs from the one read only
	// in case (VALUE for value): encoding/json would have taken it for
	// that member, and a client that sent it means something by it, so it
	// is refused rather than ignored.
	errCaseVariant = errors.New("member name differs from an expected one only in case")
)

// Object is a JSON object of a verified payload, split into its members
// by the strict scan. Operations read their claims through it rather than
// encoding/json, which would decode the payload a second time and match
// member names case-insensitively. Names here match exactly; a member
// whose name differs from the one asked for only in case is an error, not
// a match and not an unknown member; and a member whose value is null
// counts as absent, as encoding/json leaves a pointer field nil for it.
type Object struct{ members []member }

// Claims returns the payload's top-level claims as an Object.
func (r *Request) Claims() Object { return Object{members: r.members} }

// raw returns member name's raw value; present is false when it is
// absent or null, err is set when a member's name differs from name only
// in case.
func (o Object) raw(name string) (raw []byte, present bool, err error) {
	for _, m := range o.members {
		if string(m.name) == name {
			if string(m.raw) == "null" {
				return nil, false, nil
			}
			return m.raw, true, nil
		}
		if equalFold(m.name, name) {
			return nil, true, errCaseVariant
		}
	}
	return nil, false, nil
}

// equalFold reports whether name and want are equal under Unicode case
// folding, as encoding/json matches member names to fields (so the Kelvin
// sign stands for k). The common case, ASCII, costs no allocation.
func equalFold(name []byte, want string) bool {
	ascii := true
	for _, c := range name {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if !ascii {
		return strings.EqualFold(string(name), want)
	}
	if len(name) != len(want) {
		return false
	}
	for i := range len(name) {
		a, b := name[i], want[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// Object returns member name's value when it is a JSON object; err is
// set when the member is there but holds something else.
func (o Object) Object(name string) (v Object, present bool, err error) {
	raw, ok, err := o.raw(name)
	if !ok || err != nil {
		return Object{}, ok, err
	}
	if raw[0] != '{' {
		return Object{}, true, errIllTyped
	}
	// The value is a slice of a document that passed the strict scan;
	// scanning it again (a few hundred bytes at most for any claim of the
	// contract) keeps this safe for an Object made any other way.
	members, err := parseStrictObject(raw, nil)
	if err != nil {
		return Object{}, true, err
	}
	return Object{members: members}, true, nil
}

// String returns member name's value when it is a JSON string.
func (o Object) String(name string) (v string, present bool, err error) {
	raw, ok, err := o.raw(name)
	if !ok || err != nil {
		return "", ok, err
	}
	s, isString := jsonString(raw)
	if !isString {
		return "", true, errIllTyped
	}
	return s, true, nil
}

// Int returns member name's value when it is a JSON number that is an
// integer in range, as encoding/json decodes into an int: 12 is, 12.0,
// 1e1 and 9223372036854775808 are not.
func (o Object) Int(name string) (v int, present bool, err error) {
	raw, ok, err := o.raw(name)
	if !ok || err != nil {
		return 0, ok, err
	}
	n, isInt := jsonInt(raw)
	if !isInt || int64(int(n)) != n { // the second test matters where int is 32 bits
		return 0, true, errIllTyped
	}
	return int(n), true, nil
}

// StringMap returns member name's value when it is a JSON object whose
// members are all strings (a flat string map, such as put_secret's
// metadata).
func (o Object) StringMap(name string) (v map[string]string, present bool, err error) {
	obj, present, err := o.Object(name)
	if !present || err != nil {
		return nil, present, err
	}
	v = make(map[string]string, len(obj.members))
	for _, m := range obj.members {
		s, isString := jsonString(m.raw)
		if !isString {
			return nil, true, errIllTyped
		}
		v[string(m.name)] = s
	}
	return v, true, nil
}

// Raw returns member name's raw JSON value (absent or null: not
// present). The value passed the strict scan with the whole payload: valid
// JSON, valid UTF-8, no duplicate member names at any depth.
func (o Object) Raw(name string) (raw []byte, present bool, err error) { return o.raw(name) }

// Names returns the object's member names in document order.
func (o Object) Names() []string {
	names := make([]string, len(o.members))
	for i, m := range o.members {
		names[i] = string(m.name)
	}
	return names
}

// ParseObject reads doc, a JSON object, through the strict scan (valid
// UTF-8, no member names encoding/json could confuse, at any depth).
func ParseObject(doc []byte) (Object, error) {
	members, err := parseStrictObject(doc, nil)
	if err != nil {
		return Object{}, err
	}
	return Object{members: members}, nil
}

// Strings returns member name's value when it is a JSON array of
// strings. An array has no member names, so decoding it with
// encoding/json matches nothing loosely.
func (o Object) Strings(name string) (v []string, present bool, err error) {
	raw, present, err := o.raw(name)
	if !present || err != nil {
		return nil, present, err
	}
	if raw[0] != '[' {
		return nil, true, errIllTyped
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, true, errIllTyped
	}
	return v, true, nil
}
