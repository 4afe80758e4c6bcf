package wire

import (
	"encoding/json"
	"errors"
)

// errIllTyped is a member present with a value of the wrong JSON type.
var errIllTyped = errors.New("member of the wrong type")

// Object is a JSON object of a verified payload, split into its members
// by the strict scan. Operations read their claims through it rather than
// encoding/json, which would decode the payload a second time and match
// member names case-insensitively. Names here match exactly, and a member
// whose value is null counts as absent, as encoding/json leaves a pointer
// field nil for it.
type Object struct{ members []member }

// Claims returns the payload's top-level claims as an Object.
func (r *Request) Claims() Object { return Object{members: r.members} }

// raw returns member name's raw value; present is false when it is
// absent or null.
func (o Object) raw(name string) (raw []byte, present bool) {
	raw, ok := lookup(o.members, name)
	if !ok || string(raw) == "null" {
		return nil, false
	}
	return raw, true
}

// Object returns member name's value when it is a JSON object; err is
// set when the member is there but holds something else.
func (o Object) Object(name string) (v Object, present bool, err error) {
	raw, ok := o.raw(name)
	if !ok {
		return Object{}, false, nil
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
	raw, ok := o.raw(name)
	if !ok {
		return "", false, nil
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
	raw, ok := o.raw(name)
	if !ok {
		return 0, false, nil
	}
	n, isInt := jsonInt(raw)
	if !isInt || int64(int(n)) != n { // the second test matters where int is 32 bits
		return 0, true, errIllTyped
	}
	return int(n), true, nil
}

// StringMap returns the object's members as a map when every value is a
// JSON string (the strict scan already refused duplicate names).
func (o Object) StringMap() (map[string]string, error) {
	out := make(map[string]string, len(o.members))
	for _, m := range o.members {
		s, ok := jsonString(m.raw)
		if !ok {
			return nil, errIllTyped
		}
		out[string(m.name)] = s
	}
	return out, nil
}

// Strings returns member name's value when it is a JSON array of
// strings. An array has no member names, so decoding it with
// encoding/json matches nothing loosely.
func (o Object) Strings(name string) (v []string, present bool, err error) {
	raw, ok := o.raw(name)
	if !ok {
		return nil, false, nil
	}
	if raw[0] != '[' {
		return nil, true, errIllTyped
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, true, errIllTyped
	}
	return v, true, nil
}
