package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/config"
	"github.com/cardvault/vault/shared/jobfiles"
	"github.com/cardvault/vault/shared/migrate"
	"github.com/cardvault/vault/shared/pgpfile"
)

// Migrate is the migrate function: not HTTP, it is started by an upload
// (the bucket's event notification) and by job work events on the
// vault's bus. It holds the import key ring and merchant keys (rows are
// vaulted, exports decrypted), and nothing of the JOSE layer.
var Migrate = Function{Name: "migrate", NeedsKeys: true, NeedsFiles: true, NeedsImportKey: true}

// JobWorkDetailType is the detail-type of events asking the migrate
// function to carry a job on; a rule on the vault's bus sends their
// detail to it.
const JobWorkDetailType = "Card Vault Job Work Requested"

// EventJobWork continues jobs in AWS by putting a work event on the
// vault's bus (events:PutEvents, which every function has for audit).
type EventJobWork struct {
	Client audit.EventBridgeAPI
	Bus    string
}

var _ migrate.Work = EventJobWork{}

// StartJob implements migrate.Work.
func (w EventJobWork) StartJob(ctx context.Context, jobID string) error {
	return putWorkEvent(ctx, w.Client, w.Bus, JobWorkDetailType,
		migrate.WorkRequest{Action: migrate.ActionContinueJob, JobID: jobID}, "job work event")
}

// Jobs builds the job operations (import_cards, export_cards, get_job).
func (c *Components) Jobs() (*migrate.Jobs, error) {
	if c.Files == nil || c.JobWork == nil {
		return nil, errNoFiles
	}
	return migrate.NewJobs(c.Store, c.Files, c.Store, c.Store, c.JobWork, c.Now), nil
}

// Worker builds the migrate worker.
func (c *Components) Worker() (*migrate.Worker, error) {
	if c.Files == nil || c.JobWork == nil || c.ImportKeys == nil {
		return nil, errNoFiles
	}
	cv, err := c.CardVault()
	if err != nil {
		return nil, err
	}
	w := migrate.NewWorker(c.Store, c.Files, cv, c.Store, c.ImportKeys, c.JobWork, c.Audit, c.Logger, c.Now)
	if c.JobBatchSize > 0 {
		w.WithBatchSize(c.JobBatchSize)
	}
	return w, nil
}

const errNoFiles = constError("app: this process has no job files or import key")

// RunMigrate serves the migrate function.
func RunMigrate() {
	logger := NewLogger()
	ctx := context.Background()
	c, err := LoadAWS(ctx, Migrate)
	var w *migrate.Worker
	if err == nil {
		w, err = c.Worker()
	}
	if err != nil {
		logger.Error("cold start failed", "function", Migrate.Name, "err", err)
		os.Exit(1)
	}
	lambda.Start(func(ctx context.Context, raw json.RawMessage) (MigrateResult, error) {
		return HandleMigrate(ctx, w, raw)
	})
}

// MigrateResult is what a migrate invocation did.
type MigrateResult struct {
	// Action is "upload" for an S3 event, else the work request's action.
	Action string            `json:"action"`
	Jobs   []migrate.Outcome `json:"jobs"`
}

// HandleMigrate runs the jobs an invocation names: the uploads of an S3
// event notification, or the job of a work event.
func HandleMigrate(ctx context.Context, w *migrate.Worker, raw json.RawMessage) (MigrateResult, error) {
	res := MigrateResult{Action: "upload"}
	var probe struct {
		Records []json.RawMessage `json:"Records"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return res, fmt.Errorf("migrate: input is not JSON: %w", err)
	}
	var ids []string
	if probe.Records != nil {
		var ev events.S3Event
		if err := json.Unmarshal(raw, &ev); err != nil {
			return res, fmt.Errorf("migrate: not an S3 event: %w", err)
		}
		for _, r := range ev.Records {
			key, err := url.QueryUnescape(r.S3.Object.Key)
			if err != nil {
				return res, fmt.Errorf("migrate: S3 event key is not URL-encoded")
			}
			id, ok := migrate.JobIDOfUpload(key)
			if !ok {
				return res, fmt.Errorf("migrate: S3 event for an object that is not an upload")
			}
			ids = append(ids, id)
		}
	} else {
		var req migrate.WorkRequest
		if err := json.Unmarshal(raw, &req); err != nil || req.Action != migrate.ActionContinueJob {
			return res, fmt.Errorf("migrate: unknown work request")
		}
		res.Action = req.Action
		ids = append(ids, req.JobID)
	}
	for _, id := range ids {
		out, err := w.Run(ctx, id)
		res.Jobs = append(res.Jobs, out)
		if err != nil {
			// Failing the invocation makes Lambda retry the event; the
			// job resumes from its checkpoint.
			return res, err
		}
	}
	return res, nil
}

// loadJobParts adds, in AWS mode, what the job functions use beyond the
// common components, as their flags ask: the bucket (VAULT_FILES_BUCKET)
// and the job work events; the import key ring (VAULT_IMPORT_KEY, a
// Secrets Manager secret like the JWKS) for the worker; the published
// half only (VAULT_IMPORT_PUBLIC_KEY) for the function serving
// GET /v1/import-key, which never holds the private ring.
func loadJobParts(ctx context.Context, fn Function, cfg aws.Config, loader *config.Loader, c *Components) error {
	if fn.NeedsFiles {
		bucket := loader.String("VAULT_FILES_BUCKET", "")
		if bucket == "" {
			return fmt.Errorf("VAULT_FILES_BUCKET is not set")
		}
		c.Files = jobfiles.NewS3(s3.NewFromConfig(cfg), bucket, c.Now)
		c.JobWork = EventJobWork{Client: eventbridge.NewFromConfig(cfg), Bus: loader.String("VAULT_AUDIT_BUS", "")}
	}
	if fn.NeedsImportKey {
		doc, err := loader.Secret(ctx, "VAULT_IMPORT_KEY", false)
		if err != nil {
			return err
		}
		if c.ImportKeys, err = pgpfile.ParseKeyRing(doc.Reveal(), c.Now); err != nil {
			return fmt.Errorf("VAULT_IMPORT_KEY: %w", err)
		}
	}
	if fn.NeedsImportPublicKey {
		doc, err := loader.Secret(ctx, "VAULT_IMPORT_PUBLIC_KEY", false)
		if err != nil {
			return err
		}
		if err := pgpfile.CheckPublicKey(doc.Reveal()); err != nil {
			return fmt.Errorf("VAULT_IMPORT_PUBLIC_KEY: %w", err)
		}
		c.ImportPublicKey = doc.Reveal()
	}
	return nil
}

// checkImportKeys refuses, at cold start, an import key secret that still
// holds the template's placeholder (or anything else unusable), naming
// the secret to load. loadJobParts reads the same documents again from
// the loader's cache.
func checkImportKeys(ctx context.Context, fn Function, loader *config.Loader) error {
	if fn.NeedsImportKey {
		doc, err := loader.Secret(ctx, "VAULT_IMPORT_KEY", false)
		if err != nil {
			return err
		}
		if _, err := pgpfile.ParseKeyRing(doc.Reveal(), time.Now); err != nil {
			return unusableSecret(loader, "VAULT_IMPORT_KEY", err)
		}
	}
	if fn.NeedsImportPublicKey {
		doc, err := loader.Secret(ctx, "VAULT_IMPORT_PUBLIC_KEY", false)
		if err != nil {
			return err
		}
		if err := pgpfile.CheckPublicKey(doc.Reveal()); err != nil {
			return unusableSecret(loader, "VAULT_IMPORT_PUBLIC_KEY", err)
		}
	}
	return nil
}
