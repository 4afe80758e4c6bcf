package migrate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/pgpfile"
	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

// BatchSize is how many rows are vaulted between two checkpoints. A
// batch's result lines are kept in one table item: at most some 400
// bytes a row (customer id and reference are bounded), well under the
// item limit.
const BatchSize = 200

// WithBatchSize sets the rows per checkpoint (1..BatchSize; tests use
// small batches to cut a job in several places cheaply). A job must be
// run with one batch size from start to end: its checkpoints are
// multiples of it.
func (w *Worker) WithBatchSize(n int) *Worker {
	if n >= 1 && n <= BatchSize {
		w.batchSize = n
	}
	return w
}

// maxLineBytes bounds one line of an import file, so that a file without
// line breaks cannot make the CSV reader hold it whole.
const maxLineBytes = 64 << 10

// maxReferenceChars bounds a row's reference (the old provider's id).
const maxReferenceChars = 128

// Worker runs jobs: it decrypts uploaded files and vaults their rows,
// and writes exports. It is the only part of the vault holding the
// import key ring.
type Worker struct {
	jobs    JobStore
	files   Files
	cards   *vault.CardVault
	records vault.MerchantRecords
	ring    *pgpfile.KeyRing
	work    Work
	audit   vault.Auditor
	logger  *slog.Logger
	now     vault.Clock
	// batchSize is BatchSize unless a test set another.
	batchSize int
}

// NewWorker builds a Worker.
func NewWorker(jobs JobStore, files Files, cards *vault.CardVault, records vault.MerchantRecords, ring *pgpfile.KeyRing, work Work, auditor vault.Auditor, logger *slog.Logger, now vault.Clock) *Worker {
	if logger == nil {
		logger = slog.Default()
	}
	return &Worker{jobs: jobs, files: files, cards: cards, records: records, ring: ring, work: work, audit: auditor, logger: logger, now: now, batchSize: BatchSize}
}

// Outcome is what one run of a job did.
type Outcome struct {
	JobID string `json:"job_id"`
	State State  `json:"state"`
	// Done is false when the job was handed on to another run.
	Done bool `json:"done"`
}

// errHandedOn stops a run whose time is up; its checkpoint is saved.
var errHandedOn = errors.New("migrate: run handed on")

// errLostJob: another run advanced the job meanwhile; this one stops.
var errLostJob = errors.New("migrate: another run owns the job")

// Run carries a job on within ctx's deadline: it starts an uploaded
// import, resumes a running one from its checkpoint, runs an export, and
// hands what is left on to another run when the deadline nears. A job
// that has ended only has its upload deleted (again).
func (w *Worker) Run(ctx context.Context, jobID string) (Outcome, error) {
	out := Outcome{JobID: jobID}
	if !ValidJobID(jobID) {
		return out, fmt.Errorf("migrate: %q is not a job id", jobID)
	}
	job, err := w.jobs.Job(ctx, jobID)
	if errors.Is(err, vault.ErrNotFound) {
		// Gone (past its retention) or never made: nothing to carry on,
		// and retrying the event would not change that.
		w.logger.WarnContext(ctx, "work for an unknown job", "job_id", jobID)
		out.Done = true
		return out, nil
	}
	if err != nil {
		return out, err
	}
	out.State = job.State
	if job.State.Ended() {
		out.Done = true
		return out, w.files.Delete(ctx, uploadKey(job.ID))
	}
	work := withMargin(ctx)
	switch job.Kind {
	case KindImport:
		err = w.runImport(work, &job)
	case KindExport:
		err = w.runExport(work, &job)
	default:
		err = fmt.Errorf("migrate: job %s has kind %q", job.ID, job.Kind)
	}
	out.State = job.State
	switch {
	case errors.Is(err, errLostJob):
		return out, nil
	case errors.Is(err, errHandedOn):
		return out, w.work.StartJob(ctx, job.ID)
	case err != nil:
		return out, err
	}
	out.Done = true
	return out, nil
}

// save writes the job's progress; a lost race means another run has it.
func (w *Worker) save(ctx context.Context, job *Job) error {
	job.UpdatedAt = w.now().UTC()
	err := w.jobs.SaveJob(ctx, *job)
	if errors.Is(err, vault.ErrConflict) {
		return errLostJob
	}
	if err != nil {
		return err
	}
	job.Revision++
	return nil
}

// fail ends the job with err's contract code and deletes its upload.
func (w *Worker) fail(ctx context.Context, job *Job, err error) error {
	ve := vaulterr.As(err)
	message := ve.Message
	if ve.Code == vaulterr.Internal {
		message = "internal error"
	}
	w.logger.ErrorContext(ctx, "job failed", "job_id", job.ID, "merchant_id", job.MerchantID, "code", string(ve.Code), "err", err)
	job.State = Failed
	job.Error = &JobError{Code: string(ve.Code), Message: message}
	if err := w.save(context.WithoutCancel(ctx), job); err != nil {
		return err
	}
	w.finished(ctx, job)
	return nil
}

// finished records the job's end and deletes its upload: the encrypted
// file is not kept a moment longer than the job needs it.
func (w *Worker) finished(ctx context.Context, job *Job) {
	ctx = context.WithoutCancel(ctx)
	action := audit.ActionImportFinished
	records := job.Vaulted
	if job.Kind == KindExport {
		action, records = audit.ActionExportFinished, job.Rows
	}
	e := audit.Event{ID: audit.NewID(), Time: w.now().UTC(), Action: action, Outcome: audit.Allowed,
		ClientID: job.ClientID, Merchant: job.MerchantID, JobID: job.ID, Records: records,
		DurationMS: w.now().Sub(job.CreatedAt).Milliseconds()}
	if job.Error != nil {
		e.Outcome, e.Code = audit.Failed, job.Error.Code
		if vaulterr.Code(job.Error.Code).Status() < 500 {
			e.Outcome = audit.Refused
		}
	}
	w.record(ctx, e)
	if job.Kind == KindImport {
		if err := w.files.Delete(ctx, uploadKey(job.ID)); err != nil {
			// The bucket's lifecycle rule is the backstop; the next run
			// of this job (any event naming it) deletes it again.
			w.logger.ErrorContext(ctx, "uploaded file not deleted", "job_id", job.ID, "err", err)
			return
		}
		w.record(ctx, audit.Event{ID: audit.NewID(), Time: w.now().UTC(), Action: audit.ActionJobFileDeleted,
			Outcome: audit.Allowed, Merchant: job.MerchantID, JobID: job.ID})
	}
}

func (w *Worker) record(ctx context.Context, e audit.Event) {
	if err := w.audit.Record(ctx, e); err != nil {
		w.logger.ErrorContext(ctx, "audit event not recorded", "action", e.Action, "job_id", e.JobID, "err", err)
	}
}

// runImport vaults an uploaded file's rows from the job's checkpoint on.
func (w *Worker) runImport(ctx context.Context, job *Job) error {
	file, err := w.files.Open(ctx, uploadKey(job.ID))
	if errors.Is(err, vault.ErrNotFound) {
		if job.State == AwaitingUpload {
			return fmt.Errorf("migrate: job %s has no upload yet", job.ID)
		}
		return w.fail(ctx, job, vaulterr.New(vaulterr.InvalidImport, "the uploaded file is gone"))
	}
	if err != nil {
		return err
	}
	defer file.Close()
	if job.State == AwaitingUpload {
		job.State = Running
		if err := w.save(ctx, job); err != nil {
			return err
		}
		w.record(ctx, audit.Event{ID: audit.NewID(), Time: w.now().UTC(), Action: audit.ActionImportStarted,
			Outcome: audit.Allowed, ClientID: job.ClientID, Merchant: job.MerchantID, JobID: job.ID})
	}
	src := &storedFile{r: file}
	plain, err := w.ring.Decrypt(src)
	if err != nil {
		return w.failOrRetry(ctx, job, src.blame(vaulterr.Wrap(vaulterr.InvalidImport, "the file is not an OpenPGP message encrypted to the vault's import key", err)))
	}
	rows := csv.NewReader(&lineBound{r: plain, max: maxLineBytes})
	rows.ReuseRecord = false
	header, err := rows.Read()
	if err != nil {
		return w.failOrRetry(ctx, job, src.blame(fileError(err, "the file has no CSV header row")))
	}
	l, err := readLayout(header, job.Format, job.Columns)
	if err != nil {
		return w.fail(ctx, job, err)
	}
	rows.FieldsPerRecord = -1
	for skipped := 0; skipped < job.Offset; skipped++ {
		if _, err := rows.Read(); err != nil {
			return w.failOrRetry(ctx, job, src.blame(fileError(err, "the file changed since the job began")))
		}
	}
	fixed := *job // the fields a batch reads, while a checkpoint writes the job
	batches := w.readAhead(ctx, &fixed, rows, l)
	defer batches.stop()
	// Batch k+1 is stored while batch k's checkpoint (its results, then
	// the job) is written, and claimed and sealed ahead of that: the
	// checkpoints follow one another in order, and a batch's duplicate
	// lookups still follow the previous batch's writes, so overlapping
	// them changes nothing a crash or a concurrent run could see (a claim
	// is only the batch's tokens, the same on every run), but keeps the
	// table busy.
	var (
		inFlight *checkpoint
		offset   = job.Offset
	)
	// settle waits for the checkpoint in flight and adds its failure to
	// err's; it tells whether the run goes on and, if it stops, what the
	// run returns (nil when the job has been failed and ended).
	settle := func(err error) (goOn bool, _ error) {
		if ckErr := inFlight.wait(); ckErr != nil && err == nil {
			err = ckErr
		}
		inFlight = nil
		if err == nil {
			return true, nil
		}
		return false, w.failOrRetry(ctx, job, err)
	}
	for {
		if ctx.Err() != nil {
			if goOn, err := settle(nil); !goOn {
				return err
			}
			return errHandedOn
		}
		next := <-batches.out
		if next.err != nil {
			_, err := settle(src.blame(next.err))
			return err
		}
		if len(next.rows) > 0 {
			done, err := w.importBatch(ctx, offset, next)
			if goOn, err := settle(err); !goOn {
				return err
			}
			inFlight = w.startCheckpoint(ctx, job, done)
			offset += len(next.rows)
		}
		if next.eof {
			if goOn, err := settle(nil); !goOn {
				return err
			}
			return w.completeImport(ctx, job)
		}
	}
}

// readAhead reads, claims and prepares (checks and seals) the file's next
// batches while the current one is stored: decrypting, parsing and
// sealing rows take CPU, and a claim a round trip, that the table need
// not wait for. Two batches ahead at most, so the heap stays flat in the
// file size.
type readAhead struct {
	out  chan readResult
	done chan struct{}
	exit chan struct{}
}

// readResult is a batch read from the file (err: the file is broken),
// claimed, and its rows checked and sealed under the claimed tokens
// unless its results are recorded (batchErr: the claim or the sealing
// failed).
type readResult struct {
	rows     []row
	eof      bool
	err      error
	claimed  Batch
	prepared []preparedWave
	batchErr error
}

func (w *Worker) readAhead(ctx context.Context, job *Job, r *csv.Reader, l layout) *readAhead {
	ra := &readAhead{out: make(chan readResult, 1), done: make(chan struct{}), exit: make(chan struct{})}
	go func() {
		defer close(ra.exit)
		for index := job.Offset / w.batchSize; ; index++ {
			var next readResult
			next.rows, next.eof, next.err = readBatch(r, l, w.batchSize)
			if next.err == nil && len(next.rows) > 0 {
				next.claimed, next.batchErr = w.claimBatch(ctx, job, index, next.rows)
				if next.batchErr == nil && next.claimed.Results == nil {
					next.prepared, next.batchErr = w.prepareBatch(ctx, job, next.rows, next.claimed.Tokens)
				}
			}
			select {
			case ra.out <- next:
			case <-ra.done:
				return
			}
			if next.eof || next.err != nil || next.batchErr != nil {
				return
			}
		}
	}()
	return ra
}

// claimBatch stores the batch's tokens, or returns those a previous run
// stored: a run of the same batch after a crash gets the same tokens, so
// a row it had vaulted finds its own token (and is reported vaulted, not
// duplicate), and nothing is vaulted twice.
func (w *Worker) claimBatch(ctx context.Context, job *Job, index int, batch []row) (Batch, error) {
	format := vault.TokenFormat(job.TokenFormat)
	tokens := make([]string, len(batch))
	for i := range tokens {
		t, err := vault.ImportToken(format, batch[i].card.Number)
		if err != nil {
			return Batch{}, err
		}
		tokens[i] = t
	}
	stored, err := w.jobs.ClaimBatch(ctx, job.ID, index, tokens)
	if err == nil && len(stored.Tokens) != len(batch) {
		err = vaulterr.New(vaulterr.InvalidImport, "the file changed since the job began")
	}
	return stored, err
}

// stop ends the reading and waits for it, so the file can be closed.
func (ra *readAhead) stop() {
	close(ra.done)
	<-ra.exit
}

// failOrRetry ends the job for err, unless err leaves it to a later run:
// the run's time is up (handed on), another run has the job, or the
// vault or the stored file could not be reached (the run fails and is
// retried).
func (w *Worker) failOrRetry(ctx context.Context, job *Job, err error) error {
	if ctx.Err() != nil && !errors.Is(err, errLostJob) {
		return errHandedOn
	}
	if errors.Is(err, errLostJob) || vaulterr.CodeOf(err) == vaulterr.Unavailable || vaulterr.CodeOf(err) == vaulterr.Internal {
		return err
	}
	return w.fail(ctx, job, err)
}

// storedFile reads the uploaded file and remembers a failure of the read
// itself (the bucket's stream cut, the run's deadline), which the
// OpenPGP layer above reports as a broken message: a good file must not
// fail its job for a dropped connection.
type storedFile struct {
	r      io.Reader
	failed atomic.Pointer[error]
}

func (f *storedFile) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		f.failed.CompareAndSwap(nil, &err)
	}
	return n, err
}

// blame turns err, a failure found reading the file, into unavailable
// (the job runs again from its checkpoint) if a read of the stored file
// itself failed, whatever the layers above made of it.
func (f *storedFile) blame(err error) error {
	if readErr := f.failed.Load(); readErr != nil {
		return vaulterr.Wrap(vaulterr.Unavailable, "the uploaded file could not be read; the job runs again", *readErr)
	}
	return err
}

// fileError is a failure reading the file: a broken message is
// invalid_import, whatever stage found it.
func fileError(err error, what string) error {
	if errors.Is(err, pgpfile.ErrNotForVault) {
		return vaulterr.Wrap(vaulterr.InvalidImport, "the file failed its OpenPGP integrity check or is truncated", err)
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return vaulterr.New(vaulterr.InvalidImport, fmt.Sprintf("the file is not valid CSV (line %d)", pe.Line))
	}
	if errors.Is(err, errLineTooLong) {
		return vaulterr.New(vaulterr.InvalidImport, "the file has a line over 64 KiB")
	}
	return vaulterr.Wrap(vaulterr.InvalidImport, what, err)
}

// row is one data row read from the file: a card to vault, or the
// reason it is rejected without being vaulted.
type row struct {
	reference  string
	customerID string
	card       vault.CardInput
	reject     vaulterr.Code
}

// readBatch reads up to size rows.
func readBatch(r *csv.Reader, l layout, size int) ([]row, bool, error) {
	batch := make([]row, 0, size)
	for len(batch) < size {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return batch, true, nil
		}
		if err != nil {
			return nil, false, fileError(err, "the file could not be read")
		}
		batch = append(batch, parseRow(rec, l))
	}
	return batch, false, nil
}

func parseRow(rec []string, l layout) row {
	r := row{reference: l.get(rec, FieldReference), customerID: l.get(rec, FieldCustomerID)}
	for _, f := range rec {
		if !utf8.ValidString(f) {
			return row{reject: vaulterr.Malformed}
		}
	}
	if len(rec) != l.width {
		r.reject = vaulterr.Malformed
		return r
	}
	if utf8.RuneCountInString(r.reference) > maxReferenceChars {
		r.reference = ""
		r.reject = vaulterr.Malformed
		return r
	}
	if utf8.RuneCountInString(r.customerID) > vault.MaxCustomerIDChars {
		r.customerID = ""
		r.reject = vaulterr.InvalidCard
		return r
	}
	month, err1 := strconv.Atoi(l.get(rec, FieldExpMonth))
	year, err2 := strconv.Atoi(l.get(rec, FieldExpYear))
	if err1 != nil || err2 != nil {
		r.reject = vaulterr.InvalidCard
		return r
	}
	holder := l.get(rec, FieldHolderName)
	if holder == "" && (l.has(FieldFirstName) || l.has(FieldLastName)) {
		holder = strings.TrimSpace(l.get(rec, FieldFirstName) + " " + l.get(rec, FieldLastName))
	}
	r.card = vault.CardInput{
		Number:     secret.New(l.get(rec, FieldNumber)),
		ExpMonth:   month,
		ExpYear:    year,
		HolderName: secret.New(holder),
	}
	return r
}

// importBatch stores one claimed and prepared batch of the rows from
// offset on, unless its results are already recorded.
func (w *Worker) importBatch(ctx context.Context, offset int, next readResult) (doneBatch, error) {
	if next.batchErr != nil {
		return doneBatch{}, next.batchErr
	}
	stored := next.claimed
	done := doneBatch{index: offset / w.batchSize, rows: len(next.rows), results: stored.Results, recorded: stored.Results != nil}
	if !done.recorded {
		var err error
		done.results, err = w.vaultBatch(ctx, offset, next.rows, stored.Tokens, next.prepared)
		if err != nil {
			return doneBatch{}, err
		}
	}
	return done, nil
}

// doneBatch is a vaulted batch whose checkpoint is to be written.
type doneBatch struct {
	index, rows int
	results     []byte
	// recorded: the results were already on the batch's item.
	recorded bool
}

// checkpoint is a batch's checkpoint being written: its results on its
// item, then the job's counts and offset. wait returns its error.
type checkpoint struct {
	err  error
	done chan struct{}
}

func (c *checkpoint) wait() error {
	if c == nil {
		return nil
	}
	<-c.done
	return c.err
}

// startCheckpoint writes b's checkpoint in the background; the job is
// the checkpoint's until its wait returns.
func (w *Worker) startCheckpoint(ctx context.Context, job *Job, b doneBatch) *checkpoint {
	c := &checkpoint{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.err = w.saveCheckpoint(ctx, job, b)
	}()
	return c
}

func (w *Worker) saveCheckpoint(ctx context.Context, job *Job, b doneBatch) error {
	if !b.recorded {
		if err := w.jobs.SaveBatchResults(ctx, job.ID, b.index, b.results); err != nil {
			return err
		}
	}
	counts, err := countResults(b.results)
	if err != nil {
		return err
	}
	job.Rows += b.rows
	job.Vaulted += counts.vaulted
	job.Duplicates += counts.duplicates
	job.Rejected += counts.rejected
	job.Offset += b.rows
	job.Batches = b.index + 1
	return w.save(ctx, job)
}

// Result statuses.
const (
	statusVaulted   = "vaulted"
	statusDuplicate = "duplicate"
	statusRejected  = "rejected"
)

// preparedWave is one wave of a batch (waves), checked and sealed.
type preparedWave struct {
	rows     []int
	prepared *vault.PreparedImport
}

// prepareBatch checks and seals a batch's rows under its tokens, wave by
// wave, storing nothing.
func (w *Worker) prepareBatch(ctx context.Context, job *Job, batch []row, tokens []string) ([]preparedWave, error) {
	var out []preparedWave
	for _, wave := range waves(batch) {
		cards := make([]vault.ImportedCard, len(wave))
		for k, i := range wave {
			cards[k] = vault.ImportedCard{CustomerID: batch[i].customerID, Card: batch[i].card, Token: tokens[i]}
		}
		p, err := w.cards.PrepareImported(ctx, job.MerchantID, vault.TokenFormat(job.TokenFormat), cards)
		if err != nil {
			return nil, err
		}
		out = append(out, preparedWave{rows: wave, prepared: p})
	}
	return out, nil
}

// vaultBatch stores a prepared batch's waves in turn (a wave's duplicate
// lookups follow the writes of the waves before it) and returns its
// result lines.
func (w *Worker) vaultBatch(ctx context.Context, offset int, batch []row, tokens []string, prepared []preparedWave) ([]byte, error) {
	vaulted := make([]*vault.ImportedResult, len(batch))
	for _, wave := range prepared {
		res, err := w.cards.StoreImported(ctx, wave.prepared)
		if err != nil {
			return nil, err
		}
		for k, i := range wave.rows {
			vaulted[i] = &res[k]
		}
	}
	var buf bytes.Buffer
	out := csv.NewWriter(&buf)
	for i, r := range batch {
		line := []string{strconv.Itoa(offset + i + 1), r.reference, r.customerID, "", "", "", "", "", "", ""}
		switch {
		case r.reject != "":
			line[3], line[9] = statusRejected, string(r.reject)
		case vaulted[i].Err != nil:
			line[3], line[9] = statusRejected, string(vaulterr.CodeOf(vaulted[i].Err))
		default:
			v := vaulted[i].View
			status := statusVaulted
			// A duplicate holding this row's own token is this job's own
			// earlier run of the row: it was new to the vault.
			if v.Duplicate && v.Token != tokens[i] {
				status = statusDuplicate
			}
			line[3], line[4], line[5] = status, v.Token, v.Fingerprint
			line[6], line[7], line[8] = v.Masked.First4, v.Masked.Last4, string(v.Masked.Brand)
		}
		if err := out.Write(line); err != nil {
			return nil, err
		}
	}
	out.Flush()
	return buf.Bytes(), out.Error()
}

// waves orders a batch's rows to vault: rows are vaulted concurrently,
// but a row repeating an earlier row's card for the same customer goes in
// a later wave, so the first in file order is the one reported vaulted
// and the repeats duplicates, on every run of the batch alike. Cards are
// compared by a hash of customer and digits, so no map holds a number.
func waves(batch []row) [][]int {
	var out [][]int
	seen := make(map[[32]byte]int, len(batch))
	for i, r := range batch {
		if r.reject != "" {
			continue
		}
		digits := strings.Map(func(c rune) rune {
			if c == ' ' || c == '-' {
				return -1
			}
			return c
		}, r.card.Number.Reveal())
		key := sha256.Sum256([]byte(r.customerID + "\x00" + digits))
		n := seen[key]
		seen[key] = n + 1
		if n == len(out) {
			out = append(out, nil)
		}
		out[n] = append(out[n], i)
	}
	return out
}

type resultCounts struct{ vaulted, duplicates, rejected int }

func countResults(results []byte) (resultCounts, error) {
	var c resultCounts
	r := csv.NewReader(bytes.NewReader(results))
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return c, nil
		}
		if err != nil || len(rec) != len(resultHeader) {
			return c, vaulterr.Wrap(vaulterr.Integrity, "a recorded batch is corrupt", err)
		}
		switch rec[3] {
		case statusVaulted:
			c.vaulted++
		case statusDuplicate:
			c.duplicates++
		default:
			c.rejected++
		}
	}
}

var resultHeader = []string{"row", "reference", "customer_id", "status", "token", "fingerprint", "first4", "last4", "brand", "error"}

// completeImport writes the result file from the recorded batches, in
// file order, and ends the job.
func (w *Worker) completeImport(ctx context.Context, job *Job) error {
	pr, pw := io.Pipe()
	go func() {
		out := csv.NewWriter(pw)
		if err := out.Write(resultHeader); err != nil {
			pw.CloseWithError(err)
			return
		}
		out.Flush()
		for i := 0; i < job.Batches; i++ {
			lines, err := w.jobs.BatchResults(ctx, job.ID, i)
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := pw.Write(lines); err != nil {
				return
			}
		}
		_ = pw.Close()
	}()
	err := w.files.Put(ctx, importResultKey(job.ID), pr)
	_ = pr.CloseWithError(err) // always nil: it only tells the writer side
	if err != nil {
		if ctx.Err() != nil {
			return errHandedOn
		}
		return err
	}
	job.State = Succeeded
	if err := w.save(ctx, job); err != nil {
		return err
	}
	w.finished(ctx, job)
	return nil
}

// runExport streams the merchant's cards into an OpenPGP message to the
// recipient, signed with the import key, straight into the result file.
// An export runs in one go: cut off, it starts again from the beginning
// (the file is only ever complete or absent).
func (w *Worker) runExport(ctx context.Context, job *Job) error {
	to, err := pgpfile.ParseRecipient(job.RecipientKey, w.now())
	if err != nil {
		return w.fail(ctx, job, vaulterr.Wrap(vaulterr.InvalidImport, "recipient_key is no longer fit to encrypt to (expired or revoked)", err))
	}
	var include func(string) bool
	if len(job.CustomerIDs) > 0 {
		set := make(map[string]bool, len(job.CustomerIDs))
		for _, c := range job.CustomerIDs {
			set[c] = true
		}
		include = func(c string) bool { return set[c] }
	}
	pr, pw := io.Pipe()
	count := make(chan int, 1)
	go func() {
		n, err := w.writeExport(ctx, pw, to, job.MerchantID, include)
		count <- n
		pw.CloseWithError(err)
	}()
	err = w.files.Put(ctx, exportResultKey(job.ID), pr)
	_ = pr.CloseWithError(err) // always nil: it only tells the writer side
	n := <-count
	if err != nil {
		_ = w.files.Delete(context.WithoutCancel(ctx), exportResultKey(job.ID))
		if ctx.Err() != nil {
			return errHandedOn
		}
		if code := vaulterr.CodeOf(err); code == vaulterr.Unavailable || code == vaulterr.Internal {
			return err
		}
		return w.fail(ctx, job, err)
	}
	job.Rows = n
	job.State = Succeeded
	if err := w.save(ctx, job); err != nil {
		return err
	}
	w.finished(ctx, job)
	return nil
}

func (w *Worker) writeExport(ctx context.Context, dst io.Writer, to *pgpfile.Recipient, merchantID string, include func(string) bool) (int, error) {
	plain, err := w.ring.EncryptTo(dst, to)
	if err != nil {
		return 0, err
	}
	out := csv.NewWriter(plain)
	if err := out.Write([]string{"token", "customer_id", "number", "exp_month", "exp_year", "holder_name"}); err != nil {
		return 0, err
	}
	n, _, err := w.cards.ExportCards(ctx, merchantID, w.records, include, func(c vault.ExportedCard) error {
		return out.Write([]string{c.Token, c.CustomerID, c.Number.Reveal(),
			fmt.Sprintf("%02d", c.ExpMonth), fmt.Sprintf("%04d", c.ExpYear), c.HolderName.Reveal()})
	})
	if err != nil {
		return n, err
	}
	out.Flush()
	if err := out.Error(); err != nil {
		return n, err
	}
	return n, plain.Close()
}

// errLineTooLong: an import line over maxLineBytes.
var errLineTooLong = errors.New("migrate: line too long")

// lineBound fails a read once a line grows past max bytes.
type lineBound struct {
	r    io.Reader
	max  int
	line int
}

func (b *lineBound) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	for _, c := range p[:n] {
		if c == '\n' {
			b.line = 0
			continue
		}
		b.line++
		if b.line > b.max {
			return 0, errLineTooLong
		}
	}
	return n, err
}

// withMargin leaves time before ctx's deadline to save a checkpoint and
// hand the rest of the job on.
func withMargin(ctx context.Context) context.Context {
	deadline, ok := ctx.Deadline()
	if !ok {
		return ctx
	}
	margin := min(max(time.Until(deadline)/10, 2*time.Second), 30*time.Second)
	c, cancel := context.WithDeadline(ctx, deadline.Add(-margin))
	context.AfterFunc(ctx, cancel)
	return c
}
