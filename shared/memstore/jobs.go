package memstore

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/cardvault/vault/shared/migrate"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

var _ migrate.JobStore = (*Store)(nil)

type batchKey struct {
	jobID string
	index int
}

// CreateJob implements migrate.JobStore: the job at revision 1, unless
// its id exists (ErrConflict).
func (s *Store) CreateJob(_ context.Context, j migrate.Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.jobs[j.ID]; ok {
		return vault.ErrConflict
	}
	j.Revision = 1
	s.jobs[j.ID] = cloneJob(j)
	return nil
}

// Job implements migrate.JobStore.
func (s *Store) Job(_ context.Context, jobID string) (migrate.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[jobID]
	if !ok {
		return migrate.Job{}, vault.ErrNotFound
	}
	return cloneJob(j), nil
}

// SaveJob implements migrate.JobStore: j at revision j.Revision+1 if the
// stored revision is still j.Revision, else ErrConflict.
func (s *Store) SaveJob(_ context.Context, j migrate.Job) error {
	if j.ID == "" || j.Revision < 1 {
		return vaulterr.Wrap(vaulterr.Internal, "internal error", errors.New("memstore: job without id or revision"))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	stored, ok := s.jobs[j.ID]
	if !ok || stored.Revision != j.Revision {
		return vault.ErrConflict
	}
	j.Revision++
	s.jobs[j.ID] = cloneJob(j)
	return nil
}

// ClaimBatch implements migrate.JobStore: the first claim's tokens are
// the batch's for good.
func (s *Store) ClaimBatch(_ context.Context, jobID string, index int, tokens []string) (migrate.Batch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := batchKey{jobID, index}
	if b, ok := s.batches[k]; ok {
		return cloneBatch(b), nil
	}
	b := migrate.Batch{Tokens: slices.Clone(tokens)}
	s.batches[k] = b
	return cloneBatch(b), nil
}

// SaveBatchResults implements migrate.JobStore (ErrNotFound for a batch
// never claimed).
func (s *Store) SaveBatchResults(_ context.Context, jobID string, index int, results []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := batchKey{jobID, index}
	b, ok := s.batches[k]
	if !ok {
		return vault.ErrNotFound
	}
	b.Results = append([]byte{}, results...)
	s.batches[k] = b
	return nil
}

// BatchResults implements migrate.JobStore.
func (s *Store) BatchResults(_ context.Context, jobID string, index int) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.batches[batchKey{jobID, index}]
	if !ok || b.Results == nil {
		return nil, vault.ErrNotFound
	}
	return slices.Clone(b.Results), nil
}

func cloneJob(j migrate.Job) migrate.Job {
	j.Columns = maps.Clone(j.Columns)
	j.CustomerIDs = slices.Clone(j.CustomerIDs)
	if j.Error != nil {
		e := *j.Error
		j.Error = &e
	}
	return j
}

func cloneBatch(b migrate.Batch) migrate.Batch {
	b.Tokens = slices.Clone(b.Tokens)
	if b.Results != nil {
		b.Results = slices.Clone(b.Results)
	}
	return b
}
