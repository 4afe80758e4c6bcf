package store

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/cardvault/vault/shared/vault"
)

// rotationWorkers is how many goroutines re-encryption runs ResealRecord
// from; the benchmarks use the same.
const rotationWorkers = 16

// seedCardsFast stores n cards of merchant on key version 1, in parallel
// (seeding is not what is measured).
func seedCardsFast(b *testing.B, s *Store, merchant string, n int) {
	b.Helper()
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(rotationWorkers)
	for i := range n {
		g.Go(func() error {
			rec := sampleCard(fmt.Sprintf("tok_bench_%d", i))
			rec.MerchantID = merchant
			rec.KeyVersion = 1
			rec.Sealed = fmt.Appendf(nil, "sealed %d", i)
			return s.CreateCard(ctx, rec)
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
}

func listEverything(b *testing.B, s *Store, merchant string, below uint32, limit int) []vault.SealedRecord {
	b.Helper()
	var all []vault.SealedRecord
	cursor := ""
	for {
		recs, next, err := s.RecordsBelow(context.Background(), merchant, below, cursor, limit)
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, recs...)
		if next == "" {
			return all
		}
		cursor = next
	}
}

// BenchmarkResealRecord is re-encryption's write side: ResealRecord from
// rotationWorkers goroutines over a pool of listed records, each record
// resealed in turn (a per-record lock keeps one writer per record, so
// every call is a winning conditional write).
func BenchmarkResealRecord(b *testing.B) {
	const pool = 4096
	s := newTestStore(b)
	seedCardsFast(b, s, "m_bench", pool)
	recs := listEverything(b, s, "m_bench", 2, 500)
	if len(recs) != pool {
		b.Fatalf("listed %d records, want %d", len(recs), pool)
	}
	locks := make([]sync.Mutex, pool)
	var next atomic.Int64
	var gen atomic.Uint32
	ctx := context.Background()
	b.SetParallelism(max(1, rotationWorkers/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1)-1) % pool
			locks[i].Lock()
			version := gen.Add(1) + 1
			sealed := fmt.Appendf(nil, "resealed %d v%d", i, version)
			err := s.ResealRecord(ctx, recs[i], sealed, version)
			if err == nil {
				recs[i].Sealed, recs[i].KeyVersion = sealed, version
			}
			locks[i].Unlock()
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkRecordsBelow is re-encryption's read side: listing every record
// of a merchant below a version, in pages of 500 (index query, then
// batched item reads). One op lists all of them.
func BenchmarkRecordsBelow(b *testing.B) {
	const records, page = 5000, 500
	s := newTestStore(b)
	seedCardsFast(b, s, "m_bench", records)
	b.ReportAllocs()
	listed := 0
	for b.Loop() {
		listed += len(listEverything(b, s, "m_bench", 2, page))
	}
	if listed != records*b.N {
		b.Fatalf("listed %d records over %d ops, want %d each", listed, b.N, records)
	}
	b.ReportMetric(float64(listed)/b.Elapsed().Seconds(), "records/s")
}
