package storetest

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/migrate"
	"github.com/cardvault/vault/shared/vault"
)

// testJobs: a job is created once, read back whole, and saved only from
// the revision it was read at.
func testJobs(t *testing.T, s Ports, _ *Clock) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 123, time.UTC)
	job := migrate.Job{
		ID: "job_AAAAAAAAAAAAAAAAAAAAAA", MerchantID: "m#1", ClientID: "app", Kind: migrate.KindImport,
		State: migrate.AwaitingUpload, Format: "stripe", Columns: map[string]string{"number": "PAN"},
		TokenFormat: "opaque", CreatedAt: now, UpdatedAt: now,
	}
	if err := s.CreateJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateJob(ctx, job); !errors.Is(err, vault.ErrConflict) {
		t.Fatalf("second create: %v", err)
	}
	got, err := s.Job(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Revision != 1 || got.MerchantID != "m#1" || got.Columns["number"] != "PAN" || !got.CreatedAt.Equal(now) || got.Error != nil {
		t.Fatalf("read back %+v", got)
	}
	got.State, got.Rows, got.Offset = migrate.Failed, 10, 10
	got.Error = &migrate.JobError{Code: "invalid_import", Message: "no header"}
	if err := s.SaveJob(ctx, got); err != nil {
		t.Fatal(err)
	}
	// A save from the revision read before is a lost race.
	if err := s.SaveJob(ctx, got); !errors.Is(err, vault.ErrConflict) {
		t.Fatalf("stale save: %v", err)
	}
	again, _ := s.Job(ctx, job.ID)
	if again.Revision != 2 || again.State != migrate.Failed || again.Error == nil || again.Error.Code != "invalid_import" || again.Offset != 10 {
		t.Fatalf("after save %+v", again)
	}
	if _, err := s.Job(ctx, "job_BBBBBBBBBBBBBBBBBBBBBB"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("unknown job: %v", err)
	}
}

// testJobBatches: a batch keeps the tokens of its first claim, and its
// results once saved.
func testJobBatches(t *testing.T, s Ports, _ *Clock) {
	const id = "job_AAAAAAAAAAAAAAAAAAAAAA"
	first := []string{"tok_a", "tok_b"}
	b, err := s.ClaimBatch(ctx, id, 3, first)
	if err != nil || !slices.Equal(b.Tokens, first) || b.Results != nil {
		t.Fatalf("first claim: %+v %v", b, err)
	}
	if _, err := s.BatchResults(ctx, id, 3); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("results before any: %v", err)
	}
	// A later run of the batch draws other tokens but gets the first ones.
	b, err = s.ClaimBatch(ctx, id, 3, []string{"tok_x", "tok_y"})
	if err != nil || !slices.Equal(b.Tokens, first) {
		t.Fatalf("second claim: %+v %v", b, err)
	}
	lines := []byte("1,ref,cus,vaulted,tok_a,fp_x,4242,4242,visa,\n")
	if err := s.SaveBatchResults(ctx, id, 3, lines); err != nil {
		t.Fatal(err)
	}
	b, _ = s.ClaimBatch(ctx, id, 3, []string{"tok_z", "tok_w"})
	if !bytes.Equal(b.Results, lines) || !slices.Equal(b.Tokens, first) {
		t.Fatalf("claim of a done batch: %+v", b)
	}
	if got, _ := s.BatchResults(ctx, id, 3); !bytes.Equal(got, lines) {
		t.Fatalf("results: %q", got)
	}
	if err := s.SaveBatchResults(ctx, id, 4, lines); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("results of an unclaimed batch: %v", err)
	}
}
