package dynamo

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// runLoad runs n calls of op from conc goroutines and reports what the
// end-to-end figures need: throughput (req/s), p50-ms and p99-ms of the
// calls' latencies, and ns/op as wall time per call.
func runLoad(b *testing.B, conc, n int, op func(i int) error) {
	b.Helper()
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || failed.Load() != nil {
					return
				}
				t := time.Now()
				if err := op(i); err != nil {
					failed.Store(&err)
					return
				}
				lat[i] = time.Since(t)
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	if errp := failed.Load(); errp != nil {
		b.Fatal(*errp)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(n)/wall.Seconds(), "req/s")
	b.ReportMetric(ms(lat[n/2]), "p50-ms")
	b.ReportMetric(ms(lat[min(n-1, n*99/100)]), "p99-ms")
	b.ReportMetric(float64(wall.Nanoseconds())/float64(n), "ns/op")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
