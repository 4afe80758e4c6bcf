package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/wire"
)

// MerchantKeysRoutes are the routes of the merchant-keys function.
func MerchantKeysRoutes(l *vault.KeyLifecycle) []Route {
	return []Route{
		{
			Method: http.MethodPost, Path: "/v1/merchants/{merchant_id}/keys/rotate", Op: wire.OpRotateKeys, Body: Bearer,
			Handle: func(ctx context.Context, r *Request) (Reply, error) {
				status, trace, err := l.RotateKeys(ctx, r.Caller())
				if err != nil {
					return Reply{Trace: trace}, err
				}
				return Reply{Status: http.StatusAccepted, JSON: keyStatusJSON(status), Trace: trace}, nil
			},
		},
		{
			Method: http.MethodGet, Path: "/v1/merchants/{merchant_id}/keys", Op: wire.OpGetKeys, Body: Bearer,
			Handle: func(ctx context.Context, r *Request) (Reply, error) {
				status, trace, err := l.GetKeys(ctx, r.Caller())
				if err != nil {
					return Reply{Trace: trace}, err
				}
				return Reply{Status: http.StatusOK, JSON: keyStatusJSON(status), Trace: trace}, nil
			},
		},
		{
			Method: http.MethodDelete, Path: "/v1/merchants/{merchant_id}", Op: wire.OpShredMerchant, Body: Bearer,
			Handle: func(ctx context.Context, r *Request) (Reply, error) {
				trace, err := l.ShredMerchant(ctx, r.Caller())
				if err != nil {
					return Reply{Trace: trace}, err
				}
				return Reply{Status: http.StatusNoContent, Trace: trace}, nil
			},
		},
	}
}

type keyStatusResponse struct {
	MerchantID     string             `json:"merchant_id"`
	PrimaryVersion uint32             `json:"primary_version"`
	Versions       []keyVersionJSON   `json:"versions"`
	Rotation       rotationStatusJSON `json:"rotation"`
}

type keyVersionJSON struct {
	Version   uint32 `json:"version"`
	State     string `json:"state"`
	CreatedAt string `json:"created_at"`
	Records   int    `json:"records"`
}

type rotationStatusJSON struct {
	State       string `json:"state"`
	StartedAt   string `json:"started_at,omitempty"`
	Reencrypted int    `json:"reencrypted"`
	Remaining   int    `json:"remaining"`
}

func keyStatusJSON(s vault.KeyStatus) keyStatusResponse {
	r := keyStatusResponse{MerchantID: s.MerchantID, PrimaryVersion: s.PrimaryVersion, Versions: []keyVersionJSON{}}
	for _, v := range s.Versions {
		r.Versions = append(r.Versions, keyVersionJSON{Version: v.Version, State: string(v.State), CreatedAt: v.CreatedAt.UTC().Format(time.RFC3339), Records: v.Records})
	}
	r.Rotation = rotationStatusJSON{State: "idle", Reencrypted: s.Rotation.Reencrypted, Remaining: s.Rotation.Remaining}
	if s.Rotation.Running {
		r.Rotation.State = "running"
	}
	if !s.Rotation.StartedAt.IsZero() {
		r.Rotation.StartedAt = s.Rotation.StartedAt.UTC().Format(time.RFC3339)
	}
	return r
}
