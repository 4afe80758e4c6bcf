package app

import (
	"context"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/migrate"
)

// Migrate is the migrate function: not HTTP, it is started by an upload
// (the bucket's event notification) and by job work events on the
// vault's bus. It holds the import key ring and merchant keys (rows are
// vaulted, exports decrypted), and nothing of the JOSE layer. Its main is
// migrateworker.Run, with the parts bucket.Files and importkeys.Ring.
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
