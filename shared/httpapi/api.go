// Package httpapi turns API Gateway HTTP API (payload v2) events into the
// vault's operations and their results back into responses. Lambda and
// the local server share it: the local server builds the same events.
package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/logging"
	"github.com/cardvault/vault/shared/metrics"
	"github.com/cardvault/vault/shared/vaulterr"
	"github.com/cardvault/vault/shared/wire"
)

// MaxBodyBytes is the contract's body limit.
const MaxBodyBytes = 64 << 10

// Deps are what every route set needs.
type Deps struct {
	Opener *wire.Opener
	Audit  audit.Sink
	Logger *slog.Logger
	Now    func() time.Time
	// Metrics, if set, receives one line per request.
	Metrics *metrics.Recorder
}

// API serves a set of routes.
type API struct {
	deps   Deps
	routes []Route
	byKey  map[string]int
}

// New builds an API over the given route sets.
func New(deps Deps, sets ...[]Route) *API {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = logging.New(os.Stderr, slog.LevelInfo)
	}
	a := &API{deps: deps, byKey: make(map[string]int)}
	for _, set := range sets {
		for _, r := range set {
			a.byKey[r.Key()] = len(a.routes)
			a.routes = append(a.routes, r)
		}
	}
	return a
}

// Routes lists the routes served, for the local server and tests.
func (a *API) Routes() []Route { return append([]Route(nil), a.routes...) }

// Match finds the route for a method and raw path, as API Gateway would,
// and returns its route key and path parameters (unescaped).
func (a *API) Match(method, rawPath string) (string, map[string]string, bool) {
	for _, r := range a.routes {
		if params, ok := r.match(method, rawPath); ok {
			for k, v := range params {
				u, err := url.PathUnescape(v)
				if err != nil {
					return "", nil, false
				}
				params[k] = u
			}
			return r.Key(), params, true
		}
	}
	return "", nil, false
}

// Handle is the Lambda handler.
func (a *API) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return a.handle(ctx, ev, nil), nil
}

// Refuse answers a request that the HTTP server in front of the API
// refused before it could be read (its header section too large, or not
// HTTP at all), as any other refusal is answered: with an audit event, a
// log line and the contract's error JSON. sourceIP is the peer's address.
func (a *API) Refuse(ctx context.Context, sourceIP string, refusal error) events.APIGatewayV2HTTPResponse {
	var ev events.APIGatewayV2HTTPRequest
	ev.RequestContext.HTTP.SourceIP = sourceIP
	return a.handle(ctx, ev, refusal)
}

// handle serves ev, or, when refusal is set, refuses it with that error
// without routing it.
func (a *API) handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest, refusal error) events.APIGatewayV2HTTPResponse {
	// The operation works within the margin; the audit event and the
	// answer use what is left of the invocation after it.
	invocation := ctx
	ctx, cancel := withAnswerMargin(ctx)
	defer cancel()
	start := a.deps.Now()
	requestID := ev.RequestContext.RequestID
	if requestID == "" {
		requestID = audit.NewID()
	}
	var (
		route  Route
		params map[string]string
		found  bool
	)
	if refusal == nil {
		route, params, found = a.route(&ev)
	}
	e := audit.Event{
		ID:        audit.NewID(),
		Time:      start.UTC(),
		Action:    "unknown_route",
		RequestID: requestID,
		SourceIP:  ev.RequestContext.HTTP.SourceIP,
		UserAgent: truncate(ev.RequestContext.HTTP.UserAgent, 256),
	}
	if az := ev.RequestContext.Authorizer; az != nil && az.IAM != nil {
		// The AWS principal API Gateway's IAM authorizer let through,
		// recorded beside the JWS issuer: which role called, for which
		// client.
		e.IAMUserARN = az.IAM.UserARN
		e.IAMAccountID = az.IAM.AccountID
		e.IAMCallerID = az.IAM.CallerID
	}
	var (
		reply Reply
		err   error
	)
	gate := &auditGate{api: a, invocation: invocation, event: &e, start: start}
	closed := found && failsClosed(route.Op)
	switch {
	case refusal != nil:
		err = refusal
	case found:
		e.Action = route.action()
		e.Token = params["token"]
		e.Secret = params["name"]
		e.Merchant = params["merchant_id"]
		e.JobID = params["job_id"]
		reply, err = a.serve(ctx, route, &ev, params, &e, gate, closed)
		if reply.JobID != "" {
			e.JobID = reply.JobID
		}
	default:
		err = vaulterr.New(vaulterr.NotFound, "no such route")
	}

	e.DurationMS = time.Since(start).Milliseconds()
	if ft := reply.Trace.Forward; ft != nil {
		// What a forward sent and what came back, refused or not.
		e.Destination, e.Method, e.Route = ft.Destination, ft.Method, ft.Route
		e.ProviderStatus, e.ProviderMS = ft.ProviderStatus, ft.ProviderMS
	}
	if err == nil {
		e.Outcome = audit.Allowed
		if reply.Trace.Token != "" {
			e.Token = reply.Trace.Token
		}
		e.KeyVersion = reply.Trace.KeyVersion
		e.KMSRequestIDs = reply.Trace.KMSRequestIDs
	} else {
		ve := vaulterr.As(err)
		e.Code = string(ve.Code)
		e.Outcome = audit.Refused
		if ve.Code.Status() >= 500 {
			e.Outcome = audit.Failed
		}
	}
	// A fail-closed request whose event cannot be recorded is failed
	// rather than answered: no data leaves, and no write stays, unaudited.
	err = gate.finish(&e, closed, reply, err)
	resp := a.respond(reply, err, requestID)
	a.log(ctx, e, resp.StatusCode, err)
	a.deps.Metrics.Request(e.Action, string(e.Outcome), e.Code, time.Since(start),
		reply.Trace.KeyCacheHits, reply.Trace.KeyCacheMisses, len(e.KMSRequestIDs))
	return resp
}

// withAnswerMargin ends the work a little before the invocation's
// deadline, so that a dependency that keeps failing through the SDK's
// retries still gets the vault's own 503 with Retry-After (and an audit
// event), rather than a timeout answered by API Gateway.
func withAnswerMargin(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return ctx, func() {}
	}
	margin := min(max(time.Until(deadline)/10, 200*time.Millisecond), time.Second)
	return context.WithDeadline(ctx, deadline.Add(-margin))
}

func (a *API) route(ev *events.APIGatewayV2HTTPRequest) (Route, map[string]string, bool) {
	if i, ok := a.byKey[ev.RouteKey]; ok && a.routes[i].hasParams(ev.PathParameters) {
		return a.routes[i], ev.PathParameters, true
	}
	key, params, ok := a.Match(ev.RequestContext.HTTP.Method, ev.RawPath)
	if !ok {
		return Route{}, nil, false
	}
	return a.routes[a.byKey[key]], params, true
}

func (a *API) serve(ctx context.Context, route Route, ev *events.APIGatewayV2HTTPRequest, params map[string]string, e *audit.Event, gate *auditGate, closed bool) (Reply, error) {
	body, err := requestBody(ev)
	if err != nil {
		return Reply{}, err
	}
	req := &Request{Params: params, RequestID: e.RequestID}
	if closed {
		req.witness = gate.witness
	}
	want := wire.Expect{Op: route.Op, MerchantID: params["merchant_id"], Token: params["token"], Name: params["name"], JobID: params["job_id"]}
	switch route.Body {
	case JOSEBody:
		if !isJOSE(header(ev.Headers, "content-type")) {
			return Reply{}, vaulterr.New(vaulterr.UnsupportedMediaType, "this route takes a JWE body (Content-Type: application/jose)")
		}
		if len(body) == 0 {
			return Reply{}, vaulterr.New(vaulterr.Unauthenticated, "no credential: the body must be a JWE")
		}
		req.Auth, err = a.deps.Opener.OpenJWE(strings.TrimSpace(body), want)
	case Bearer:
		if len(body) != 0 {
			return Reply{}, vaulterr.New(vaulterr.Malformed, "this route takes no body")
		}
		token, credErr := bearerCredential(ev.Headers)
		if credErr != nil {
			return Reply{}, credErr
		}
		req.Auth, err = a.deps.Opener.OpenBearer(token, want)
	}
	if req.Auth != nil {
		e.ClientID = req.Auth.Client.ID
		e.Merchant = req.Auth.MerchantID
		e.JTI = req.Auth.JTI
	}
	if err != nil {
		return Reply{}, err
	}
	return route.Handle(ctx, req)
}

// requestBody is the event's body, decoded from base64 when API Gateway
// encoded it. It stays a string: the JWE it holds is text, so copying it
// into bytes would only be undone again.
func requestBody(ev *events.APIGatewayV2HTTPRequest) (string, error) {
	if len(ev.Body) > 2*MaxBodyBytes {
		return "", vaulterr.New(vaulterr.PayloadTooLarge, "body over 64 KiB")
	}
	body := ev.Body
	if ev.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return "", vaulterr.New(vaulterr.Malformed, "body is not valid base64")
		}
		body = string(decoded)
	}
	if len(body) > MaxBodyBytes {
		return "", vaulterr.New(vaulterr.PayloadTooLarge, "body over 64 KiB")
	}
	return body, nil
}

func isJOSE(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/jose"
}

// bearerCredential finds a Bearer route's JWS. Behind API Gateway's IAM
// authorizer, Authorization holds the caller's SigV4 signature, so the JWS
// may travel in Vault-Authorization instead: that header wins when present,
// Authorization is read only when it holds a Bearer credential. Two Bearer
// credentials are refused rather than one picked, since they may differ;
// a SigV4 Authorization alone carries no JWS at all.
func bearerCredential(headers map[string]string) (string, error) {
	auth := header(headers, "authorization")
	authToken, authIsBearer := bearer(auth)
	if vaultAuth, present := lookupHeader(headers, "vault-authorization"); present {
		token, ok := bearer(vaultAuth)
		if !ok {
			return "", vaulterr.New(vaulterr.Unauthenticated, "no credential: Vault-Authorization must be Bearer <JWS>")
		}
		if authIsBearer {
			return "", vaulterr.New(vaulterr.Malformed, "both Authorization and Vault-Authorization carry a Bearer credential; send one")
		}
		return token, nil
	}
	if authIsBearer {
		return authToken, nil
	}
	if strings.TrimSpace(auth) != "" {
		return "", vaulterr.New(vaulterr.Unauthenticated, "no credential: Authorization holds no Bearer JWS (send it as Vault-Authorization: Bearer <JWS> beside SigV4)")
	}
	return "", vaulterr.New(vaulterr.Unauthenticated, "no credential: send Authorization: Bearer <JWS> or Vault-Authorization: Bearer <JWS>")
}

func bearer(h string) (string, bool) {
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	token := strings.TrimSpace(h[len(prefix):])
	return token, token != ""
}

// header looks a header up case-insensitively (API Gateway lowercases
// names, other callers may not).
func header(h map[string]string, name string) string {
	v, _ := lookupHeader(h, name)
	return v
}

// lookupHeader is header that also tells whether the header was sent.
func lookupHeader(h map[string]string, name string) (string, bool) {
	if v, ok := h[name]; ok {
		return v, true
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

func (a *API) respond(reply Reply, err error, requestID string) events.APIGatewayV2HTTPResponse {
	headers := map[string]string{
		"cache-control":          "no-store",
		"x-content-type-options": "nosniff",
		"x-request-id":           requestID,
	}
	if err != nil {
		ve := vaulterr.As(err)
		status := ve.Code.Status()
		if ve.Code == vaulterr.Unavailable || ve.Code == vaulterr.RateLimited {
			headers["retry-after"] = "1"
		}
		message := ve.Message
		if ve.Code == vaulterr.Internal {
			message = "internal error"
		}
		b, _ := json.Marshal(errorBody{Error: errorDetail{Code: string(ve.Code), Message: message, RequestID: requestID}})
		headers["content-type"] = "application/json"
		return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: headers, Body: string(b)}
	}
	switch {
	case reply.JOSE != "":
		headers["content-type"] = "application/jose"
		return events.APIGatewayV2HTTPResponse{StatusCode: reply.Status, Headers: headers, Body: reply.JOSE}
	case reply.ContentType != "":
		headers["content-type"] = reply.ContentType
		return events.APIGatewayV2HTTPResponse{StatusCode: reply.Status, Headers: headers, Body: reply.Text}
	case reply.JSON != nil:
		b, mErr := json.Marshal(reply.JSON)
		if mErr != nil {
			return a.respond(Reply{}, mErr, requestID)
		}
		headers["content-type"] = "application/json"
		return events.APIGatewayV2HTTPResponse{StatusCode: reply.Status, Headers: headers, Body: string(b)}
	default:
		return events.APIGatewayV2HTTPResponse{StatusCode: reply.Status, Headers: headers}
	}
}

// log writes one line per request. It names the request, never its
// content; causes of server-side failures are logged for operators (every
// error the vault builds is free of sensitive data by construction).
func (a *API) log(ctx context.Context, e audit.Event, status int, err error) {
	attrs := []slog.Attr{
		slog.String("request_id", e.RequestID),
		slog.String("action", e.Action),
		slog.Int("status", status),
		slog.Int64("duration_ms", e.DurationMS),
	}
	if e.ClientID != "" {
		attrs = append(attrs, slog.String("client_id", e.ClientID))
	}
	if e.Merchant != "" {
		attrs = append(attrs, slog.String("merchant_id", e.Merchant))
	}
	level := slog.LevelInfo
	if err != nil {
		attrs = append(attrs, slog.String("code", e.Code))
		if status >= 500 {
			level = slog.LevelError
			var ve *vaulterr.Error
			if !errors.As(err, &ve) || ve.Cause != nil {
				attrs = append(attrs, slog.String("err", err.Error()))
			}
		}
	}
	a.deps.Logger.LogAttrs(ctx, level, "request", attrs...)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
