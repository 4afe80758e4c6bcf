package awsfake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// Region and Account are where every fake resource lives.
	Region  = "eu-west-1"
	Account = "111122223333"

	jsonContentType = "application/x-amz-json-1.1"
	maxRequestBody  = 1 << 20
)

// apiError is an AWS JSON protocol error: the SDK reads the error code from
// the body's "__type" member and the HTTP status decides retries.
type apiError struct {
	Type    string
	Message string
	Status  int
}

func clientError(errType, message string) *apiError {
	return &apiError{Type: errType, Message: message, Status: http.StatusBadRequest}
}

// request is one decoded call to an endpoint.
type request struct {
	Op        string
	RequestID string
	Body      []byte
}

// handler answers one operation with a JSON-marshalable value or an error.
type handler func(request) (any, *apiError)

type injectedFailure struct {
	errType string
	status  int
}

// endpoint is the JSON 1.1 plumbing shared by the fakes: target dispatch,
// request ids, signature presence, injected failures and latency.
type endpoint struct {
	targetPrefix string
	handlers     map[string]handler
	// observe, when set, sees every well-formed call before failures are
	// injected, so that retried attempts are recorded too.
	observe func(request)

	server *httptest.Server

	mu       sync.Mutex
	failures []injectedFailure
	latency  time.Duration
	calls    map[string]int
}

// Cleaner is what a fake needs of its owner: a way to be stopped when the
// owner is done (a testing.TB, or a local run's own list of stops).
type Cleaner interface {
	Cleanup(func())
}

func newEndpoint(t Cleaner, targetPrefix string, handlers map[string]handler, observe func(request)) *endpoint {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
	e := &endpoint{
		targetPrefix: targetPrefix,
		handlers:     handlers,
		observe:      observe,
		calls:        map[string]int{},
	}
	e.server = httptest.NewServer(e)
	t.Cleanup(e.server.Close)
	return e
}

// FailNext makes the next n calls, whatever their operation, answer with
// the given error type and HTTP status (for example "ThrottlingException"
// with 400, or "KMSInternalException" with 500).
func (e *endpoint) FailNext(n int, errType string, status int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for range n {
		e.failures = append(e.failures, injectedFailure{errType: errType, status: status})
	}
}

// SetLatency delays every answer by d, as a slow network would.
func (e *endpoint) SetLatency(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.latency = d
}

// Calls is the number of calls received for op, counting every attempt
// the SDK made, failed or not. An empty op counts every operation.
func (e *endpoint) Calls(op string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if op == "" {
		total := 0
		for _, n := range e.calls {
			total += n
		}
		return total
	}
	return e.calls[op]
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := newRequestID()
	w.Header().Set("x-amzn-RequestId", requestID)

	if r.Method != http.MethodPost || r.URL.Path != "/" {
		writeError(w, &apiError{Type: "UnknownOperationException", Message: "only POST / is served", Status: http.StatusNotFound})
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != jsonContentType {
		writeError(w, clientError("UnknownOperationException", "unexpected content type "+strconv.Quote(ct)))
		return
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), e.targetPrefix+".")
	h := e.handlers[op]
	if !ok || h == nil {
		writeError(w, clientError("UnknownOperationException", "unknown operation"))
		return
	}
	// The SDK signs every request with SigV4; a request that is not signed
	// did not come through a configured client.
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=") {
		writeError(w, clientError("MissingAuthenticationTokenException", "request is not signed"))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil || len(body) > maxRequestBody || !json.Valid(body) {
		writeError(w, clientError("SerializationException", "request body is not a JSON document"))
		return
	}
	req := request{Op: op, RequestID: requestID, Body: body}

	failure, latency := e.begin(req)
	if latency > 0 {
		timer := time.NewTimer(latency)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			return
		}
	}
	if failure != nil {
		writeError(w, &apiError{Type: failure.errType, Message: "injected failure", Status: failure.status})
		return
	}
	out, apiErr := h(req)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// begin counts and records a call and takes the next injected failure.
func (e *endpoint) begin(req request) (*injectedFailure, time.Duration) {
	e.mu.Lock()
	e.calls[req.Op]++
	var failure *injectedFailure
	if len(e.failures) > 0 {
		failure = &e.failures[0]
		e.failures = e.failures[1:]
	}
	latency := e.latency
	e.mu.Unlock()
	if e.observe != nil {
		e.observe(req)
	}
	return failure, latency
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Status, map[string]string{"__type": e.Type, "message": e.Message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"__type":"InternalFailure","message":"fake could not encode its answer"}`)
	}
	w.Header().Set("Content-Type", jsonContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// decode reads a request body into v, answering SerializationException
// as the services do for a body of the wrong shape.
func decode(req request, v any) *apiError {
	if err := json.Unmarshal(req.Body, v); err != nil {
		return clientError("SerializationException", "cannot decode "+req.Op+" request")
	}
	return nil
}
