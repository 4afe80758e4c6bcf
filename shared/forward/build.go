package forward

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/cardvault/vault/shared/secret"
)

// Card is the card a forward's placeholders read.
type Card struct {
	Number     secret.Secret[string]
	ExpMonth   int
	ExpYear    int
	HolderName secret.Secret[string]
}

// Values are what placeholders and the credential are filled in from.
type Values struct {
	// Card is nil when the request names no token.
	Card *Card
	// Secrets holds the merchant secrets the body references and the
	// destination's credential, by name.
	Secrets map[string]secret.Secret[string]
}

// Outgoing is a provider request ready to send. It holds card data and
// secrets: it is built just before sending and never logged.
type Outgoing struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
	// Route is the destination's route pattern the request matched.
	Route string
}

// UserAgent names the vault to providers.
const UserAgent = "card-vault"

// Build fills the request's templates in and encodes its body (JSON or
// form, by the vault's own encoders), and returns it with the redactor of
// the values it injected: the card number, the holder name when used, and
// every secret value (credential included).
func Build(d *Destination, r *Request, route Route, v Values) (*Outgoing, *Redactor, error) {
	var sensitive []string
	fill := func(t template) (string, error) {
		var b strings.Builder
		for _, p := range t {
			if p.ph == phNone {
				b.WriteString(p.lit)
				continue
			}
			s, err := v.value(p)
			if err != nil {
				return "", err
			}
			b.WriteString(s)
		}
		return b.String(), nil
	}
	out := &Outgoing{Method: r.Method, Header: make(http.Header), Route: route.Pattern}
	u := *d.BaseURL
	u.Path = "" // the checked path is appended as sent
	target := u.String() + r.Path
	if len(r.Query) > 0 {
		var q strings.Builder
		for i, f := range r.Query {
			if i > 0 {
				q.WriteByte('&')
			}
			q.WriteString(url.QueryEscape(f.Name))
			q.WriteByte('=')
			q.WriteString(url.QueryEscape(f.Value))
		}
		target += "?" + q.String()
	}
	out.URL = target

	switch r.ContentType {
	case ContentForm:
		var b strings.Builder
		for i, f := range r.form {
			val, err := fill(f.value)
			if err != nil {
				return nil, nil, err
			}
			if i > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(f.name))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(val))
		}
		out.Body = []byte(b.String())
	case ContentJSON:
		var b bytes.Buffer
		if err := encodeJSON(&b, r.json, v, fill); err != nil {
			return nil, nil, err
		}
		out.Body = b.Bytes()
	}
	if r.ContentType != "" {
		out.Header.Set("Content-Type", r.ContentType)
	}

	// Only the headers the destination lists pass; Authorization, Cookie,
	// Host, Proxy-* and hop-by-hop headers can never be listed.
	for _, h := range r.Headers {
		if name, ok := d.Passes(h.Name); ok {
			out.Header.Add(name, h.Value)
		}
	}
	out.Header.Set("User-Agent", UserAgent)
	if c := d.Credential; c != nil {
		val, ok := v.Secrets[c.Secret]
		if !ok {
			return nil, nil, fmt.Errorf("forward: credential %q was not loaded", c.Secret)
		}
		out.Header.Set(c.Header, c.Prefix+val.Reveal())
		sensitive = append(sensitive, val.Reveal())
	}
	if v.Card != nil {
		sensitive = append(sensitive, v.Card.Number.Reveal())
		if r.use.holder {
			sensitive = append(sensitive, v.Card.HolderName.Reveal())
		}
	}
	for _, name := range r.use.secrets {
		if s, ok := v.Secrets[name]; ok {
			sensitive = append(sensitive, s.Reveal())
		}
	}
	return out, NewRedactor(sensitive), nil
}

func (v Values) value(p part) (string, error) {
	if p.ph == phSecret {
		s, ok := v.Secrets[p.secret]
		if !ok {
			return "", fmt.Errorf("forward: secret %q was not loaded", p.secret)
		}
		return s.Reveal(), nil
	}
	c := v.Card
	if c == nil {
		return "", malformed("card placeholders need a token")
	}
	switch p.ph {
	case phCardNumber:
		return c.Number.Reveal(), nil
	case phExpMonth, phExpMonthNumber:
		return fmt.Sprintf("%02d", c.ExpMonth), nil
	case phExpYear, phExpYearNumber:
		return fmt.Sprintf("%04d", c.ExpYear), nil
	case phExpYear2:
		return fmt.Sprintf("%02d", c.ExpYear%100), nil
	case phHolderName:
		return c.HolderName.Reveal(), nil
	}
	return "", fmt.Errorf("forward: placeholder %d has no value", p.ph)
}

func encodeJSON(b *bytes.Buffer, n *jsonNode, v Values, fill func(template) (string, error)) error {
	switch n.kind {
	case 'l':
		b.WriteString(n.lit)
	case '"':
		if len(n.str) == 1 && (n.str[0].ph == phExpMonthNumber || n.str[0].ph == phExpYearNumber) {
			if v.Card == nil {
				return malformed("card placeholders need a token")
			}
			if n.str[0].ph == phExpMonthNumber {
				fmt.Fprintf(b, "%d", v.Card.ExpMonth)
			} else {
				fmt.Fprintf(b, "%d", v.Card.ExpYear)
			}
			return nil
		}
		s, err := fill(n.str)
		if err != nil {
			return err
		}
		writeJSONString(b, s)
	case '{', '[':
		b.WriteByte(n.kind)
		for i, child := range n.children {
			if i > 0 {
				b.WriteByte(',')
			}
			if n.kind == '{' {
				writeJSONString(b, n.names[i])
				b.WriteByte(':')
			}
			if err := encodeJSON(b, child, v, fill); err != nil {
				return err
			}
		}
		if n.kind == '{' {
			b.WriteByte('}')
		} else {
			b.WriteByte(']')
		}
	}
	return nil
}

// writeJSONString writes s as a JSON string with encoding/json's own
// escaping (no HTML escaping: the body is not HTML).
func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // a string always encodes
	b.Truncate(b.Len() - 1) // Encode's newline
}
