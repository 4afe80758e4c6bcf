package forward

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/cardvault/vault/shared/vaulterr"
)

// Timeouts of a destination, per the contract: at most 25 s, inside API
// Gateway's 30 s integration limit.
const (
	DefaultTimeout = 10 * time.Second
	MaxTimeoutMS   = 25000
)

// Destination is one provider the operator lets clients forward to.
type Destination struct {
	ID string
	// BaseURL is scheme and host (and port) only: https, no path, no
	// user info.
	BaseURL *url.URL
	Routes  []Route
	// RequestHeaders and ResponseHeaders are canonical header names.
	RequestHeaders  []string
	ResponseHeaders []string
	Credential      *Credential
	// Secrets are the merchant secret names a body may reference.
	Secrets             []string
	AllowPrivateNetwork bool
	Timeout             time.Duration

	// roots are the system roots plus ca_pem; nil means system roots.
	roots *x509.CertPool
	// config identifies the entry's content, so that an edited entry gets
	// a new transport and an unchanged one keeps its warm connections.
	config string
}

// Credential is the merchant secret a destination sends as a header.
type Credential struct {
	Secret string
	Header string
	Prefix string
}

// Route is a method and a path pattern: literal segments and "*" for
// exactly one segment.
type Route struct {
	Method  string
	Pattern string
	parts   []string
}

// Match reports whether method and the segments of a checked path fit
// the route.
func (r Route) Match(method string, segments []string) bool {
	if method != r.Method || len(segments) != len(r.parts) {
		return false
	}
	for i, p := range r.parts {
		if segments[i] == "" || p != "*" && p != segments[i] {
			return false
		}
	}
	return true
}

// AllowsSecret reports whether a body may reference the merchant secret.
func (d *Destination) AllowsSecret(name string) bool {
	for _, s := range d.Secrets {
		if s == name {
			return true
		}
	}
	return false
}

// Destinations is a parsed destinations document; immutable.
type Destinations struct {
	byID map[string]*Destination
}

// Get returns the destination with the given id.
func (d *Destinations) Get(id string) (*Destination, bool) {
	if d == nil {
		return nil, false
	}
	dest, ok := d.byID[id]
	return dest, ok
}

// Len is the number of destinations.
func (d *Destinations) Len() int {
	if d == nil {
		return 0
	}
	return len(d.byID)
}

// Known reports whether id names a destination (for the client registry's
// check of its clients' destinations lists).
func (d *Destinations) Known(id string) bool {
	_, ok := d.Get(id)
	return ok
}

// EmptyDocument is a valid document with no destination: local mode's
// first start writes it.
const EmptyDocument = "{\"destinations\": []}\n"

type documentJSON struct {
	Destinations []json.RawMessage `json:"destinations"`
}

type destinationJSON struct {
	ID                  string          `json:"id"`
	URL                 string          `json:"url"`
	Routes              []routeJSON     `json:"routes"`
	RequestHeaders      []string        `json:"request_headers"`
	ResponseHeaders     []string        `json:"response_headers"`
	Credential          *credentialJSON `json:"credential"`
	Secrets             []string        `json:"secrets"`
	CAPEM               string          `json:"ca_pem"`
	AllowPrivateNetwork bool            `json:"allow_private_network"`
	TimeoutMS           *int            `json:"timeout_ms"`
}

type routeJSON struct {
	Method string `json:"method"`
	Path   string `json:"path"`
}

type credentialJSON struct {
	Secret string `json:"secret"`
	Header string `json:"header"`
	Prefix string `json:"prefix"`
}

// Member names of each object of the document, matched exactly: a
// misspelt or differently cased member is refused, never ignored.
var (
	documentMembers    = []string{"destinations"}
	destinationMembers = []string{"id", "url", "routes", "request_headers", "response_headers", "credential", "secrets", "ca_pem", "allow_private_network", "timeout_ms"}
	routeMembers       = []string{"method", "path"}
	credentialMembers  = []string{"secret", "header", "prefix"}
)

var (
	methodToken = regexp.MustCompile(`^[A-Z]+$`)
	headerToken = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	secretName  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
	idPattern   = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	// segmentChars are the characters of a literal pattern segment: what a
	// provider's path needs, nothing that encodes or escapes.
	segmentChars = regexp.MustCompile(`^[A-Za-z0-9._~!$&'()+,;=:@-]+$`)
)

// hopByHop are the headers of one connection (RFC 9110 7.6.1), never
// passed from a client to a provider.
var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Te": true, "Trailer": true,
	"Transfer-Encoding": true, "Upgrade": true, "Proxy-Connection": true,
}

// refusedRequestHeader reports why a header may not be passed from the
// client to a provider (or set by a credential), or "" if it may.
func refusedRequestHeader(name string) string {
	c := http.CanonicalHeaderKey(name)
	switch {
	case c == "Authorization", c == "Cookie", c == "Host":
		return "the client's " + c + " header is never sent"
	case strings.HasPrefix(c, "Proxy-"):
		return "Proxy-* headers are never sent"
	case hopByHop[c]:
		return c + " is a hop-by-hop header"
	case c == "Content-Length", c == "Content-Type":
		return c + " is set by the vault from the body it encodes"
	}
	return ""
}

// ParseDestinations reads a destinations document, {"destinations": [...]},
// and refuses it whole, naming the entry at fault, on any error: an
// unknown member, a URL that is not https or has a path or user info, a
// duplicate id, a bad route pattern or header name, a request header the
// vault never passes, a bad timeout or CA.
func ParseDestinations(doc []byte) (*Destinations, error) {
	if err := checkMembers(doc, documentMembers); err != nil {
		return nil, fmt.Errorf("destinations: %w", err)
	}
	var d documentJSON
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("destinations: %w", describeJSONError(err))
	}
	out := &Destinations{byID: make(map[string]*Destination, len(d.Destinations))}
	for i, raw := range d.Destinations {
		dest, err := parseDestination(raw)
		if err != nil {
			return nil, fmt.Errorf("destinations: entry %d%s: %w", i, idOf(raw), err)
		}
		if _, dup := out.byID[dest.ID]; dup {
			return nil, fmt.Errorf("destinations: entry %d (id %q): duplicate id", i, dest.ID)
		}
		out.byID[dest.ID] = dest
	}
	return out, nil
}

// idOf names an entry by its id when it has a readable one.
func idOf(raw json.RawMessage) string {
	var head struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(raw, &head) == nil {
		if s, ok := head.ID.(string); ok && idPattern.MatchString(s) {
			return fmt.Sprintf(" (id %q)", s)
		}
	}
	return ""
}

func parseDestination(raw json.RawMessage) (*Destination, error) {
	if err := checkMembers(raw, destinationMembers); err != nil {
		return nil, err
	}
	var dj destinationJSON
	if err := json.Unmarshal(raw, &dj); err != nil {
		return nil, describeJSONError(err)
	}
	if !idPattern.MatchString(dj.ID) {
		return nil, errors.New("id is required: 1 to 64 of [A-Za-z0-9._-]")
	}
	base, err := parseBaseURL(dj.URL)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	d := &Destination{ID: dj.ID, BaseURL: base, AllowPrivateNetwork: dj.AllowPrivateNetwork, Timeout: DefaultTimeout, config: hex.EncodeToString(sum[:])}

	var rawRoutes struct {
		Routes []json.RawMessage `json:"routes"`
	}
	_ = json.Unmarshal(raw, &rawRoutes)
	if len(dj.Routes) == 0 {
		return nil, errors.New("routes are required")
	}
	for j, r := range dj.Routes {
		if err := checkMembers(rawRoutes.Routes[j], routeMembers); err != nil {
			return nil, fmt.Errorf("route %d: %w", j, err)
		}
		route, err := parseRoute(r)
		if err != nil {
			return nil, fmt.Errorf("route %d: %w", j, err)
		}
		d.Routes = append(d.Routes, route)
	}
	for _, h := range dj.RequestHeaders {
		if !headerToken.MatchString(h) {
			return nil, fmt.Errorf("request_headers: %q is not a header name", h)
		}
		if why := refusedRequestHeader(h); why != "" {
			return nil, fmt.Errorf("request_headers: %q: %s", h, why)
		}
		d.RequestHeaders = append(d.RequestHeaders, http.CanonicalHeaderKey(h))
	}
	for _, h := range dj.ResponseHeaders {
		if !headerToken.MatchString(h) {
			return nil, fmt.Errorf("response_headers: %q is not a header name", h)
		}
		if c := http.CanonicalHeaderKey(h); c == "Set-Cookie" || hopByHop[c] {
			return nil, fmt.Errorf("response_headers: %q is never returned", h)
		}
		d.ResponseHeaders = append(d.ResponseHeaders, http.CanonicalHeaderKey(h))
	}
	if dj.Credential != nil {
		var rawCred struct {
			Credential json.RawMessage `json:"credential"`
		}
		_ = json.Unmarshal(raw, &rawCred)
		if err := checkMembers(rawCred.Credential, credentialMembers); err != nil {
			return nil, fmt.Errorf("credential: %w", err)
		}
		c := dj.Credential
		if !secretName.MatchString(c.Secret) {
			return nil, errors.New("credential: secret must be a secret name (1 to 128 of [A-Za-z0-9._-])")
		}
		if !headerToken.MatchString(c.Header) {
			return nil, fmt.Errorf("credential: header %q is not a header name", c.Header)
		}
		if hc := http.CanonicalHeaderKey(c.Header); hc == "Cookie" || hc == "Host" || hopByHop[hc] || strings.HasPrefix(hc, "Proxy-") || hc == "Content-Length" || hc == "Content-Type" {
			return nil, fmt.Errorf("credential: header %q cannot carry a credential", c.Header)
		}
		if strings.ContainsAny(c.Prefix, "\r\n\x00") {
			return nil, errors.New("credential: prefix holds a control character")
		}
		d.Credential = &Credential{Secret: c.Secret, Header: http.CanonicalHeaderKey(c.Header), Prefix: c.Prefix}
	}
	for _, s := range dj.Secrets {
		if !secretName.MatchString(s) {
			return nil, fmt.Errorf("secrets: %q is not a secret name", s)
		}
		d.Secrets = append(d.Secrets, s)
	}
	if dj.TimeoutMS != nil {
		if *dj.TimeoutMS < 1 || *dj.TimeoutMS > MaxTimeoutMS {
			return nil, fmt.Errorf("timeout_ms must be 1 to %d", MaxTimeoutMS)
		}
		d.Timeout = time.Duration(*dj.TimeoutMS) * time.Millisecond
	}
	if dj.CAPEM != "" {
		if d.roots, err = rootsWith(dj.CAPEM); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func parseBaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || s == "" {
		return nil, errors.New("url is required and must be an absolute https URL")
	}
	switch {
	case u.Scheme != "https":
		return nil, fmt.Errorf("url must be https, not %q", u.Scheme)
	case u.User != nil:
		return nil, errors.New("url must not hold user info")
	case u.Host == "" || u.Hostname() == "":
		return nil, errors.New("url has no host")
	case u.Path != "" && u.Path != "/", u.RawPath != "":
		return nil, errors.New("url must have no path beyond /")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "":
		return nil, errors.New("url must have no query or fragment")
	}
	return &url.URL{Scheme: "https", Host: u.Host}, nil
}

func parseRoute(r routeJSON) (Route, error) {
	if !methodToken.MatchString(r.Method) {
		return Route{}, fmt.Errorf("method %q must be an upper-case HTTP method", r.Method)
	}
	if !strings.HasPrefix(r.Path, "/") || r.Path == "/" {
		return Route{}, fmt.Errorf("path %q must start with / and name at least one segment", r.Path)
	}
	parts := strings.Split(r.Path[1:], "/")
	for _, p := range parts {
		if p == "*" {
			continue
		}
		if p == "" || p == "." || p == ".." || !segmentChars.MatchString(p) || strings.Contains(p, "*") {
			return Route{}, fmt.Errorf("path %q: segments are literal text or * for exactly one segment", r.Path)
		}
	}
	return Route{Method: r.Method, Pattern: r.Path, parts: parts}, nil
}

func rootsWith(caPEM string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	rest := []byte(caPEM)
	n := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, errors.New("ca_pem holds something other than certificates")
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("ca_pem: %v", err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 || len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("ca_pem must be PEM certificates only")
	}
	return pool, nil
}

// checkMembers refuses a JSON object holding a member outside allowed,
// matched exactly (encoding/json alone would match case-insensitively and
// ignore unknown ones).
func checkMembers(raw []byte, allowed []string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return describeJSONError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return describeJSONError(err)
		}
		name, _ := tok.(string)
		known := false
		for _, a := range allowed {
			if a == name {
				known = true
			}
		}
		if !known {
			return fmt.Errorf("unknown member %q", name)
		}
		if seen[name] {
			return fmt.Errorf("duplicate member %q", name)
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return describeJSONError(err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return describeJSONError(err)
	}
	if dec.More() {
		return errors.New("trailing data after the object")
	}
	return nil
}

// describeJSONError keeps decode errors to their kind and position.
func describeJSONError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("not valid JSON (at byte %d)", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Errorf("member %q must be %s, not %s", typ.Field, typ.Type, typ.Value)
	}
	return errors.New("not valid JSON")
}

// Source yields the destinations in force; it is asked on every forward,
// so a local file edit takes effect without a restart.
type Source interface {
	Destinations() (*Destinations, error)
}

// StaticSource always yields d: a document loaded once at cold start.
// A nil d answers Unavailable.
func StaticSource(d *Destinations) Source { return staticSource{d} }

type staticSource struct{ d *Destinations }

func (s staticSource) Destinations() (*Destinations, error) {
	if s.d == nil {
		return nil, vaulterr.New(vaulterr.Unavailable, "destinations unavailable")
	}
	return s.d, nil
}
