package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Job is an import or export job as the vault reports it.
type Job struct {
	JobID      string    `json:"job_id"`
	MerchantID string    `json:"merchant_id"`
	Kind       string    `json:"kind"`
	State      string    `json:"state"`
	Rows       int64     `json:"rows"`
	Vaulted    int64     `json:"vaulted"`
	Duplicates int64     `json:"duplicates"`
	Rejected   int64     `json:"rejected"`
	Error      *JobError `json:"error"`
	Upload     *Link     `json:"upload,omitempty"`
	Result     *Link     `json:"result,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Ended reports whether the job has succeeded or failed.
func (j *Job) Ended() bool { return j.State == JobSucceeded || j.State == JobFailed }

// Job states.
const (
	JobAwaitingUpload = "awaiting_upload"
	JobRunning        = "running"
	JobSucceeded      = "succeeded"
	JobFailed         = "failed"
)

// JobError is why a job failed.
type JobError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Link is a presigned URL: no credential beyond it is needed.
type Link struct {
	URL       string            `json:"url"`
	Method    string            `json:"method,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// ImportRequest is import_cards' claims.
type ImportRequest struct {
	MerchantID string
	// Format is generic (default), stripe or spreedly.
	Format string
	// Columns maps the vault's field names to the file's headers.
	Columns     map[string]string
	TokenFormat string
}

// ImportKey returns the vault's OpenPGP import key, ASCII-armored.
func (c *Client) ImportKey(ctx context.Context) ([]byte, error) {
	return c.getUnauthenticated(ctx, "/v1/import-key")
}

// ImportCards creates an import job awaiting its upload.
func (c *Client) ImportCards(ctx context.Context, r ImportRequest) (*Job, error) {
	cl, err := merchantCall(OpImportCards, http.MethodPost, r.MerchantID, "/imports")
	if err != nil {
		return nil, err
	}
	cl.extra = map[string]any{}
	if r.Format != "" {
		cl.extra["format"] = r.Format
	}
	if len(r.Columns) > 0 {
		cl.extra["columns"] = r.Columns
	}
	if r.TokenFormat != "" {
		cl.extra["token_format"] = r.TokenFormat
	}
	j, _, err := doJSON[Job](ctx, c, cl)
	return j, err
}

// ExportCards creates an export job of the merchant's cards (of the given
// customers; all when none), encrypted to recipientKey (armored OpenPGP).
// The claims travel encrypted: the key is not secret, but the request
// starts card data moving.
func (c *Client) ExportCards(ctx context.Context, merchantID, recipientKey string, customerIDs []string) (*Job, error) {
	cl, err := merchantCall(OpExportCards, http.MethodPost, merchantID, "/exports")
	if err != nil {
		return nil, err
	}
	cl.sensitive = true
	cl.extra = map[string]any{"recipient_key": recipientKey}
	if len(customerIDs) > 0 {
		cl.extra["customer_ids"] = customerIDs
	}
	j, _, err := doJSON[Job](ctx, c, cl)
	return j, err
}

// GetJob returns a job with fresh URLs.
func (c *Client) GetJob(ctx context.Context, merchantID, jobID string) (*Job, error) {
	id, err := segment("job id", jobID)
	if err != nil {
		return nil, err
	}
	cl, err := merchantCall(OpGetJob, http.MethodGet, merchantID, "/jobs/"+id)
	if err != nil {
		return nil, err
	}
	cl.extra = map[string]any{"job_id": jobID}
	j, _, err := doJSON[Job](ctx, c, cl)
	return j, err
}

// Upload streams body to a job's upload URL. size, if known (>= 0), is
// sent as Content-Length (S3 requires it for a presigned PUT).
func (c *Client) Upload(ctx context.Context, l *Link, body io.Reader, size int64) error {
	if l == nil {
		return errors.New("vault client: the job takes no upload")
	}
	method := l.Method
	if method == "" {
		method = http.MethodPut
	}
	req, err := http.NewRequestWithContext(ctx, method, l.URL, body)
	if err != nil {
		return errors.New("vault client: bad upload URL")
	}
	if size >= 0 {
		req.ContentLength = size
	}
	for k, v := range l.Headers {
		req.Header.Set(k, v)
	}
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("vault client: upload: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("vault client: upload answered %d", resp.StatusCode)
	}
	return nil
}

// Download streams a job's result to w.
func (c *Client) Download(ctx context.Context, l *Link, w io.Writer) (int64, error) {
	if l == nil {
		return 0, errors.New("vault client: the job has no result (yet)")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.URL, nil)
	if err != nil {
		return 0, errors.New("vault client: bad result URL")
	}
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("vault client: download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("vault client: download answered %d", resp.StatusCode)
	}
	return io.Copy(w, resp.Body)
}
