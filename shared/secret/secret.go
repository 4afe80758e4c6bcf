// Package secret holds sensitive values so that they cannot be printed,
// logged or marshalled by accident.
//
// A Secret[T] formats as "*** <type> ***" under every fmt verb, in JSON, as
// text and in log/slog, whatever T is. The only way to the value is an
// explicit call to Reveal, which is easy to find in review.
package secret

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
)

// Secret wraps a sensitive value of type T. The zero Secret holds T's zero
// value. Secrets cannot be compared with ==: compare revealed values, in
// constant time where they are secret.
type Secret[T any] struct {
	// value is a closure over the wrapped value, not the value itself,
	// because fmt prints the unexported fields of a struct by reflection
	// without calling their methods, and follows pointers when a verb does
	// not suit them: a Secret held in an unexported field would print its
	// value. fmt and other reflection-based printers show a function only
	// as an address.
	value func() T
}

// New wraps v.
func New[T any](v T) Secret[T] { return Secret[T]{value: func() T { return v }} }

// Reveal returns the wrapped value. Every call is a place where sensitive
// data leaves the wrapper; keep them few and obvious.
func (s Secret[T]) Reveal() T {
	if s.value == nil {
		var zero T
		return zero
	}
	return s.value()
}

func (s Secret[T]) redacted() string {
	return "*** " + reflect.TypeFor[T]().String() + " ***"
}

// String implements fmt.Stringer.
func (s Secret[T]) String() string { return s.redacted() }

// GoString implements fmt.GoStringer, so %#v does not dump the value.
func (s Secret[T]) GoString() string { return s.redacted() }

// Format implements fmt.Formatter: every verb, with every flag, prints the
// redacted form.
func (s Secret[T]) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.redacted())) }

// MarshalJSON implements json.Marshaler. The redacted form is encoded as a
// JSON string because a type's name may itself hold quotes (the field tags
// of an anonymous struct).
func (s Secret[T]) MarshalJSON() ([]byte, error) {
	return json.Marshal(s.redacted())
}

// MarshalText implements encoding.TextMarshaler (used by encoders and map
// keys that do not look for MarshalJSON).
func (s Secret[T]) MarshalText() ([]byte, error) { return []byte(s.redacted()), nil }

// LogValue implements slog.LogValuer.
func (s Secret[T]) LogValue() slog.Value { return slog.StringValue(s.redacted()) }

// Wipe zeroes a byte slice in place. Go cannot promise that no other copy
// of the bytes exists, but key material the vault owns is wiped as soon as
// it is no longer needed, to keep its lifetime in memory short.
func Wipe(b []byte) {
	clear(b)
}
