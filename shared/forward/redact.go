package forward

import (
	"bytes"
	"encoding/json"
	"net/url"
	"sort"
	"strings"
)

// Redacted replaces every injected value in a provider's answer.
const Redacted = "[REDACTED]"

// Redactor removes the values a forward injected from the provider's
// answer: each as sent and in every form the vault's encodings (and a
// provider echoing them) give it: JSON-escaped (with and without HTML
// escaping and escaped slashes), form-encoded and percent-encoded.
type Redactor struct {
	needles [][]byte
}

// NewRedactor builds the redactor of values; empty values are skipped.
func NewRedactor(values []string) *Redactor {
	seen := map[string]bool{}
	r := &Redactor{}
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			r.needles = append(r.needles, []byte(s))
		}
	}
	for _, v := range values {
		if v == "" {
			continue
		}
		add(v)
		for _, html := range []bool{true, false} {
			for _, j := range []string{jsonEscaped(v, html), asciiJSON(jsonEscaped(v, html))} {
				add(j)
				add(strings.ReplaceAll(j, "/", `\/`))
			}
		}
		add(url.QueryEscape(v))
		add(strings.ReplaceAll(url.QueryEscape(v), "+", "%20"))
		add(url.PathEscape(v))
		add((&url.URL{Path: v}).EscapedPath())
	}
	// Longest first, so that a value inside another is not replaced
	// piecemeal and the longer one missed.
	sort.SliceStable(r.needles, func(i, j int) bool { return len(r.needles[i]) > len(r.needles[j]) })
	return r
}

// Bytes returns b with every value replaced by [REDACTED].
func (r *Redactor) Bytes(b []byte) []byte {
	for _, n := range r.needles {
		if bytes.Contains(b, n) {
			b = bytes.ReplaceAll(b, n, []byte(Redacted))
		}
	}
	return b
}

// String is Bytes for strings.
func (r *Redactor) String(s string) string { return string(r.Bytes([]byte(s))) }

// jsonEscaped is s as inside a JSON string.
func jsonEscaped(s string, html bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(html)
	_ = enc.Encode(s)
	out := b.String()
	return out[1 : len(out)-2] // the quotes and the newline
}

// asciiJSON is escaped JSON string content with everything outside ASCII
// escaped too (\u00e9), as some encoders write it.
func asciiJSON(escaped string) string {
	var b strings.Builder
	for _, r := range escaped {
		if r < 0x80 {
			b.WriteRune(r)
			continue
		}
		if r > 0xffff {
			r1, r2 := surrogates(r)
			writeU(&b, r1)
			writeU(&b, r2)
			continue
		}
		writeU(&b, r)
	}
	return b.String()
}

func surrogates(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}

func writeU(b *strings.Builder, r rune) {
	const hex = "0123456789abcdef"
	b.WriteString(`\u`)
	for shift := 12; shift >= 0; shift -= 4 {
		b.WriteByte(hex[(r>>uint(shift))&0xf])
	}
}
