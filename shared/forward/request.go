package forward

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/cardvault/vault/shared/vaulterr"
	"github.com/cardvault/vault/shared/wire"
)

// Content types a forward body may be sent as.
const (
	ContentJSON = "application/json"
	ContentForm = "application/x-www-form-urlencoded"
)

// Request is the request member of a forward's claims, read through the
// strict reader and with every placeholder parsed. Its templates are
// filled in only by Build, after every check passed.
type Request struct {
	Method string
	Path   string
	// Query and Headers keep the client's order; neither may hold a
	// placeholder.
	Query   []Field
	Headers []Field
	// ContentType is "" when there is no body.
	ContentType string

	form []formField
	json *jsonNode
	use  usage
}

// Field is a name and a value.
type Field struct{ Name, Value string }

type formField struct {
	name  string
	value template
}

// UsesCard reports whether the body references the card.
func (r *Request) UsesCard() bool { return r.use.card }

// UsesHolderName reports whether the body references the holder name,
// which is then redacted from the answer too.
func (r *Request) UsesHolderName() bool { return r.use.holder }

// Secrets lists the merchant secrets the body references.
func (r *Request) Secrets() []string { return append([]string(nil), r.use.secrets...) }

var requestMembers = []string{"method", "path", "query", "headers", "content_type", "body"}

// ParseRequest reads the request claim. Anything missing, ill-typed,
// unknown, or a placeholder outside a body value is 400 malformed_request;
// what the destination allows is judged later (403).
func ParseRequest(o wire.Object) (*Request, error) {
	for _, n := range o.Names() {
		known := false
		for _, m := range requestMembers {
			known = known || n == m
		}
		if !known {
			return nil, malformed("request: unknown member " + strconv.Quote(n))
		}
	}
	r := &Request{}
	var err error
	if r.Method, err = requiredString(o, "method"); err != nil {
		return nil, err
	}
	if !methodToken.MatchString(r.Method) {
		return nil, malformed("request.method must be an upper-case HTTP method")
	}
	if r.Path, err = requiredString(o, "path"); err != nil {
		return nil, err
	}
	if err := noPlaceholder(r.Path, "the path"); err != nil {
		return nil, err
	}
	if r.Query, err = stringMap(o, "query"); err != nil {
		return nil, err
	}
	for _, q := range r.Query {
		if err := noPlaceholder(q.Name+q.Value, "the query"); err != nil {
			return nil, err
		}
	}
	if r.Headers, err = stringMap(o, "headers"); err != nil {
		return nil, err
	}
	for _, h := range r.Headers {
		if err := noPlaceholder(h.Name+h.Value, "headers"); err != nil {
			return nil, err
		}
		if !headerToken.MatchString(h.Name) || !validHeaderValue(h.Value) {
			return nil, malformed("request.headers holds an invalid header name or value")
		}
	}
	ct, hasCT, err := o.String("content_type")
	if err != nil {
		return nil, malformed("request.content_type must be a string")
	}
	body, hasBody, err := o.Raw("body")
	switch {
	case err != nil:
		return nil, malformed("request.body: " + err.Error())
	case !hasBody:
		// No body: a content_type alone is harmless and ignored.
	case !hasCT:
		return nil, malformed("request.content_type is required with a body")
	case ct == ContentJSON:
		r.ContentType = ct
		if r.json, err = parseJSONBody(body, &r.use); err != nil {
			return nil, err
		}
	case ct == ContentForm:
		r.ContentType = ct
		form, _, err := o.Object("body")
		if err != nil {
			return nil, malformed("a form body must be an object of string values")
		}
		for _, name := range form.Names() {
			v, present, err := form.String(name)
			if err != nil || !present {
				return nil, malformed("a form body must be an object of string values")
			}
			if err := noPlaceholder(name, "form field names"); err != nil {
				return nil, err
			}
			t, err := parseTemplate(v, false)
			if err != nil {
				return nil, err
			}
			t.uses(&r.use)
			r.form = append(r.form, formField{name: name, value: t})
		}
	default:
		return nil, malformed("request.content_type must be application/json or application/x-www-form-urlencoded")
	}
	return r, nil
}

func requiredString(o wire.Object, name string) (string, error) {
	v, ok, err := o.String(name)
	if err != nil || !ok {
		return "", malformed("request." + name + " is missing or not a string")
	}
	return v, nil
}

// stringMap reads an optional object of strings, in document order.
func stringMap(o wire.Object, name string) ([]Field, error) {
	obj, ok, err := o.Object(name)
	if err != nil {
		return nil, malformed("request." + name + " must be an object of strings")
	}
	if !ok {
		return nil, nil
	}
	var out []Field
	for _, n := range obj.Names() {
		v, present, err := obj.String(n)
		if err != nil || !present {
			return nil, malformed("request." + name + " must be an object of strings")
		}
		out = append(out, Field{Name: n, Value: v})
	}
	return out, nil
}

func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// jsonNode is a JSON body value, kept in document order so that the
// vault's encoding of it is the client's document with its placeholders
// filled in.
type jsonNode struct {
	kind     byte // '{', '[', '"', or 'l' for a literal (number, true, false, null)
	lit      string
	str      template
	names    []string
	children []*jsonNode
}

func parseJSONBody(raw []byte, u *usage) (*jsonNode, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	n, err := readJSONNode(dec, u)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, malformed("request.body is not one JSON value")
	}
	return n, nil
}

func readJSONNode(dec *json.Decoder, u *usage) (*jsonNode, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, malformed("request.body is not valid JSON")
	}
	switch v := tok.(type) {
	case json.Delim:
		n := &jsonNode{kind: byte(v)}
		for dec.More() {
			if v == '{' {
				nameTok, err := dec.Token()
				if err != nil {
					return nil, malformed("request.body is not valid JSON")
				}
				name, _ := nameTok.(string)
				if err := noPlaceholder(name, "JSON member names"); err != nil {
					return nil, err
				}
				n.names = append(n.names, name)
			}
			child, err := readJSONNode(dec, u)
			if err != nil {
				return nil, err
			}
			n.children = append(n.children, child)
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, malformed("request.body is not valid JSON")
		}
		return n, nil
	case string:
		t, err := parseTemplate(v, true)
		if err != nil {
			return nil, err
		}
		t.uses(u)
		return &jsonNode{kind: '"', str: t}, nil
	case json.Number:
		return &jsonNode{kind: 'l', lit: v.String()}, nil
	case bool:
		return &jsonNode{kind: 'l', lit: strconv.FormatBool(v)}, nil
	case nil:
		return &jsonNode{kind: 'l', lit: "null"}, nil
	}
	return nil, malformed("request.body is not valid JSON")
}

// CheckPath applies the contract's path rules and returns the path's
// segments: a "." or ".." segment, "//", a percent-encoded "/", "\" or
// ".", a "\" or "?" (the query has its own member), and anything that
// is not printable ASCII are refused (403 forbidden).
func CheckPath(path string) ([]string, error) {
	forbid := func(msg string) ([]string, error) { return nil, vaulterr.New(vaulterr.Forbidden, "request.path "+msg) }
	if !strings.HasPrefix(path, "/") {
		return forbid("must start with /")
	}
	if strings.Contains(path, "//") {
		return forbid("must not hold //")
	}
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case c <= 0x20 || c >= 0x7f:
			return forbid("must be printable ASCII")
		case c == '?' || c == '#':
			return forbid("must not hold ? or #: use request.query")
		case c == '\\':
			return forbid(`must not hold \`)
		case c == '%':
			if i+2 >= len(path) || !isHex(path[i+1]) || !isHex(path[i+2]) {
				return forbid("holds an invalid percent escape")
			}
			switch strings.ToUpper(path[i+1 : i+3]) {
			case "2F", "5C", "2E":
				return forbid(`must not percent-encode /, \ or .`)
			}
			if path[i+1] < '2' {
				return forbid("must not percent-encode a control character")
			}
		}
	}
	segments := strings.Split(path[1:], "/")
	for _, s := range segments {
		if s == "." || s == ".." {
			return forbid("must not hold . or .. segments")
		}
	}
	return segments, nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// MatchRoute returns the destination's route allowing method and path
// (checked by CheckPath), or 403 forbidden.
func (d *Destination) MatchRoute(method string, segments []string) (Route, error) {
	for _, r := range d.Routes {
		if r.Match(method, segments) {
			return r, nil
		}
	}
	return Route{}, vaulterr.New(vaulterr.Forbidden, "the destination does not allow this method and path")
}

// Passes reports whether a client header may be sent to the destination.
func (d *Destination) Passes(name string) (canonical string, ok bool) {
	c := http.CanonicalHeaderKey(name)
	for _, h := range d.RequestHeaders {
		if h == c {
			return c, true
		}
	}
	return "", false
}
