// Package iamproxy is a recording proxy in front of the AWS emulators that
// holds every call to the caller's IAM role, as AWS would: the functions
// are given its URL as AWS_ENDPOINT_URL, each with access keys of its own
// that name its principal; the proxy reads each AWS JSON protocol request
// (X-Amz-Target and body: DynamoDB, KMS, Secrets Manager, EventBridge)
// and each S3 REST request (path-style object calls, presigned or not),
// derives the IAM requests AWS would authorize for it (action, resource
// ARN, condition keys such as dynamodb:LeadingKeys or
// kms:EncryptionContext:*), evaluates them against the principal's policy
// (iampolicy) and either forwards the call to the emulator of its service
// or answers AccessDeniedException, with AWS's status and error shape.
// Every call is recorded with its decision, so a test can fail on any
// denied call and on any grant no call used.
package iamproxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cardvault/vault/shared/deploy/iampolicy"
)

// Principal is a caller: a function running under its role.
type Principal struct {
	// Function names the caller in records and messages.
	Function string
	// RoleARN is the role's ARN, for AWS's denial message.
	RoleARN string
	Policy  iampolicy.Policy
}

// Call is one recorded call.
type Call struct {
	Function  string
	Operation string // X-Amz-Target
	// Checks are the IAM requests of the call and their decisions.
	Checks []Check
	// Refused says why the proxy refused the call without asking IAM
	// (an unknown caller, an operation it cannot authorize).
	Refused string
	// Status is the HTTP status the caller got.
	Status int
}

// Check is one IAM request and its decision.
type Check struct {
	Request  iampolicy.Request
	Decision iampolicy.Decision
}

// Denied reports whether the caller was refused.
func (c Call) Denied() bool {
	if c.Refused != "" {
		return true
	}
	return slices.ContainsFunc(c.Checks, func(ch Check) bool { return !ch.Decision.Allowed })
}

func (c Call) String() string {
	if c.Refused != "" {
		return c.Function + " " + c.Operation + ": refused: " + c.Refused
	}
	var parts []string
	for _, ch := range c.Checks {
		verdict := "allowed"
		if !ch.Decision.Allowed {
			verdict = "DENIED"
		}
		parts = append(parts, verdict+" "+ch.Request.String())
	}
	return c.Function + " " + c.Operation + ": " + strings.Join(parts, "; ")
}

// Proxy is the recording, authorizing proxy.
type Proxy struct {
	// URL is the endpoint to give the functions (AWS_ENDPOINT_URL).
	URL string

	where     Where
	upstreams map[string]string
	client    *http.Client
	server    *http.Server
	listener  net.Listener

	// s3Credentials sign the calls forwarded to the S3 stand-in.
	s3Credentials aws.Credentials

	mu         sync.Mutex
	principals map[string]Principal // by access key id
	calls      []Call
}

// Start serves the proxy on a loopback port chosen by the OS. upstreams
// maps each service's target prefix (DynamoDB, KMS, ...) to the base URL
// of its emulator.
func Start(where Where, upstreams map[string]string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	p := &Proxy{
		URL:        "http://" + ln.Addr().String(),
		where:      where,
		upstreams:  upstreams,
		client:     &http.Client{Transport: transport, Timeout: 30 * time.Second},
		listener:   ln,
		principals: map[string]Principal{},
	}
	p.server = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.server.Serve(ln) }()
	return p, nil
}

// Close stops the proxy.
func (p *Proxy) Close() error {
	p.client.CloseIdleConnections()
	return p.server.Close()
}

// Allow makes accessKeyID the credential of principal (the function's
// AWS_ACCESS_KEY_ID), replacing any principal it named before.
func (p *Proxy) Allow(accessKeyID string, principal Principal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.principals[accessKeyID] = principal
}

// Calls returns every call recorded so far, oldest first.
func (p *Proxy) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

func (p *Proxy) record(c Call) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, c)
}

// maxBody bounds a request body (DynamoDB's item limit is 400 KB).
const maxBody = 16 << 20

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isS3(r) {
		p.serveS3(w, r)
		return
	}
	target := r.Header.Get("X-Amz-Target")
	call := Call{Operation: target}
	service, op, _ := strings.Cut(target, ".")
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		p.refuse(w, call, http.StatusBadRequest, "SerializationException", "the request body cannot be read")
		return
	}
	principal, ok := p.principal(r)
	if !ok {
		p.refuse(w, call, http.StatusBadRequest, "UnrecognizedClientException", "the security token included in the request is invalid")
		return
	}
	call.Function = principal.Function
	upstream, ok := p.upstreams[service]
	if !ok {
		p.refuse(w, call, http.StatusBadRequest, "UnknownOperationException", "no emulator serves "+target)
		return
	}
	auths, err := p.where.requestsOf(service, op, body)
	if err != nil {
		p.refuse(w, call, http.StatusBadRequest, "AccessDeniedException", "the proxy cannot authorize this call: "+err.Error())
		return
	}
	// Authorize what the request names; what only the answer names (the
	// key of a ciphertext, the ARN of a secret named by name) is
	// authorized once the emulator answered, before the caller sees it.
	if denied := p.check(principal, &call, auths, nil); denied != nil {
		p.deny(w, call, principal, *denied)
		return
	}
	status, header, answer, err := p.forward(r, upstream, body)
	if err != nil {
		p.refuse(w, call, http.StatusInternalServerError, "InternalFailure", "the emulator did not answer: "+err.Error())
		return
	}
	if status == http.StatusOK {
		if denied := p.check(principal, &call, auths, answer); denied != nil {
			p.deny(w, call, principal, *denied)
			return
		}
	}
	call.Status = status
	p.record(call)
	for k, vs := range header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(answer) // #nosec G705 -- the emulator's JSON answer, relayed as is to the SDK client that asked
}

// check evaluates the authorizations whose resource is known: without an
// answer, those the request names; with one, those it names. It records
// each decision in call and returns the first denied request.
func (p *Proxy) check(principal Principal, call *Call, auths []authorization, answer []byte) *iampolicy.Request {
	var denied *iampolicy.Request
	for _, a := range auths {
		if (answer == nil) != (a.resourceFrom == "") {
			continue
		}
		req := a.req
		if answer != nil {
			var out map[string]json.RawMessage
			_ = json.Unmarshal(answer, &out)
			req.Resource = p.where.keyOrARN(str(out, a.resourceFrom))
		}
		d := principal.Policy.Evaluate(req)
		call.Checks = append(call.Checks, Check{Request: req, Decision: d})
		if !d.Allowed && denied == nil {
			denied = &req
		}
	}
	return denied
}

func (w Where) keyOrARN(s string) string {
	if strings.HasPrefix(s, "arn:") {
		return s
	}
	return w.keyARN(s)
}

func (p *Proxy) principal(r *http.Request) (Principal, bool) {
	// Authorization: AWS4-HMAC-SHA256 Credential=<key id>/<date>/..., ...
	auth := r.Header.Get("Authorization")
	_, rest, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return Principal{}, false
	}
	keyID, _, _ := strings.Cut(rest, "/")
	return p.principalNamed(keyID)
}

// principalNamed is the principal of access key keyID.
func (p *Proxy) principalNamed(keyID string) (Principal, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	principal, ok := p.principals[keyID]
	return principal, ok
}

func (p *Proxy) forward(r *http.Request, upstream string, body []byte) (int, http.Header, []byte, error) {
	out, err := http.NewRequestWithContext(r.Context(), http.MethodPost, strings.TrimRight(upstream, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	for k, vs := range r.Header {
		if k == "Content-Length" || k == "Host" {
			continue
		}
		out.Header[k] = vs
	}
	resp, err := p.client.Do(out)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, nil, err
	}
	header := resp.Header.Clone()
	header.Del("Content-Length")
	return resp.StatusCode, header, answer, nil
}

// deny answers as AWS does when no identity policy allows a request.
func (p *Proxy) deny(w http.ResponseWriter, call Call, principal Principal, req iampolicy.Request) {
	msg := fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action",
		principal.RoleARN+"/"+principal.Function, req.Action, req.Resource, req.Action)
	call.Status = http.StatusBadRequest
	p.record(call)
	writeError(w, http.StatusBadRequest, "AccessDeniedException", msg)
}

func (p *Proxy) refuse(w http.ResponseWriter, call Call, status int, errType, msg string) {
	call.Refused = errType + ": " + msg
	call.Status = status
	p.record(call)
	writeError(w, status, errType, msg)
}

func writeError(w http.ResponseWriter, status int, errType, msg string) {
	body, _ := json.Marshal(map[string]string{"__type": errType, "message": msg})
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("x-amzn-RequestId", fmt.Sprintf("iamproxy-%d", time.Now().UnixNano()))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
