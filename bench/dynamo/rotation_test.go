package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cardvault/vault/bench/internal/kmssim"
	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/card"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/store"
	"github.com/cardvault/vault/shared/vault"
)

// Short key cache TTLs let a rotation finish (old versions destroyed)
// moments after its last page, so the run measures re-encryption rather
// than the safety waits, which are minutes with the defaults.
var rotationKeyOptions = envelope.Options{PrimaryTTL: 50 * time.Millisecond, KeyTTL: 100 * time.Millisecond}

// rotationWarmupRecords are rotated, untimed, before each measured
// rotation.
const rotationWarmupRecords = 5_000

// rotationSizes are the record counts rotated; BENCH_FULL=1 adds 100,000
// (seeding and rotating it take a few minutes on a 2-core machine).
func rotationSizes() []int {
	sizes := []int{10_000}
	if os.Getenv("BENCH_FULL") == "1" {
		sizes = append(sizes, 100_000)
	}
	return sizes
}

// BenchmarkRotation seeds a merchant's records on key version 1 directly
// through the store (records sealed by the envelope, as vault_card seals
// them), rotates to version 2 and runs vault.KeyLifecycle.ContinueRotation
// until the old version is destroyed: every record read, opened, sealed
// again and written back with a conditional reseal, plus the clean pass
// that proves version 1 unused. Reported: records/s over the whole
// ContinueRotation, peak-heap-MB (runtime HeapInuse sampled every 10 ms
// during it) and base-heap-MB (after a GC before it), the CPU time per
// record of the vault and of dynalite, and dynalite-busy: dynalite's CPU
// time over the wall time, near 1 when the single-threaded database is
// what bounds the rotation. Run with -benchtime=1x.
func BenchmarkRotation(b *testing.B) {
	for _, n := range rotationSizes() {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			for b.Loop() {
				benchRotation(b, n)
			}
		})
	}
}

func benchRotation(b *testing.B, n int) {
	ctx := context.Background()
	db, st := startTable(b, "card-vault-rotation")
	keyring, err := kmssim.NewLocalKeyring(0)
	if err != nil {
		b.Fatal(err)
	}
	keys := envelope.NewManager(keyring, st, rotationKeyOptions)
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	life := vault.NewKeyLifecycle(keys, envelope.NewLifecycle(keyring, st, keys), st, st, st, nil, audit.Discard{}, time.Now,
		vault.LifecycleOptions{Logger: logger})
	// dynalite runs on V8, which optimises a code path only after it has
	// run a while: a rotation of another merchant's records first, not
	// timed, measures the database warm, as a long-running local server
	// is, rather than its compiler.
	const warmup = "m_warmup"
	seedRecords(b, st, keys, warmup, rotationWarmupRecords)
	if _, err := life.Rotate(ctx, warmup); err != nil {
		b.Fatal(err)
	}
	if done, err := life.ContinueRotation(ctx, warmup); err != nil || !done {
		b.Fatalf("warm-up rotation did not finish: done=%v err=%v", done, err)
	}
	const merchant = "m_rotation"
	seedRecords(b, st, keys, merchant, n)

	if _, err := life.Rotate(ctx, merchant); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	peak.Store(base)
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
			}
		}
	})
	cpuBefore := processCPU()
	dbBefore, err := db.CPUTime()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	done, rotErr := life.ContinueRotation(ctx, merchant)
	elapsed := time.Since(start)
	cpu := processCPU() - cpuBefore
	dbAfter, err := db.CPUTime()
	close(stop)
	sampler.Wait()
	if rotErr != nil || !done {
		b.Fatalf("rotation did not finish: done=%v err=%v", done, rotErr)
	}
	if err != nil {
		b.Fatal(err)
	}
	dbCPU := dbAfter - dbBefore
	status, err := life.Status(ctx, merchant)
	if err != nil {
		b.Fatal(err)
	}
	if status.Rotation.Reencrypted != n || len(status.Versions) != 1 || status.Versions[0].Version != 2 {
		b.Fatalf("after rotation: %d re-encrypted of %d, versions %+v", status.Rotation.Reencrypted, n, status.Versions)
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "records/s")
	b.ReportMetric(rawPutRate(b, db.Endpoint, "rot", min(n, 5000)), "dynalite-puts/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "vault-cpu-us/record")
	b.ReportMetric(float64(dbCPU.Microseconds())/float64(n), "dynalite-cpu-us/record")
	b.ReportMetric(dbCPU.Seconds()/elapsed.Seconds(), "dynalite-busy")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(base)/(1<<20), "base-heap-MB")
	b.ReportMetric(elapsed.Seconds(), "s/rotation")
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(n), "ns/op")
}

// rawPutRate is the rate of n plain PutItem calls of record-sized items
// (keys named after run) from 16 goroutines against the same dynalite as
// a job: the database's own ceiling for a job that writes every record
// once.
func rawPutRate(b *testing.B, endpoint, run string, n int) float64 {
	b.Helper()
	raw := newRawDynamo(b, endpoint)
	var next atomic.Int64
	g, ctx := errgroup.WithContext(context.Background())
	start := time.Now()
	for range 16 {
		g.Go(func() error {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				if err := raw.put(ctx, fmt.Sprintf("%s/%d", run, i)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	return float64(n) / time.Since(start).Seconds()
}

// seedRecords stores n cards of merchant sealed with its first key
// version, from 16 goroutines.
func seedRecords(b *testing.B, st *store.Store, keys *envelope.Manager, merchant string, n int) {
	b.Helper()
	ctx := context.Background()
	mk, _, err := keys.Primary(ctx, merchant)
	if err != nil {
		b.Fatal(err)
	}
	masked := card.Mask("4242424242424242", card.Visa, 12, 2030)
	plaintext := []byte(`{"n":"4242424242424242","m":12,"y":2030,"h":"Jane Doe"}`)
	now := time.Now().UTC()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error {
			rec := vault.CardRecord{
				Token: newToken(), MerchantID: merchant, CustomerID: fmt.Sprintf("cus_%d", i),
				Fingerprint: "fp_seed", Masked: masked, KeyVersion: mk.Version(),
				CreatedAt: now, UpdatedAt: now,
			}
			var err error
			rec.Sealed, err = mk.Seal(envelope.RecordRef{Type: envelope.RecordCard, MerchantID: merchant, ID: rec.Token, Clear: vault.CardClearFields(rec)}, plaintext)
			if err != nil {
				return err
			}
			return st.CreateCard(gctx, rec)
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
}

// processCPU is the CPU time (user and system) this process has used:
// the vault's side of the rotation, without dynalite's.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func newToken() string {
	var r [16]byte
	_, _ = rand.Read(r[:])
	return "tok_" + base64.RawURLEncoding.EncodeToString(r[:])
}
