package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// describeDecodeError turns an encoding/json error into one that names
// where the document went wrong but never quotes it: a type error's text
// includes the offending literal ("number 4242424242424242"), which may be
// a card number or key material.
func describeDecodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		if field == "" {
			field = "(document)"
		}
		want := "another type"
		if typeErr.Type != nil {
			want = typeErr.Type.String()
		}
		return fmt.Errorf("member %s: wrong JSON type, want %s", field, want)
	}
	// DisallowUnknownFields reports `json: unknown field "name"`: a name
	// from the document's structure, never a value.
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return errors.New(strings.TrimPrefix(msg, "json: "))
	}
	return errors.New("document does not decode")
}
