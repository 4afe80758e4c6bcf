package inproc

import (
	"encoding/json"
	"runtime"
	"testing"
)

func tokenOf(tb testing.TB, body string) string {
	tb.Helper()
	var v struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Token == "" {
		tb.Fatalf("no token in answer")
	}
	return v.Token
}

// allocCounter measures the heap allocations of chosen sections of a
// benchmark loop, so that work done between them (making the next
// request, the floor side) is not counted against the vault.
type allocCounter struct {
	ms             runtime.MemStats
	mallocs, bytes uint64
}

func (a *allocCounter) start() {
	runtime.ReadMemStats(&a.ms)
	a.mallocs -= a.ms.Mallocs
	a.bytes -= a.ms.TotalAlloc
}

func (a *allocCounter) stop() {
	runtime.ReadMemStats(&a.ms)
	a.mallocs += a.ms.Mallocs
	a.bytes += a.ms.TotalAlloc
}

func (a *allocCounter) report(b *testing.B, n int) {
	b.ReportMetric(float64(a.mallocs)/float64(n), "allocs/op")
	b.ReportMetric(float64(a.bytes)/float64(n), "B/op")
}
