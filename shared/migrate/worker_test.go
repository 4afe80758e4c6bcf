package migrate_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/cardvault/vault/shared/card"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/jobfiles"
	"github.com/cardvault/vault/shared/memstore"
	"github.com/cardvault/vault/shared/migrate"
	"github.com/cardvault/vault/shared/pgpfile"
	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

// cutEntries is the in-memory store whose cutAt-th batch write of index
// entries fails, as a run killed after writing a batch's card records and
// before their entries leaves the table.
type cutEntries struct {
	*memstore.Store
	cutAt int64
	calls atomic.Int64
}

func (c *cutEntries) PutCardIndexes(ctx context.Context, entries []vault.CardIndexEntry) error {
	if c.calls.Add(1) == c.cutAt {
		return vaulterr.Wrap(vaulterr.Unavailable, "storage unavailable", errors.New("simulated crash"))
	}
	return c.Store.PutCardIndexes(ctx, entries)
}

// importRig is a migrate worker over an in-memory store (st), with
// cards as the card vault's store, a fresh import key and local job
// files; the worker and jobs read and write files through served, or
// the local files themselves if served is nil.
type importRig struct {
	ring   *pgpfile.KeyRing
	files  *jobfiles.Local
	jobs   *migrate.Jobs
	worker *migrate.Worker
}

func newImportRig(t *testing.T, st *memstore.Store, cards vault.CardStore, served migrate.Files, batch int) *importRig {
	t.Helper()
	master := make([]byte, envelope.MasterKeySize)
	for i := range master {
		master[i] = byte(i + 7)
	}
	keyring, err := envelope.NewLocalKeyring(secret.New(master))
	if err != nil {
		t.Fatal(err)
	}
	cardVault := vault.NewCardVault(cards, st, st, envelope.NewManager(keyring, st, envelope.Options{}), time.Now)
	doc, err := pgpfile.GenerateKey("test import key", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ring, err := pgpfile.ParseKeyRing(doc.Reveal(), nil)
	if err != nil {
		t.Fatal(err)
	}
	local, err := jobfiles.NewLocal(filepath.Join(t.TempDir(), "files"), make([]byte, 32), "http://127.0.0.1", time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if served == nil {
		served = local
	}
	return &importRig{
		ring: ring, files: local,
		jobs:   migrate.NewJobs(st, served, st, st, noWork{}, time.Now),
		worker: migrate.NewWorker(st, served, cardVault, st, ring, noWork{}, &memstore.Audit{}, slog.New(slog.DiscardHandler), time.Now).WithBatchSize(batch),
	}
}

type noWork struct{}

func (noWork) StartJob(context.Context, string) error { return nil }

// luhnCard is a Luhn-valid 16-digit Visa number, distinct per i.
func luhnCard(i int) string {
	body := fmt.Sprintf("400000%09d", i)
	return body + string(card.LuhnCheckDigit(body))
}

// TestImportResumedAfterACutBetweenRecordsAndEntries: the second batch's
// card records are written, its index entries are not, and the run
// stops. The next run vaults every row exactly once, under the tokens the
// batch claimed the first time, and the counts and result lines are those
// of a run never cut.
func TestImportResumedAfterACutBetweenRecordsAndEntries(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	// One entry write a batch: the second batch's is cut.
	cut := &cutEntries{Store: st, cutAt: 2}
	const batch, rows = 10, 25
	rig := newImportRig(t, st, cut, nil, batch)
	files, ring, jobs, worker := rig.files, rig.ring, rig.jobs, rig.worker

	// Row 13 (second batch) repeats row 4's card and customer: a
	// duplicate found in the index, on either run.
	var b strings.Builder
	b.WriteString("number,exp_month,exp_year,customer_id,reference\n")
	year := time.Now().Year() + 2
	for i := range rows {
		n := i
		if i == 13 {
			n = 4
		}
		fmt.Fprintf(&b, "%s,%d,%d,cus_%d,ref_%d\n", luhnCard(n), 1+i%12, year, n%9, i)
	}
	created, err := jobs.ImportCards(ctx, vault.Caller{ClientID: "c", MerchantID: "m_cut", JTI: "jti-1"}, migrate.ImportSpec{Format: migrate.FormatGeneric})
	if err != nil {
		t.Fatal(err)
	}
	jobID := created.Job.ID
	if err := files.Put(ctx, migrate.UploadPrefix+jobID, bytes.NewReader(encryptTo(t, ring, b.String()))); err != nil {
		t.Fatal(err)
	}

	// The first batch goes through; the second is cut.
	if out, err := worker.Run(ctx, jobID); err == nil || out.Done {
		t.Fatalf("the cut run: %+v %v", out, err)
	}
	job, err := st.Job(ctx, jobID)
	if err != nil || job.State != migrate.Running || job.Offset != batch || cut.calls.Load() != 2 {
		t.Fatalf("after the cut: %+v %v (%d entry writes)", job, err, cut.calls.Load())
	}
	// The cut batch's records are in, under its claimed tokens.
	claimed, err := st.ClaimBatch(ctx, jobID, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, tok := range claimed.Tokens {
		if _, err := st.Card(ctx, tok); err != nil && i != 3 {
			t.Fatalf("row %d of the cut batch has no record under %s: %v", batch+i+1, tok, err)
		}
	}

	out, err := worker.Run(ctx, jobID)
	if err != nil || out.State != migrate.Succeeded {
		t.Fatalf("the resumed run: %+v %v", out, err)
	}
	job, err = st.Job(ctx, jobID)
	if err != nil || job.Rows != rows || job.Vaulted != rows-1 || job.Duplicates != 1 || job.Rejected != 0 {
		t.Fatalf("resumed job: %+v %v", job, err)
	}
	result := readResult(t, files, jobID)
	if len(result) != rows+1 {
		t.Fatalf("%d result lines", len(result)-1)
	}
	tokens := map[string]bool{}
	for i, line := range result[1:] {
		claimed, err := st.ClaimBatch(ctx, jobID, i/batch, nil)
		if err != nil {
			t.Fatal(err)
		}
		own := claimed.Tokens[i%batch]
		switch {
		case i == 13:
			if line[3] != "duplicate" || line[4] != result[5][4] {
				t.Fatalf("row 14: %v, want a duplicate of row 5 (%s)", line, result[5][4])
			}
			continue
		case line[3] != "vaulted" || line[4] != own || tokens[own] || line[1] != fmt.Sprintf("ref_%d", i):
			t.Fatalf("row %d: %v, want vaulted under its claimed token %s", i+1, line, own)
		}
		tokens[own] = true
	}
	recs, _, err := st.RecordsOf(ctx, "m_cut", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != rows-1 {
		t.Fatalf("%d card records for %d cards", len(recs), rows-1)
	}
	for _, r := range recs {
		if !tokens[r.Ref.ID] {
			t.Fatalf("record %s is in no result line", r.Ref.ID)
		}
	}
}

func encryptTo(t *testing.T, ring *pgpfile.KeyRing, text string) []byte {
	t.Helper()
	pub, err := ring.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	to, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(pub))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w, err := openpgp.Encrypt(&out, to, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(w, text)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func readResult(t *testing.T, files *jobfiles.Local, jobID string) [][]string {
	t.Helper()
	f, err := files.Open(context.Background(), "results/"+jobID+".csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// droppingFiles serves the uploaded file, but its first read stream
// fails after cutAfter bytes, as a bucket's connection dropped half way
// would.
type droppingFiles struct {
	migrate.Files
	cutAfter int64
	opened   atomic.Int64
}

func (d *droppingFiles) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := d.Files.Open(ctx, key)
	if err != nil || d.opened.Add(1) > 1 {
		return rc, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(io.LimitReader(rc, d.cutAfter), failingReader{}), rc}, nil
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset by peer") }

// A read of the stored file that fails part way (not the file: its
// stream) leaves the job running, to be retried, rather than failing a
// good file as invalid_import; the next run finishes it, every row
// vaulted once.
func TestImportWhoseFileReadDropsIsRetriedNotFailed(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	const batch, rows = 10, 200
	files := &droppingFiles{}
	rig := newImportRig(t, st, st, files, batch)
	files.Files = rig.files
	var b strings.Builder
	b.WriteString("number,exp_month,exp_year,customer_id,reference\n")
	year := time.Now().Year() + 2
	for i := range rows {
		fmt.Fprintf(&b, "%s,%d,%d,cus_%d,ref_%d\n", luhnCard(i), 1+i%12, year, i, i)
	}
	file := encryptTo(t, rig.ring, b.String())
	files.cutAfter = int64(len(file) / 2)
	created, err := rig.jobs.ImportCards(ctx, vault.Caller{ClientID: "c", MerchantID: "m_drop", JTI: "jti-1"}, migrate.ImportSpec{Format: migrate.FormatGeneric})
	if err != nil {
		t.Fatal(err)
	}
	jobID := created.Job.ID
	if err := rig.files.Put(ctx, migrate.UploadPrefix+jobID, bytes.NewReader(file)); err != nil {
		t.Fatal(err)
	}

	out, err := rig.worker.Run(ctx, jobID)
	if vaulterr.CodeOf(err) != vaulterr.Unavailable || out.Done {
		t.Fatalf("the dropped run: %+v %v, want unavailable and not done", out, err)
	}
	job, err := st.Job(ctx, jobID)
	if err != nil || job.State != migrate.Running || job.Offset == 0 || job.Offset >= rows {
		t.Fatalf("after the dropped read: %+v %v", job, err)
	}

	out, err = rig.worker.Run(ctx, jobID)
	if err != nil || out.State != migrate.Succeeded {
		t.Fatalf("the next run: %+v %v", out, err)
	}
	job, err = st.Job(ctx, jobID)
	if err != nil || job.Rows != rows || job.Vaulted != rows || job.Duplicates != 0 {
		t.Fatalf("finished job: %+v %v", job, err)
	}
}

// A resumed import whose file no longer fits the batches its first run
// claimed (here the upload was replaced by a shorter file) fails with
// invalid_import rather than vault rows under another row's token.
func TestImportResumedOnAChangedFileFails(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	// The second batch's entries are cut: its tokens are claimed.
	cut := &cutEntries{Store: st, cutAt: 2}
	const batch = 10
	rig := newImportRig(t, st, cut, nil, batch)
	file := func(rows int) []byte {
		var b strings.Builder
		b.WriteString("number,exp_month,exp_year,customer_id,reference\n")
		for i := range rows {
			fmt.Fprintf(&b, "%s,%d,%d,cus_%d,ref_%d\n", luhnCard(i), 1+i%12, time.Now().Year()+2, i, i)
		}
		return encryptTo(t, rig.ring, b.String())
	}
	created, err := rig.jobs.ImportCards(ctx, vault.Caller{ClientID: "c", MerchantID: "m_changed", JTI: "jti-1"}, migrate.ImportSpec{Format: migrate.FormatGeneric})
	if err != nil {
		t.Fatal(err)
	}
	jobID := created.Job.ID
	if err := rig.files.Put(ctx, migrate.UploadPrefix+jobID, bytes.NewReader(file(25))); err != nil {
		t.Fatal(err)
	}
	if out, err := rig.worker.Run(ctx, jobID); err == nil || out.Done {
		t.Fatalf("the cut run: %+v %v", out, err)
	}
	if claimed, err := st.ClaimBatch(ctx, jobID, 1, nil); err != nil || len(claimed.Tokens) != batch {
		t.Fatalf("the second batch's claim: %v %v", claimed.Tokens, err)
	}

	if err := rig.files.Put(ctx, migrate.UploadPrefix+jobID, bytes.NewReader(file(15))); err != nil {
		t.Fatal(err)
	}
	out, err := rig.worker.Run(ctx, jobID)
	if err != nil || out.State != migrate.Failed {
		t.Fatalf("the run on the changed file: %+v %v", out, err)
	}
	job, err := st.Job(ctx, jobID)
	if err != nil || job.Error == nil || job.Error.Code != string(vaulterr.InvalidImport) || job.Offset != batch {
		t.Fatalf("job after the changed file: %+v %v", job, err)
	}
}
