package httpapi

import (
	"context"
	"strings"

	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/wire"
)

// BodyKind says how a route carries its credential.
type BodyKind int

const (
	// NoAuth routes (jwks, health) take no credential.
	NoAuth BodyKind = iota
	// Bearer routes carry a signed JWS in the Authorization header and no
	// body.
	Bearer
	// JOSEBody routes carry card data or a secret: the body is a JWE
	// (application/jose) whose plaintext is the signed JWS.
	JOSEBody
)

// Request is what a route handler gets: the route's path parameters and,
// for authenticated routes, the verified request.
type Request struct {
	Params map[string]string
	Auth   *wire.Request
	// witness records the request's audit event ahead of an irreversible
	// change (fail-closed operations only; see auditGate).
	witness func(context.Context, vault.Trace) error
	// RequestID is the request's id in the audit trail.
	RequestID string
}

// Caller is the operation's view of the authenticated client.
func (r *Request) Caller() vault.Caller {
	return vault.Caller{ClientID: r.Auth.Client.ID, MerchantID: r.Auth.MerchantID, JTI: r.Auth.JTI, Witness: r.witness}
}

// Reply is a handler's answer.
type Reply struct {
	Status int
	// JSON is marshalled as the body unless JOSE is set.
	JSON any
	// JOSE is a compact JWE answered as application/jose.
	JOSE string
	// Text, with ContentType, is answered as is (the import key).
	Text        string
	ContentType string
	// JobID names the job a request created or read, for its audit event.
	JobID string
	Trace vault.Trace
}

// Handler runs one route.
type Handler func(ctx context.Context, r *Request) (Reply, error)

// Route is one route of the contract.
type Route struct {
	Method string
	// Path is the API Gateway route path, with {name} parameters.
	Path string
	Op   wire.Operation
	// Action names the audit action of a route that has no Op.
	Action string
	Body   BodyKind
	Handle Handler
}

// Key is the API Gateway route key, e.g. "GET /v1/cards/{token}".
func (r Route) Key() string { return r.Method + " " + r.Path }

func (r Route) action() string {
	if r.Op != "" {
		return string(r.Op)
	}
	return r.Action
}

// match reports whether method and path fit the route, and its
// parameters.
func (r Route) match(method, path string) (map[string]string, bool) {
	if method != r.Method {
		return nil, false
	}
	want := strings.Split(strings.Trim(r.Path, "/"), "/")
	got := strings.Split(strings.Trim(path, "/"), "/")
	if len(want) != len(got) {
		return nil, false
	}
	var params map[string]string
	for i, seg := range want {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			if got[i] == "" {
				return nil, false
			}
			if params == nil {
				params = make(map[string]string, 2)
			}
			params[seg[1:len(seg)-1]] = got[i]
			continue
		}
		if seg != got[i] {
			return nil, false
		}
	}
	return params, true
}

// hasParams reports whether params holds a non-empty value for every
// {name} of the route's path. A route key without them is not trusted:
// the route's merchant, token and name checks would silently be skipped.
func (r Route) hasParams(params map[string]string) bool {
	for _, seg := range strings.Split(r.Path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") && params[seg[1:len(seg)-1]] == "" {
			return false
		}
	}
	return true
}
