package httpapi

import (
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cardvault/vault/shared/audit"
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
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		ev := EventFromHTTP(api, r, body)
		resp, _ := api.Handle(r.Context(), ev)
		for k, v := range resp.Headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.WriteString(w, resp.Body)
	})
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
	sourceIP, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		sourceIP = r.RemoteAddr
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
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
}
