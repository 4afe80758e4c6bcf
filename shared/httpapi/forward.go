package httpapi

import (
	"context"
	"encoding/base64"
	"net/http"
	"unicode/utf8"

	"github.com/cardvault/vault/shared/forward"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/wire"
)

// forwardAnswer is the JSON answer of a forward, whatever the provider
// answered.
type forwardAnswer struct {
	Destination  string            `json:"destination"`
	Status       int               `json:"status"`
	Headers      map[string]string `json:"headers"`
	Body         string            `json:"body"`
	BodyEncoding string            `json:"body_encoding"`
}

// ForwardRoutes are the routes of the forward function.
func ForwardRoutes(f *vault.Forwarder) []Route {
	return []Route{{
		Method: http.MethodPost, Path: "/v1/forward", Op: wire.OpForward, Body: JOSEBody,
		Handle: func(ctx context.Context, r *Request) (Reply, error) {
			in, err := decodeForward(r)
			if err != nil {
				return Reply{}, err
			}
			res, trace, err := f.Forward(ctx, in)
			if err != nil {
				return Reply{Trace: trace}, err
			}
			answer := forwardAnswer{Destination: res.Destination, Status: res.Status, Headers: res.Headers, BodyEncoding: "utf-8"}
			if utf8.Valid(res.Body) {
				answer.Body = string(res.Body)
			} else {
				answer.Body, answer.BodyEncoding = base64.StdEncoding.EncodeToString(res.Body), "base64"
			}
			return Reply{Status: http.StatusOK, JSON: answer, Trace: trace}, nil
		},
	}}
}

func decodeForward(r *Request) (vault.ForwardInput, error) {
	claims := r.Auth.Claims()
	dest, ok, err := claims.String("destination")
	if err != nil || !ok || dest == "" {
		return vault.ForwardInput{}, malformed("claim destination is missing or ill-typed")
	}
	token, _, err := claims.String("token")
	if err != nil {
		return vault.ForwardInput{}, malformed("claim token is ill-typed")
	}
	reqObj, ok, err := claims.Object("request")
	if err != nil || !ok {
		return vault.ForwardInput{}, malformed("claim request is missing or not an object")
	}
	req, err := forward.ParseRequest(reqObj)
	if err != nil {
		return vault.ForwardInput{}, err
	}
	return vault.ForwardInput{
		Caller: r.Caller(), RequestID: r.RequestID, Allowed: r.Auth.Client.Destinations,
		Destination: dest, Token: token, Request: req,
	}, nil
}
