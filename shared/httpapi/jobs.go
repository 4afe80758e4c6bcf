package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/cardvault/vault/shared/migrate"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/wire"
)

// ImportKeyRoutes serve the vault's OpenPGP import key (public half).
// They carry no credential.
func ImportKeyRoutes(publicKey []byte) []Route {
	key := string(publicKey)
	return []Route{{
		Method: http.MethodGet, Path: "/v1/import-key", Action: "get_import_key", Body: NoAuth,
		Handle: func(context.Context, *Request) (Reply, error) {
			return Reply{Status: http.StatusOK, Text: key, ContentType: "application/pgp-keys"}, nil
		},
	}}
}

// JobRoutes are the routes of the jobs function: import_cards,
// export_cards and get_job.
func JobRoutes(j *migrate.Jobs) []Route {
	return []Route{
		{
			Method: http.MethodPost, Path: "/v1/merchants/{merchant_id}/imports", Op: wire.OpImportCards, Body: Bearer,
			Handle: func(ctx context.Context, r *Request) (Reply, error) {
				spec, err := decodeImport(r)
				if err != nil {
					return Reply{}, err
				}
				v, err := j.ImportCards(ctx, r.Caller(), spec)
				if err != nil {
					return Reply{}, err
				}
				return Reply{Status: http.StatusCreated, JSON: jobJSON(v), JobID: v.Job.ID, Trace: vault.Trace{JobID: v.Job.ID}}, nil
			},
		},
		{
			Method: http.MethodPost, Path: "/v1/merchants/{merchant_id}/exports", Op: wire.OpExportCards, Body: JOSEBody,
			Handle: func(ctx context.Context, r *Request) (Reply, error) {
				spec, err := decodeExport(r)
				if err != nil {
					return Reply{}, err
				}
				v, err := j.ExportCards(ctx, r.Caller(), spec)
				if err != nil {
					return Reply{}, err
				}
				return Reply{Status: http.StatusCreated, JSON: jobJSON(v), JobID: v.Job.ID, Trace: vault.Trace{JobID: v.Job.ID}}, nil
			},
		},
		{
			Method: http.MethodGet, Path: "/v1/merchants/{merchant_id}/jobs/{job_id}", Op: wire.OpGetJob, Body: Bearer,
			Handle: func(ctx context.Context, r *Request) (Reply, error) {
				v, err := j.GetJob(ctx, r.Caller(), r.Params["job_id"])
				if err != nil {
					return Reply{}, err
				}
				return Reply{Status: http.StatusOK, JSON: jobJSON(v), JobID: v.Job.ID}, nil
			},
		},
	}
}

func decodeImport(r *Request) (migrate.ImportSpec, error) {
	claims := r.Auth.Claims()
	var spec migrate.ImportSpec
	var err error
	if spec.Format, _, err = claims.String("format"); err != nil {
		return spec, malformed("claim format must be a string")
	}
	if spec.TokenFormat, _, err = claims.String("token_format"); err != nil {
		return spec, malformed("claim token_format must be a string")
	}
	if spec.Columns, _, err = claims.StringMap("columns"); err != nil {
		return spec, malformed("claim columns must be an object of strings")
	}
	return spec, nil
}

func decodeExport(r *Request) (migrate.ExportSpec, error) {
	claims := r.Auth.Claims()
	var spec migrate.ExportSpec
	key, present, err := claims.String("recipient_key")
	if err != nil || !present {
		return spec, malformed("claim recipient_key must be an ASCII-armored OpenPGP public key")
	}
	spec.RecipientKey = key
	if spec.CustomerIDs, _, err = claims.Strings("customer_ids"); err != nil {
		return spec, malformed("claim customer_ids must be an array of strings")
	}
	return spec, nil
}

type jobResponse struct {
	JobID      string          `json:"job_id"`
	MerchantID string          `json:"merchant_id"`
	Kind       string          `json:"kind"`
	State      string          `json:"state"`
	Rows       int             `json:"rows"`
	Vaulted    int             `json:"vaulted"`
	Duplicates int             `json:"duplicates"`
	Rejected   int             `json:"rejected"`
	Error      *jobError       `json:"error"`
	Upload     *uploadResponse `json:"upload,omitempty"`
	Result     *resultResponse `json:"result,omitempty"`
	CreatedAt  string          `json:"created_at"`
	UpdatedAt  string          `json:"updated_at"`
}

type jobError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type uploadResponse struct {
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt string            `json:"expires_at"`
}

type resultResponse struct {
	URL       string `json:"url"`
	ExpiresAt string `json:"expires_at"`
}

func jobJSON(v migrate.View) jobResponse {
	j := v.Job
	r := jobResponse{
		JobID: j.ID, MerchantID: j.MerchantID, Kind: string(j.Kind), State: string(j.State),
		Rows: j.Rows, Vaulted: j.Vaulted, Duplicates: j.Duplicates, Rejected: j.Rejected,
		CreatedAt: j.CreatedAt.UTC().Format(time.RFC3339), UpdatedAt: j.UpdatedAt.UTC().Format(time.RFC3339),
	}
	if j.Error != nil {
		r.Error = &jobError{Code: j.Error.Code, Message: j.Error.Message}
	}
	if v.Upload != nil {
		headers := v.Upload.Headers
		if headers == nil {
			headers = map[string]string{}
		}
		r.Upload = &uploadResponse{URL: v.Upload.URL, Method: v.Upload.Method, Headers: headers, ExpiresAt: v.Upload.ExpiresAt.UTC().Format(time.RFC3339)}
	}
	if v.Result != nil {
		r.Result = &resultResponse{URL: v.Result.URL, ExpiresAt: v.Result.ExpiresAt.UTC().Format(time.RFC3339)}
	}
	return r
}
