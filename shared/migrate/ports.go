// Package migrate runs bulk imports and exports of card data as jobs:
// OpenPGP-encrypted CSV files in, OpenPGP-encrypted CSV files out. The
// files travel through presigned URLs (S3 in AWS, the local server
// locally); their plaintext exists only in this process's memory, as it
// streams through. Rows are vaulted through the card vault's own path, in
// batches checkpointed in the table, so a job cut off anywhere resumes
// where it stopped and vaults no row twice.
package migrate

import (
	"context"
	"io"
	"time"
)

// Kind is what a job does.
type Kind string

// Job kinds.
const (
	KindImport Kind = "import"
	KindExport Kind = "export"
)

// State is where a job is.
type State string

// Job states, per the contract.
const (
	AwaitingUpload State = "awaiting_upload"
	Running        State = "running"
	Succeeded      State = "succeeded"
	Failed         State = "failed"
)

// Ended reports whether the job is finished, whatever its outcome.
func (s State) Ended() bool { return s == Succeeded || s == Failed }

// JobError is why a job failed: a contract error code and a message that
// holds no card data.
type JobError struct {
	Code    string
	Message string
}

// Job is an import or export as stored.
type Job struct {
	ID         string
	MerchantID string
	// ClientID is the client that created the job (for audit).
	ClientID string
	Kind     Kind
	State    State

	// Import settings.
	Format      string
	Columns     map[string]string
	TokenFormat string

	// Export settings: the receiving provider's armored public key and
	// the customers to export (none: every card).
	RecipientKey string
	CustomerIDs  []string

	// Counts: data rows read, vaulted (new cards), duplicates (cards the
	// merchant and customer already had), rejected.
	Rows, Vaulted, Duplicates, Rejected int
	// Offset is the number of data rows whose results are recorded: the
	// checkpoint a resumed import starts from. It is always a multiple of
	// the batch size until the file ends.
	Offset int
	// Batches is how many result batches are recorded.
	Batches int

	Error     *JobError
	CreatedAt time.Time
	UpdatedAt time.Time
	// Revision orders saves: a save is conditional on the revision read,
	// so of two workers advancing one job only one can.
	Revision int64
}

// Batch is one checkpointed batch of an import: the tokens its rows get
// if their cards are new (drawn before the rows are vaulted) and, once
// vaulted, the rows' result lines.
type Batch struct {
	Tokens []string
	// Results are the batch's result CSV lines, without header; nil until
	// the batch is done. They hold no card number.
	Results []byte
}

// JobStore keeps jobs and their batches in the table.
type JobStore interface {
	// CreateJob stores a new job (ErrConflict if its id exists).
	CreateJob(ctx context.Context, job Job) error
	// Job reads a job (strongly consistent), or vault.ErrNotFound.
	Job(ctx context.Context, jobID string) (Job, error)
	// SaveJob writes job with Revision+1 if the stored revision is still
	// job.Revision, else vault.ErrConflict.
	SaveJob(ctx context.Context, job Job) error
	// ClaimBatch stores the batch's tokens unless the batch exists, and
	// returns the batch as stored: the tokens given, or those (and the
	// results, if any) of an earlier run of the same batch.
	ClaimBatch(ctx context.Context, jobID string, index int, tokens []string) (Batch, error)
	// SaveBatchResults records the batch's result lines.
	SaveBatchResults(ctx context.Context, jobID string, index int, results []byte) error
	// BatchResults reads a done batch's result lines (vault.ErrNotFound if
	// the batch has none).
	BatchResults(ctx context.Context, jobID string, index int) ([]byte, error)
}

// Link is a presigned URL: whoever holds it may make that one request
// until it expires, with no other credential.
type Link struct {
	URL       string
	Method    string
	Headers   map[string]string
	ExpiresAt time.Time
}

// Files keeps the job files: uploads (an encrypted import file) and
// results (an import's mapping, an export's encrypted file). S3 in AWS, a
// directory locally.
type Files interface {
	// UploadLink presigns a PUT of the object key.
	UploadLink(ctx context.Context, key string, ttl time.Duration) (Link, error)
	// DownloadLink presigns a GET of the object key.
	DownloadLink(ctx context.Context, key string, ttl time.Duration) (Link, error)
	// Open streams an object; vault.ErrNotFound if there is none.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Put stores body under key, streaming it.
	Put(ctx context.Context, key string, body io.Reader) error
	// Delete removes an object; a missing one is not an error.
	Delete(ctx context.Context, key string) error
}

// Work continues a job in the background (AWS: a work event on the
// vault's bus for the migrate function; locally, a goroutine).
type Work interface {
	StartJob(ctx context.Context, jobID string) error
}

// WorkRequest is the migrate function's input from a work event.
type WorkRequest struct {
	Action string `json:"action"`
	JobID  string `json:"job_id"`
}

// ActionContinueJob asks the migrate worker to run a job on.
const ActionContinueJob = "continue-job"

// LinkTTL is how long a presigned URL lives.
const LinkTTL = 15 * time.Minute

// JobRetention is how long a job and its files are kept after creation;
// the bucket's lifecycle rule deletes any file left over after it.
const JobRetention = 7 * 24 * time.Hour

// Object keys of a job's files.
func uploadKey(jobID string) string { return "uploads/" + jobID }

func importResultKey(jobID string) string { return "results/" + jobID + ".csv" }

func exportResultKey(jobID string) string { return "results/" + jobID + ".csv.gpg" }

// UploadPrefix is the prefix of uploaded files: the upload event that
// starts an import names a key under it.
const UploadPrefix = "uploads/"

// JobIDOfUpload returns the job id of an uploaded object's key.
func JobIDOfUpload(key string) (string, bool) {
	if len(key) <= len(UploadPrefix) || key[:len(UploadPrefix)] != UploadPrefix {
		return "", false
	}
	id := key[len(UploadPrefix):]
	return id, ValidJobID(id)
}
