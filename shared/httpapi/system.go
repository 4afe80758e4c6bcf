package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
)

// SystemRoutes serve the vault's public keys and its health. They carry
// no credential.
func SystemRoutes(publicJWKS []byte, ready func(context.Context) error) []Route {
	jwks := json.RawMessage(publicJWKS)
	return []Route{
		{
			Method: http.MethodGet, Path: "/v1/jwks", Action: "get_jwks", Body: NoAuth,
			Handle: func(context.Context, *Request) (Reply, error) {
				return Reply{Status: http.StatusOK, JSON: jwks}, nil
			},
		},
		{
			Method: http.MethodGet, Path: "/v1/health", Action: "health", Body: NoAuth,
			Handle: func(ctx context.Context, _ *Request) (Reply, error) {
				if ready != nil {
					if err := ready(ctx); err != nil {
						return Reply{}, err
					}
				}
				return Reply{Status: http.StatusOK, JSON: map[string]string{"status": "ok"}}, nil
			},
		},
	}
}
