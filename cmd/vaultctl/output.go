package main

import (
	"encoding/json"
	"io"
)

// printJSON writes v pretty-printed. Values holding secret.Secret fields
// print them redacted; commands that must show a secret build a plain view
// with explicit Reveal calls.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
