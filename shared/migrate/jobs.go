package migrate

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"time"

	"github.com/cardvault/vault/shared/pgpfile"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

// Jobs creates and reports jobs: import_cards, export_cards, get_job. It
// holds no merchant key and no import key: it only checks requests,
// stores jobs and presigns URLs.
type Jobs struct {
	jobs      JobStore
	files     Files
	replay    vault.ReplayGuard
	merchants vault.MerchantStatus
	work      Work
	now       vault.Clock
}

// NewJobs builds Jobs. work starts exports (imports are started by their
// upload).
func NewJobs(jobs JobStore, files Files, replay vault.ReplayGuard, merchants vault.MerchantStatus, work Work, now vault.Clock) *Jobs {
	return &Jobs{jobs: jobs, files: files, replay: replay, merchants: merchants, work: work, now: now}
}

// ImportSpec is what import_cards asks for.
type ImportSpec struct {
	Format      string
	Columns     map[string]string
	TokenFormat string
}

// ExportSpec is what export_cards asks for.
type ExportSpec struct {
	RecipientKey string
	CustomerIDs  []string
}

// MaxExportCustomers bounds customer_ids, which is kept in the job item.
const MaxExportCustomers = 1000

// View is a job as get_job answers it, with fresh links.
type View struct {
	Job    Job
	Upload *Link
	Result *Link
}

// ImportCards creates an import job awaiting its upload.
func (j *Jobs) ImportCards(ctx context.Context, c vault.Caller, spec ImportSpec) (View, error) {
	now := j.now().UTC()
	if spec.Format == "" {
		spec.Format = FormatGeneric
	}
	if !ValidFormat(spec.Format) {
		return View{}, vaulterr.New(vaulterr.Malformed, "claim format must be generic, stripe or spreedly")
	}
	if err := CheckColumns(spec.Columns); err != nil {
		return View{}, err
	}
	// The new cards' tokens are of the format vault_card would make.
	format, ok := vault.ParseTokenFormat(spec.TokenFormat)
	if !ok {
		return View{}, vaulterr.New(vaulterr.Malformed, `claim token_format must be "opaque" or "card"`)
	}
	spec.TokenFormat = string(format)
	if err := vault.CheckMerchant(ctx, j.merchants, c.MerchantID); err != nil {
		return View{}, err
	}
	if err := vault.SpendRequest(ctx, j.replay, c, now); err != nil {
		return View{}, err
	}
	job := Job{
		MerchantID: c.MerchantID, ClientID: c.ClientID, Kind: KindImport, State: AwaitingUpload,
		Format: spec.Format, Columns: spec.Columns, TokenFormat: spec.TokenFormat,
		CreatedAt: now, UpdatedAt: now,
	}
	return j.create(ctx, c, job, now)
}

// ExportCards creates an export job and starts it.
func (j *Jobs) ExportCards(ctx context.Context, c vault.Caller, spec ExportSpec) (View, error) {
	now := j.now().UTC()
	if _, err := pgpfile.ParseRecipient(spec.RecipientKey, now); err != nil {
		return View{}, vaulterr.Wrap(vaulterr.InvalidImport, "recipient_key is not fit to encrypt card data to: it must be one ASCII-armored public key with a live encryption key, RSA of at least 2048 bits or a modern curve, neither expired nor revoked", err)
	}
	if len(spec.CustomerIDs) > MaxExportCustomers {
		return View{}, vaulterr.New(vaulterr.Malformed, "claim customer_ids holds more than 1000 ids")
	}
	if err := vault.CheckMerchant(ctx, j.merchants, c.MerchantID); err != nil {
		return View{}, err
	}
	if err := vault.SpendRequest(ctx, j.replay, c, now); err != nil {
		return View{}, err
	}
	job := Job{
		MerchantID: c.MerchantID, ClientID: c.ClientID, Kind: KindExport, State: Running,
		RecipientKey: spec.RecipientKey, CustomerIDs: spec.CustomerIDs,
		CreatedAt: now, UpdatedAt: now,
	}
	v, err := j.create(ctx, c, job, now)
	if err != nil {
		return View{}, err
	}
	if err := j.work.StartJob(ctx, v.Job.ID); err != nil {
		// Nothing will run it: say so in the job rather than leave it
		// running for ever.
		v.Job.State, v.Job.Error = Failed, &JobError{Code: string(vaulterr.Unavailable), Message: "the export could not be started; create another"}
		v.Job.UpdatedAt = j.now().UTC()
		_ = j.jobs.SaveJob(ctx, v.Job)
		return View{}, vaulterr.Wrap(vaulterr.Unavailable, "background work unavailable", err)
	}
	return v, nil
}

func (j *Jobs) create(ctx context.Context, c vault.Caller, job Job, now time.Time) (View, error) {
	var err error
	if job.ID, err = newJobID(); err != nil {
		return View{}, err
	}
	// A job sets card data moving (in, or out of the vault): its event is
	// recorded before the job exists, and no job is made if it cannot be.
	if c.Witness != nil {
		if err := c.Witness(ctx, vault.Trace{JobID: job.ID}); err != nil {
			return View{}, err
		}
	}
	if err := j.jobs.CreateJob(ctx, job); err != nil {
		return View{}, err
	}
	job.Revision = 1 // as CreateJob stored it
	return j.view(ctx, job, now)
}

// GetJob returns the caller's merchant's job with fresh links.
func (j *Jobs) GetJob(ctx context.Context, c vault.Caller, jobID string) (View, error) {
	now := j.now().UTC()
	if !ValidJobID(jobID) {
		return View{}, vaulterr.New(vaulterr.NotFound, "no such job")
	}
	// The job is read beside the merchant's shred mark: both are reads.
	var job Job
	err := vault.CheckMerchantWith(ctx, j.merchants, c.MerchantID, func() error {
		var err error
		job, err = j.jobs.Job(ctx, jobID)
		if errors.Is(err, vault.ErrNotFound) || (err == nil && job.MerchantID != c.MerchantID) {
			// Another merchant's job answers like an unknown one.
			return vaulterr.New(vaulterr.NotFound, "no such job")
		}
		return err
	})
	if err != nil {
		return View{}, err
	}
	if err := vault.SpendRequest(ctx, j.replay, c, now); err != nil {
		return View{}, err
	}
	return j.view(ctx, job, now)
}

// view adds the links the job's state calls for: the upload while it
// awaits one, the result once it succeeded.
func (j *Jobs) view(ctx context.Context, job Job, now time.Time) (View, error) {
	v := View{Job: job}
	switch {
	case job.Kind == KindImport && job.State == AwaitingUpload:
		l, err := j.files.UploadLink(ctx, uploadKey(job.ID), LinkTTL)
		if err != nil {
			return View{}, err
		}
		v.Upload = &l
	case job.State == Succeeded:
		key := importResultKey(job.ID)
		if job.Kind == KindExport {
			key = exportResultKey(job.ID)
		}
		l, err := j.files.DownloadLink(ctx, key, LinkTTL)
		if err != nil {
			return View{}, err
		}
		v.Result = &l
	}
	return v, nil
}

// newJobID is "job_" and 128 random bits.
func newJobID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "job_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// ValidJobID reports whether id has the shape newJobID gives, so that no
// arbitrary route input reaches the store or names a file.
func ValidJobID(id string) bool {
	const prefix = "job_"
	if len(id) != len(prefix)+22 || id[:len(prefix)] != prefix {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(id[len(prefix):])
	return err == nil
}
