// Package invoke runs one of the vault's Lambda functions in-process, fed a
// sample event, the way `sam local invoke` would run its binary: the
// function's own handler only (app.FunctionNamed + Components.API), on local
// mode's backends (dynalite, the local master key, local files).
//
// Sample events (events/*.json) are API Gateway HTTP API payload 2.0 events
// whose vault request is a template, because a real request cannot be
// stored: its iat must be current and its jti new. The member
// "x-vault-request" says what to send:
//
//	"x-vault-request": {"op": "vault_card", "merchant_id": "m_demo",
//	                    "claims": {"customer_id": "c_1", "card": {...}}}
//
// The invoker adds iss, aud, iat and jti, signs the claims with the demo
// client's key and puts the JWS where the route takes it: a JWE body
// (application/jose) encrypted to the vault's public key for routes with a
// sensitive body, a Bearer header otherwise: Vault-Authorization when the
// event's Authorization holds a SigV4 signature (as behind the IAM
// authorizer), Authorization when it has none.
//
// Events that need something to exist first say so with placeholders,
// replaced before anything else:
//
//	$VAULTED_TOKEN  the token of a demo card vaulted first (through the
//	                vault-card function) for the request's merchant
//	                (customer c_demo)
//	$VAULTED_FINGERPRINT  that card's fingerprint
//	$STORED_SECRET  the name of a demo secret put first (through the
//	                put-secret function) for the request's merchant
//
// or with "x-vault-setup": ["vault_card", "put_secret"] when the event does
// not name the result.
package invoke

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/client"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/httpapi"
	"github.com/cardvault/vault/shared/migrate"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/wire"
)

// Placeholders a sample event may hold.
const (
	TokenPlaceholder       = "$VAULTED_TOKEN" // #nosec G101 -- a placeholder name in event files, not a credential
	FingerprintPlaceholder = "$VAULTED_FINGERPRINT"
	SecretPlaceholder      = "$STORED_SECRET"
)

// Setup steps of "x-vault-setup".
const (
	SetupVaultCard = "vault_card"
	SetupPutSecret = "put_secret"
)

// DefaultMerchant is the merchant of setup steps when the event's request
// names none.
const DefaultMerchant = "m_demo"

// ErrNotHTTP is returned for a function that is not an HTTP function of this
// build and has no ScheduledHandler.
var ErrNotHTTP = errors.New("not an HTTP function")

// ScheduledHandler runs a function invoked with a plain JSON input
// (EventBridge Scheduler, an asynchronous Lambda invocation) rather than an
// HTTP event, and returns its JSON result.
type ScheduledHandler func(ctx context.Context, c *app.Components, input json.RawMessage) (json.RawMessage, error)

// Invoker invokes functions: in-process on one set of components (New),
// or by sending each event to the function's own runtime (NewRemote: the
// built bootstrap under the Lambda Runtime Interface Emulator).
type Invoker struct {
	// Components are the in-process functions' adapters (nil for a
	// remote invoker).
	Components *app.Components
	// Scheduled holds the non-HTTP functions, by name (rotate-dek: RunWork).
	Scheduled map[string]ScheduledHandler

	// creds and vaultJWKS make requests as a client over HTTP would:
	// signed with creds, sensitive ones sealed to the vault's public keys.
	creds     *client.Credentials
	vaultJWKS []byte

	// send, when set, invokes a function remotely with a raw payload
	// and returns its raw answer; routes then come from routeTable.
	send       Sender
	routeTable *app.Components
}

// Sender invokes a function with a payload, as Lambda's Invoke API does,
// and returns what the function returned. A function error (a failed
// cold start, a handler error) is an error.
type Sender func(ctx context.Context, function string, payload []byte) ([]byte, error)

// NewRemote makes an invoker acting as the client whose credentials are
// given, sealing to the public half of vaultKeys, that hands each
// prepared event to send. The HTTP functions' route tables (which routes
// take a JWE body, which a bearer JWS) are read from app.Functions on
// inert components: nothing of them runs in this process.
func NewRemote(creds *client.Credentials, vaultKeys *wire.VaultKeys, send Sender) *Invoker {
	inert := &app.Components{VaultKeys: vaultKeys, Files: inertFiles{}, JobWork: inertFiles{}}
	inert.UseKeyring(func() (envelope.Keyring, error) { return inertKeyring{}, nil })
	return &Invoker{creds: creds, vaultJWKS: vaultKeys.PublicJWKS(), send: send, routeTable: inert}
}

// New makes an invoker acting as the client whose credentials file is
// given (local mode's demo client: <VAULT_LOCAL_DIR>/demo-client.json).
// Requests are encrypted to c.VaultKeys' public keys. New replaces
// c.Background, so c must not have built its key lifecycle yet.
func New(c *app.Components, credentialsPath string) (*Invoker, error) {
	if c == nil || c.VaultKeys == nil {
		return nil, errors.New("invoke: the components have no vault keys")
	}
	creds, err := client.LoadCredentials(credentialsPath)
	if err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	// Work an invocation hands to the background runs inline, as
	// rotate-dek (see workAsRotateDEK). Set before the key lifecycle is
	// first built, which reads it once.
	logger := c.Logger
	if logger == nil {
		logger = app.NewLogger()
	}
	c.Background = func(life *vault.KeyLifecycle) vault.BackgroundWork {
		return workAsRotateDEK{life: life, timeout: DefaultWorkTimeout, logger: logger}
	}
	if c.JobWork != nil {
		// Likewise a job an invocation starts runs inline, as migrate.
		c.JobWork = jobsAsMigrate{c: c, timeout: DefaultWorkTimeout, logger: logger}
	}
	return &Invoker{Components: c, Scheduled: defaultScheduled(), creds: creds, vaultJWKS: c.VaultKeys.PublicJWKS()}, nil
}

// Result is what an invocation returned: an HTTP function's response, or a
// scheduled function's output.
type Result struct {
	HTTP   *events.APIGatewayV2HTTPResponse
	Output json.RawMessage
}

// JSON is the result as printed: the response event, or the output.
func (r Result) JSON() ([]byte, error) {
	if r.HTTP != nil {
		return json.MarshalIndent(r.HTTP, "", "  ")
	}
	return r.Output, nil
}

// functionKey carries the name of the function a context runs in.
type functionKey struct{}

// WithFunction marks ctx as running function name; the invoker does so for
// every handler it calls (setup steps included), so adapters that observe
// calls (tests recording DynamoDB and keyring use) can tell whose they are.
func WithFunction(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, functionKey{}, name)
}

// FunctionFrom is the function ctx runs in ("" outside an invocation).
func FunctionFrom(ctx context.Context) string {
	name, _ := ctx.Value(functionKey{}).(string)
	return name
}

// Invoke runs function with the sample event.
func (iv *Invoker) Invoke(ctx context.Context, function string, event []byte) (Result, error) {
	fn, err := app.FunctionNamed(function)
	if err != nil && iv.send != nil {
		out, err := iv.send(ctx, function, event)
		return Result{Output: out}, err
	}
	if err != nil {
		if h, ok := iv.Scheduled[function]; ok {
			out, err := h(WithFunction(ctx, function), iv.Components, json.RawMessage(event))
			return Result{Output: out}, err
		}
		return Result{}, fmt.Errorf("%s: %w (and no scheduled handler is registered for it)", function, ErrNotHTTP)
	}
	ev, err := iv.prepare(ctx, event)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", function, err)
	}
	resp, err := iv.call(ctx, fn, ev)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", function, err)
	}
	return Result{HTTP: &resp}, nil
}

// call builds fn's handler alone and runs it on a sealed event.
func (iv *Invoker) call(ctx context.Context, fn app.Function, ev sampleEvent) (events.APIGatewayV2HTTPResponse, error) {
	if iv.send != nil {
		return iv.callRemote(ctx, fn, ev)
	}
	api, err := iv.Components.API(fn)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	if err := iv.seal(api.Routes(), &ev); err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	return api.Handle(WithFunction(ctx, fn.Name), ev.APIGatewayV2HTTPRequest)
}

// callRemote seals the event with fn's route table and sends it.
func (iv *Invoker) callRemote(ctx context.Context, fn app.Function, ev sampleEvent) (events.APIGatewayV2HTTPResponse, error) {
	var resp events.APIGatewayV2HTTPResponse
	routes, err := fn.Routes(iv.routeTable)
	if err != nil {
		return resp, err
	}
	if err := iv.seal(routes, &ev); err != nil {
		return resp, err
	}
	payload, err := json.Marshal(ev.APIGatewayV2HTTPRequest)
	if err != nil {
		return resp, err
	}
	out, err := iv.send(ctx, fn.Name, payload)
	if err != nil {
		return resp, err
	}
	if err := json.Unmarshal(out, &resp); err != nil || resp.StatusCode == 0 {
		return resp, fmt.Errorf("the function answered %q, not an HTTP API response", truncate(out))
	}
	return resp, nil
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// inertFiles lets the job routes' table be built where no job file is
// ever touched and no job started: every call fails.
type inertFiles struct{}

var (
	_ migrate.Files = inertFiles{}
	_ migrate.Work  = inertFiles{}
)

func (inertFiles) UploadLink(context.Context, string, time.Duration) (migrate.Link, error) {
	return migrate.Link{}, errInert
}
func (inertFiles) DownloadLink(context.Context, string, time.Duration) (migrate.Link, error) {
	return migrate.Link{}, errInert
}
func (inertFiles) Open(context.Context, string) (io.ReadCloser, error) { return nil, errInert }
func (inertFiles) Put(context.Context, string, io.Reader) error        { return errInert }
func (inertFiles) Delete(context.Context, string) error                { return errInert }
func (inertFiles) StartJob(context.Context, string) error              { return errInert }

// inertKeyring lets route tables be built where nothing is ever
// decrypted: every call fails.
type inertKeyring struct{}

var _ envelope.Keyring = inertKeyring{}

var errInert = errors.New("invoke: the route table's keyring never runs")

func (inertKeyring) MasterKeyID() string { return "" }
func (inertKeyring) Wrap(context.Context, []byte, envelope.EncryptionContext) (envelope.WrappedKey, envelope.Call, error) {
	return envelope.WrappedKey{}, envelope.Call{}, errInert
}
func (inertKeyring) Unwrap(context.Context, envelope.WrappedKey, envelope.EncryptionContext) ([]byte, envelope.Call, error) {
	return nil, envelope.Call{}, errInert
}
func (inertKeyring) ReWrap(context.Context, envelope.WrappedKey, envelope.EncryptionContext) (envelope.WrappedKey, envelope.Call, error) {
	return envelope.WrappedKey{}, envelope.Call{}, errInert
}

// requestTemplate is "x-vault-request".
type requestTemplate struct {
	Op         string         `json:"op"`
	MerchantID string         `json:"merchant_id"`
	Claims     map[string]any `json:"claims"`
}

// sampleEvent is an event file: the API Gateway event and the vault's
// members beside it (API Gateway ignores unknown members, and so would the
// Lambda runtime).
type sampleEvent struct {
	events.APIGatewayV2HTTPRequest
	Request *requestTemplate `json:"x-vault-request"`
	Setup   []string         `json:"x-vault-setup"`
}

// prepare runs the setup steps the event asks for, replaces the
// placeholders and decodes the event, with a fresh request id and time.
func (iv *Invoker) prepare(ctx context.Context, raw []byte) (sampleEvent, error) {
	var probe sampleEvent
	if err := json.Unmarshal(raw, &probe); err != nil {
		return sampleEvent{}, fmt.Errorf("event is not an API Gateway HTTP API event: %w", err)
	}
	merchant := DefaultMerchant
	if probe.Request != nil && probe.Request.MerchantID != "" {
		merchant = probe.Request.MerchantID
	}
	text := string(raw)
	needCard := strings.Contains(text, TokenPlaceholder) || strings.Contains(text, FingerprintPlaceholder)
	needSecret := strings.Contains(text, SecretPlaceholder)
	for _, step := range probe.Setup {
		switch step {
		case SetupVaultCard:
			needCard = true
		case SetupPutSecret:
			needSecret = true
		default:
			return sampleEvent{}, fmt.Errorf("unknown x-vault-setup step %q (%s, %s)", step, SetupVaultCard, SetupPutSecret)
		}
	}
	if needCard {
		token, fingerprint, err := iv.vaultDemoCard(ctx, merchant)
		if err != nil {
			return sampleEvent{}, fmt.Errorf("setup %s: %w", SetupVaultCard, err)
		}
		text = strings.ReplaceAll(text, TokenPlaceholder, token)
		text = strings.ReplaceAll(text, FingerprintPlaceholder, fingerprint)
	}
	if needSecret {
		name, err := iv.putDemoSecret(ctx, merchant)
		if err != nil {
			return sampleEvent{}, fmt.Errorf("setup %s: %w", SetupPutSecret, err)
		}
		text = strings.ReplaceAll(text, SecretPlaceholder, name)
	}
	var ev sampleEvent
	if err := json.Unmarshal([]byte(text), &ev); err != nil {
		return sampleEvent{}, fmt.Errorf("event is not an API Gateway HTTP API event: %w", err)
	}
	if ev.RouteKey == "" {
		return sampleEvent{}, errors.New(`event has no routeKey (e.g. "POST /v1/cards")`)
	}
	freshen(&ev.APIGatewayV2HTTPRequest)
	return ev, nil
}

// freshen gives the event a new request id and the current time, as API
// Gateway does for every request.
func freshen(ev *events.APIGatewayV2HTTPRequest) {
	now := time.Now()
	ev.RequestContext.RequestID = rand.Text()
	ev.RequestContext.Time = now.UTC().Format("02/Jan/2006:15:04:05 -0700")
	ev.RequestContext.TimeEpoch = now.UnixMilli()
	if ev.Version == "" {
		ev.Version = "2.0"
	}
	if ev.RequestContext.RouteKey == "" {
		ev.RequestContext.RouteKey = ev.RouteKey
	}
}

// seal turns the event's request template into the credential its route
// takes. An event without a template (jwks, health) is sent as is.
func (iv *Invoker) seal(routes []httpapi.Route, ev *sampleEvent) error {
	if ev.Request == nil {
		return nil
	}
	route, ok := routeByKey(routes, ev.RouteKey)
	if !ok {
		return fmt.Errorf("this function serves no route %q", ev.RouteKey)
	}
	claims := make(map[string]any, len(ev.Request.Claims)+2)
	for k, v := range ev.Request.Claims {
		claims[k] = v
	}
	if _, set := claims["op"]; !set {
		claims["op"] = ev.Request.Op
	}
	if _, set := claims["merchant_id"]; !set && ev.Request.MerchantID != "" {
		claims["merchant_id"] = ev.Request.MerchantID
	}
	jws, _, err := client.SignRequest(iv.creds, claims, time.Now())
	if err != nil {
		return fmt.Errorf("x-vault-request: %w", err)
	}
	if ev.Headers == nil {
		ev.Headers = map[string]string{}
	}
	switch route.Body {
	case httpapi.JOSEBody:
		jwe, err := client.SealToVault(jws, iv.vaultJWKS)
		if err != nil {
			return fmt.Errorf("x-vault-request: %w", err)
		}
		ev.Body, ev.IsBase64Encoded = jwe, false
		ev.Headers["content-type"] = "application/jose"
		delete(ev.Headers, "vault-authorization")
		if isBearer(ev.Headers["authorization"]) {
			delete(ev.Headers, "authorization")
		}
	case httpapi.Bearer:
		// Behind the IAM authorizer Authorization holds the SigV4
		// signature, and the JWS rides in Vault-Authorization.
		if auth := ev.Headers["authorization"]; auth != "" && !isBearer(auth) {
			ev.Headers["vault-authorization"] = "Bearer " + jws
		} else {
			ev.Headers["authorization"] = "Bearer " + jws
		}
		ev.Body = ""
	default:
		return fmt.Errorf("route %q takes no credential, but the event has x-vault-request", ev.RouteKey)
	}
	ev.Headers["content-length"] = fmt.Sprint(len(ev.Body))
	return nil
}

func isBearer(h string) bool {
	return len(h) > len("bearer ") && strings.EqualFold(h[:len("bearer ")], "bearer ")
}

func routeByKey(routes []httpapi.Route, key string) (httpapi.Route, bool) {
	for _, r := range routes {
		if r.Key() == key {
			return r, true
		}
	}
	return httpapi.Route{}, false
}
