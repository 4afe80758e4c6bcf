package localmode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cardvault/vault/shared/httpapi"
	"github.com/cardvault/vault/shared/jobfiles"
	"github.com/cardvault/vault/shared/migrate"
	"github.com/cardvault/vault/shared/pgpfile"
)

// File names under Settings.Dir for migration jobs.
const (
	// ImportKeyFile is the vault's OpenPGP import key ring, made on first
	// start (owner-only, never to be committed or copied to AWS).
	ImportKeyFile = "import-key.asc"
	// filesDir holds job files: encrypted uploads and exports, import
	// mappings (no card numbers).
	filesDir = "files"
	// filesURLKeyFile signs the local file URLs.
	filesURLKeyFile = "files-url.key"
	// pendingJobsDir holds an empty file per job this vault has started
	// and not seen end: what a restart resumes. In AWS the same duty falls
	// to Lambda's retries of the job's event and the dead-letter queue.
	pendingJobsDir = "jobs-pending"
)

func loadOrCreateImportKey(path string, now func() time.Time) (*pgpfile.KeyRing, error) {
	doc, err := os.ReadFile(path) // #nosec G304 -- a path under the operator's VAULT_LOCAL_DIR
	if errors.Is(err, os.ErrNotExist) {
		fresh, genErr := pgpfile.GenerateKey("card vault import key, local", now())
		if genErr != nil {
			return nil, genErr
		}
		if err := writeNew(path, fresh.Reveal()); err != nil {
			return nil, err
		}
		doc, err = fresh.Reveal(), nil
	}
	if err != nil {
		return nil, err
	}
	ring, err := pgpfile.ParseKeyRing(doc, now)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ring, nil
}

// setUpJobs gives the components the import key, the local job files and
// job work running in this process.
func (e *Env) setUpJobs(ctx context.Context, logger *slog.Logger) error {
	s := e.Settings
	ring, err := loadOrCreateImportKey(filepath.Join(s.Dir, ImportKeyFile), s.Now)
	if err != nil {
		return err
	}
	public, err := ring.PublicKey()
	if err != nil {
		return err
	}
	urlKey, err := jobfiles.LoadOrCreateURLKey(filepath.Join(s.Dir, filesURLKeyFile))
	if err != nil {
		return err
	}
	files, err := jobfiles.NewLocal(filepath.Join(s.Dir, filesDir), urlKey, "http://"+s.Addr, s.Now)
	if err != nil {
		return err
	}
	pending := filepath.Join(s.Dir, pendingJobsDir)
	if err := os.MkdirAll(pending, 0o700); err != nil {
		return err
	}
	work := &localJobs{env: e, ctx: ctx, inline: s.InlineWork, logger: logger, pending: pending, running: map[string]bool{}, failures: map[string]int{}}
	files.OnUpload = func(key string) {
		if id, ok := migrate.JobIDOfUpload(key); ok {
			if err := work.StartJob(ctx, id); err != nil {
				logger.Error("job not started", "job_id", id, "err", err)
			}
		}
	}
	e.ImportKeys, e.ImportPublicKey = ring, public
	e.Files, e.JobWork = files, work
	e.localFiles, e.jobs = files, work
	if !s.InlineWork {
		// A job the last process was running when it stopped (killed,
		// crashed, closed) carries on from its checkpoint.
		work.resumePending()
	}
	return nil
}

// RunJobSweeper starts, every interval until ctx ends, the jobs that were
// started and have not ended but have no run in this process (their last
// run failed), up to maxLocalRuns failed runs each: locally what Lambda's
// retries of a job's event do in AWS.
func (e *Env) RunJobSweeper(ctx context.Context, interval time.Duration) {
	if e.jobs == nil {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.jobs.resumePending()
		}
	}
}

// SetFilesBaseURL sets the address job file URLs name (tests serve the
// vault on a port chosen after Start).
func (e *Env) SetFilesBaseURL(base string) { e.localFiles.SetBaseURL(base) }

// Handler serves api and the local job file URLs: what the Lambda
// functions and S3 serve in AWS.
func (e *Env) Handler(api *httpapi.API) http.Handler {
	apiHandler := httpapi.HTTPHandler(api)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, jobfiles.LocalPathPrefix) {
			e.localFiles.ServeHTTP(w, r)
			return
		}
		apiHandler.ServeHTTP(w, r)
	})
}

// WaitForJobs waits until the jobs started so far have stopped (tests).
func (e *Env) WaitForJobs() {
	if e.jobs != nil {
		e.jobs.wg.Wait()
	}
}

// localJobs runs jobs in goroutines beside the local server (inline for
// one-shot commands and tests that ask for it), one run per job at once.
type localJobs struct {
	env    *Env
	ctx    context.Context
	inline bool
	logger *slog.Logger
	// pending is the directory of jobs started and not yet ended.
	pending string

	mu      sync.Mutex
	running map[string]bool
	// failures counts each job's failed runs in this process.
	failures map[string]int
	wg       sync.WaitGroup
}

var _ migrate.Work = (*localJobs)(nil)

// maxLocalRuns is how many failed runs of a job the local vault makes
// before it stops trying until it restarts: Lambda's asynchronous
// invocation (one try and two retries) before the dead-letter queue, where
// an operator's redrive is what a restart is locally.
const maxLocalRuns = 3

// resumePending starts every job marked pending that has no run here and
// has not failed maxLocalRuns times in this process.
func (j *localJobs) resumePending() {
	entries, err := os.ReadDir(j.pending)
	if err != nil {
		j.logger.Error("pending jobs not listed", "err", err)
		return
	}
	for _, entry := range entries {
		id := entry.Name()
		if !migrate.ValidJobID(id) {
			continue
		}
		j.mu.Lock()
		exhausted := j.failures[id] >= maxLocalRuns
		j.mu.Unlock()
		if exhausted {
			continue
		}
		if err := j.StartJob(j.ctx, id); err != nil {
			j.logger.Error("pending job not resumed", "job_id", id, "err", err)
		}
	}
}

// StartJob implements migrate.Work.
func (j *localJobs) StartJob(ctx context.Context, jobID string) error {
	w, err := j.env.Worker()
	if err != nil {
		return err
	}
	if j.inline {
		_, err := w.Run(ctx, jobID)
		return err
	}
	j.mu.Lock()
	if j.running[jobID] {
		j.mu.Unlock()
		return nil
	}
	j.running[jobID] = true
	j.mu.Unlock()
	// Marked before the run begins, so that a process killed at any point
	// of it leaves the job to be resumed. A job id names the file, and
	// only a valid one (fixed alphabet, no separators) is accepted.
	marker := ""
	if migrate.ValidJobID(jobID) {
		marker = filepath.Join(j.pending, jobID)
		if err := os.WriteFile(marker, nil, 0o600); err != nil {
			j.logger.Error("pending job not recorded; a restart will not resume it", "job_id", jobID, "err", err)
		}
	}
	j.wg.Add(1)
	go func() {
		defer j.wg.Done()
		for j.ctx.Err() == nil {
			out, err := w.Run(j.ctx, jobID)
			if err != nil {
				if j.ctx.Err() == nil {
					j.mu.Lock()
					j.failures[jobID]++
					failed := j.failures[jobID]
					j.mu.Unlock()
					if failed < maxLocalRuns {
						j.logger.Error("job run failed; it is tried again from its checkpoint", "job_id", jobID, "err", err)
					} else {
						j.logger.Error("job run failed; no more tries until the local vault restarts", "job_id", jobID, "runs", failed, "err", err)
					}
				}
				break
			}
			if out.Done {
				if marker != "" {
					if err := os.Remove(marker); err != nil && !errors.Is(err, os.ErrNotExist) {
						j.logger.Error("ended job still marked pending", "job_id", jobID, "err", err)
					}
				}
				break
			}
		}
		j.mu.Lock()
		delete(j.running, jobID)
		j.mu.Unlock()
	}()
	return nil
}
