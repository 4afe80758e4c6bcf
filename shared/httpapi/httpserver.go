package httpapi

import (
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/vaulterr"
)

// HTTPHandler serves an API over plain net/http by building, for every
// request, the API Gateway HTTP API (payload v2) event a Lambda function
// would get, so local mode runs exactly the Lambda code path.
func HTTPHandler(api *API) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read one byte past the limit so that an oversized body is
		// refused by the same check as in Lambda, without buffering more.
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
		if err != nil {
			writeResponse(w, api.Refuse(r.Context(), sourceIP(r.RemoteAddr), vaulterr.New(vaulterr.Malformed, "cannot read the body")))
			return
		}
		resp, _ := api.Handle(r.Context(), EventFromHTTP(api, r, body))
		writeResponse(w, resp)
	})
}

func writeResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) {
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.WriteString(w, resp.Body)
}

// MaxHeaderBytes bounds the request line and headers the local server
// reads (net/http adds a 4 KiB read buffer to it). API Gateway's own bound
// is lower (10 KiB); this one only keeps a hostile client from making the
// local server buffer without end.
const MaxHeaderBytes = 64 << 10

// NewServer is the local server for an API: net/http with bounded reads
// and timeouts. Serve it on a listener wrapped by Listener, so that what
// net/http refuses by itself is answered as the contract says.
func NewServer(api *API) *http.Server {
	return &http.Server{
		Handler:           HTTPHandler(api),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// EventFromHTTP builds the payload v2 event API Gateway would send for r.
func EventFromHTTP(api *API, r *http.Request, body []byte) events.APIGatewayV2HTTPRequest {
	headers := make(map[string]string, len(r.Header))
	for k, v := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	rawPath := r.URL.EscapedPath()
	routeKey, params, ok := api.Match(r.Method, rawPath)
	if !ok {
		routeKey = "$default"
	}
	now := time.Now()
	return events.APIGatewayV2HTTPRequest{
		Version:         "2.0",
		RouteKey:        routeKey,
		RawPath:         rawPath,
		RawQueryString:  r.URL.RawQuery,
		Headers:         headers,
		PathParameters:  params,
		Body:            string(body),
		IsBase64Encoded: false,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:  routeKey,
			Stage:     "$default",
			RequestID: audit.NewID(),
			Time:      now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch: now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      rawPath,
				Protocol:  r.Proto,
				SourceIP:  sourceIP(r.RemoteAddr),
				UserAgent: r.UserAgent(),
			},
		},
	}
}

func sourceIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}
