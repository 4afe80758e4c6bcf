package dynamo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/cardvault/vault/bench/internal/kmssim"
	"github.com/cardvault/vault/bench/internal/localdb"
	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/card"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/jobfiles"
	"github.com/cardvault/vault/shared/migrate"
	"github.com/cardvault/vault/shared/pgpfile"
	"github.com/cardvault/vault/shared/store"
	"github.com/cardvault/vault/shared/vault"
)

// importSizes are the row counts imported; BENCH_IMPORT_ROWS overrides
// them with a comma-separated list (e.g. 10000,1000000: the heap from ten
// thousand to a million rows, some minutes against dynalite on a 2-core
// machine).
func importSizes() []int {
	v := os.Getenv("BENCH_IMPORT_ROWS")
	if v == "" {
		return []int{10_000, 50_000}
	}
	var sizes []int
	for _, part := range strings.Split(v, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(part)); err == nil && n > 0 {
			sizes = append(sizes, n)
		}
	}
	if len(sizes) == 0 {
		return []int{10_000, 50_000}
	}
	return sizes
}

// importBench is a vault with a migrate worker over dynalite, the local
// keyring and job files in a temporary directory.
type importBench struct {
	db     *localdb.Server
	st     *store.Store
	jobs   *migrate.Jobs
	worker *migrate.Worker
	files  *jobfiles.Local
	ring   *pgpfile.KeyRing
	dir    string
}

// noWork drops hand-ons: a benchmark runs the next run itself.
type noWork struct{}

func (noWork) StartJob(context.Context, string) error { return nil }

func newImportBench(b *testing.B) *importBench {
	b.Helper()
	db, st := startTable(b, "card-vault-import")
	keyring, err := kmssim.NewLocalKeyring(0)
	if err != nil {
		b.Fatal(err)
	}
	keys := envelope.NewManager(keyring, st, envelope.Options{})
	cards := vault.NewCardVault(st, st, st, keys, time.Now)
	doc, err := pgpfile.GenerateKey("bench import key", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	ring, err := pgpfile.ParseKeyRing(doc.Reveal(), nil)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	files, err := jobfiles.NewLocal(filepath.Join(dir, "files"), make([]byte, 32), "http://127.0.0.1", time.Now)
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	return &importBench{
		db: db, st: st, files: files, ring: ring, dir: dir,
		jobs:   migrate.NewJobs(st, files, st, st, noWork{}, time.Now),
		worker: migrate.NewWorker(st, files, cards, st, ring, noWork{}, audit.Discard{}, logger, time.Now),
	}
}

// writeFile encrypts an n-row Stripe-format file to the import key,
// streaming it to disk (it is never whole in memory).
func (ib *importBench) writeFile(b *testing.B, n int) string {
	b.Helper()
	pub, err := ib.ring.PublicKey()
	if err != nil {
		b.Fatal(err)
	}
	to, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(pub))
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(ib.dir, fmt.Sprintf("cards-%d.csv.gpg", n))
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	buf := bufio.NewWriterSize(f, 1<<20)
	w, err := openpgp.Encrypt(buf, to, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	year := time.Now().Year() + 3
	fmt.Fprintln(bw, "card_number,card_exp_month,card_exp_year,name,old_customer_id,old_card_id")
	for i := range n {
		fmt.Fprintf(bw, "%s,%d,%d,Jane Doe,cus_%d,card_%d\n", luhn(i), 1+i%12, year, i, i)
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	if err := buf.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// start creates an import job and uploads the file to it.
func (ib *importBench) start(b *testing.B, merchant, path string) string {
	b.Helper()
	ctx := context.Background()
	v, err := ib.jobs.ImportCards(ctx, vault.Caller{ClientID: "bench", MerchantID: merchant, JTI: newToken()}, migrate.ImportSpec{Format: migrate.FormatStripe})
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := ib.files.Put(ctx, migrate.UploadPrefix+v.Job.ID, f); err != nil {
		b.Fatal(err)
	}
	return v.Job.ID
}

func luhn(i int) string {
	body := fmt.Sprintf("400000%09d", i)
	return body + string(card.LuhnCheckDigit(body))
}

// heapSampler records the peak HeapInuse while it runs.
type heapSampler struct {
	base uint64
	peak atomic.Uint64
	stop chan struct{}
	wg   sync.WaitGroup
}

func sampleHeap() *heapSampler {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h := &heapSampler{base: ms.HeapInuse, stop: make(chan struct{})}
	h.peak.Store(ms.HeapInuse)
	h.wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-h.stop:
				return
			case <-tick.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > h.peak.Load() {
					h.peak.Store(ms.HeapInuse)
				}
			}
		}
	})
	return h
}

func (h *heapSampler) done() (base, peak float64) {
	close(h.stop)
	h.wg.Wait()
	return float64(h.base) / (1 << 20), float64(h.peak.Load()) / (1 << 20)
}

// BenchmarkImport imports an n-row Stripe-format file, encrypted to the
// vault's import key, through the migrate worker against dynalite: every
// row decrypted, parsed, validated and sealed as vault_card does, and,
// its cards being new and its tokens opaque, stored with batch calls
// (the duplicate index read 100 keys a call, then the card records and
// their index entries written 25 a call), checkpointed every 200 rows.
// Reported: rows/s over the whole run; dynalite-puts/s, plain PutItem
// calls of card-sized items from 16 goroutines against the same dynalite
// (the mean of 5,000 right before the import and 5,000 right after), and
// the ratio of the two; dynalite-cpu-us/row and
// vault-cpu-us/row, and dynalite-busy (dynalite's CPU time over the wall
// time, near 1 when the single-threaded database bounds the import);
// peak-heap-MB and base-heap-MB (flat in n means the file streams). Run
// with -benchtime=1x.
func BenchmarkImport(b *testing.B) {
	for _, n := range importSizes() {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			for b.Loop() {
				benchImport(b, n)
			}
		})
	}
}

func benchImport(b *testing.B, n int) {
	ib := newImportBench(b)
	ctx := context.Background()
	// dynalite (V8) is measured warm, as a long-running server is.
	warm := ib.writeFile(b, 2_000)
	if out, err := ib.worker.Run(ctx, ib.start(b, "m_warmup", warm)); err != nil || out.State != migrate.Succeeded {
		b.Fatalf("warm-up import: %+v %v", out, err)
	}
	path := ib.writeFile(b, n)
	jobID := ib.start(b, "m_import", path)
	// The baseline is measured right before and right after the import,
	// and averaged: on a shared machine a single measurement after it
	// can land in a slower or a faster minute than the import had.
	putsBefore := rawPutRate(b, ib.db.Endpoint, "before", min(n, 5_000))
	heap := sampleHeap()
	cpuBefore := processCPU()
	dbBefore, err := ib.db.CPUTime()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	out, err := ib.worker.Run(ctx, jobID)
	elapsed := time.Since(start)
	cpu := processCPU() - cpuBefore
	dbAfter, dbErr := ib.db.CPUTime()
	base, peak := heap.done()
	if err != nil || out.State != migrate.Succeeded {
		b.Fatalf("import: %+v %v", out, err)
	}
	if dbErr != nil {
		b.Fatal(dbErr)
	}
	dbCPU := dbAfter - dbBefore
	job, err := ib.st.Job(ctx, jobID)
	if err != nil || job.Vaulted != n {
		b.Fatalf("import vaulted %d of %d: %v", job.Vaulted, n, err)
	}
	rate := float64(n) / elapsed.Seconds()
	puts := (putsBefore + rawPutRate(b, ib.db.Endpoint, "after", min(n, 5_000))) / 2
	b.ReportMetric(rate, "rows/s")
	b.ReportMetric(puts, "dynalite-puts/s")
	b.ReportMetric(rate/puts, "rows-per-put")
	b.ReportMetric(float64(dbCPU.Microseconds())/float64(n), "dynalite-cpu-us/row")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "vault-cpu-us/row")
	b.ReportMetric(dbCPU.Seconds()/elapsed.Seconds(), "dynalite-busy")
	b.ReportMetric(peak, "peak-heap-MB")
	b.ReportMetric(base, "base-heap-MB")
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(n), "ns/op")
}

// BenchmarkImportResume kills an n-row import in the middle (its run's
// deadline passes, as Lambda's 15 minutes would) and measures the
// resumed run: resume-s is the time from the new run's start to its
// first checkpoint past the one it found (the file decrypted and parsed
// again up to the checkpoint, then one batch), and the job must end with
// every row vaulted exactly once.
func BenchmarkImportResume(b *testing.B) {
	for _, n := range importSizes() {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			for b.Loop() {
				benchResume(b, n)
			}
		})
	}
}

func benchResume(b *testing.B, n int) {
	ib := newImportBench(b)
	ctx := context.Background()
	path := ib.writeFile(b, n)
	jobID := ib.start(b, "m_resume", path)
	// Run until about half the rows are in, then cut the run off.
	cut, cancel := context.WithCancel(ctx)
	go func() {
		for cut.Err() == nil {
			if job, err := ib.st.Job(ctx, jobID); err == nil && job.Offset >= n/2 {
				cancel()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	out, err := ib.worker.Run(cut, jobID)
	cancel()
	if err != nil && !errors.Is(err, context.Canceled) {
		b.Fatalf("first run: %+v %v", out, err)
	}
	before, err := ib.st.Job(ctx, jobID)
	if err != nil || before.State != migrate.Running {
		b.Fatalf("after the cut: %+v %v", before, err)
	}
	// The resumed run; a watcher notes when its first checkpoint lands.
	start := time.Now()
	var firstCheckpoint atomic.Int64
	watch, stopWatch := context.WithCancel(ctx)
	go func() {
		for watch.Err() == nil {
			if job, err := ib.st.Job(ctx, jobID); err == nil && job.Offset > before.Offset {
				firstCheckpoint.Store(int64(time.Since(start)))
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	out, err = ib.worker.Run(ctx, jobID)
	total := time.Since(start)
	stopWatch()
	if err != nil || out.State != migrate.Succeeded {
		b.Fatalf("resumed run: %+v %v", out, err)
	}
	job, err := ib.st.Job(ctx, jobID)
	if err != nil || job.Vaulted != n || job.Duplicates != 0 || job.Rows != n {
		b.Fatalf("after resuming: %d vaulted, %d duplicates of %d rows: %v", job.Vaulted, job.Duplicates, n, err)
	}
	b.ReportMetric(float64(before.Offset), "rows-before-cut")
	b.ReportMetric(time.Duration(firstCheckpoint.Load()).Seconds(), "resume-s")
	b.ReportMetric(total.Seconds(), "rest-s")
	b.ReportMetric(float64(total.Nanoseconds())/float64(n-before.Offset), "ns/op")
}
