package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// benchReport is what a bench run measured. Latencies are kept whole (the
// request budget bounds them) so the percentiles are exact.
type benchReport struct {
	URL       string        `json:"url"`
	Workers   int           `json:"workers"`
	Merchants int           `json:"merchants"`
	Elapsed   time.Duration `json:"-"`
	StoppedBy string        `json:"stopped_by"`

	ElapsedSeconds float64        `json:"elapsed_seconds"`
	Requests       int            `json:"requests"`
	Throughput     float64        `json:"requests_per_second"`
	Operations     []opStats      `json:"operations"`
	Errors         map[string]int `json:"errors"`
	Client         processSamples `json:"client"`
	Server         *serverSamples `json:"server,omitempty"`
	latencies      map[string][]time.Duration
	errorsByOp     map[string]map[string]int
	mu             sync.Mutex
}

// opStats are one operation's figures, latencies in milliseconds.
type opStats struct {
	Op     string         `json:"op"`
	Count  int            `json:"count"`
	Rate   float64        `json:"per_second"`
	P50    float64        `json:"p50_ms"`
	P90    float64        `json:"p90_ms"`
	P99    float64        `json:"p99_ms"`
	Max    float64        `json:"max_ms"`
	Errors map[string]int `json:"errors,omitempty"`
}

// processSamples are a process's goroutines (the bench itself only),
// threads and resident memory before and after the run.
type processSamples struct {
	Before procSample `json:"before"`
	After  procSample `json:"after"`
}

// serverSamples follow the server's process through the run: a leak
// shows as a series that keeps climbing, where warm-up (heap, caches,
// connections) levels off early.
type serverSamples struct {
	PID    int          `json:"pid"`
	Before procSample   `json:"before"`
	Peak   procSample   `json:"peak"`
	After  procSample   `json:"after"`
	Series []procSample `json:"series"`
	mu     sync.Mutex
}

type procSample struct {
	Goroutines int   `json:"goroutines,omitempty"`
	Threads    int   `json:"threads"`
	RSSKiB     int64 `json:"rss_kib"`
}

func (s procSample) max(o procSample) procSample {
	return procSample{Goroutines: max(s.Goroutines, o.Goroutines), Threads: max(s.Threads, o.Threads), RSSKiB: max(s.RSSKiB, o.RSSKiB)}
}

func newBenchReport(cfg benchConfig) *benchReport {
	return &benchReport{
		Workers: cfg.Workers, Merchants: cfg.Merchants,
		latencies: map[string][]time.Duration{}, errorsByOp: map[string]map[string]int{},
	}
}

// timed runs one request and records its latency or its error.
func (r *benchReport) timed(op string, do func() error) bool {
	start := time.Now()
	err := do()
	if err != nil {
		r.record(op, 0, errorLabel(err))
		return false
	}
	r.record(op, time.Since(start), "")
	return true
}

func (r *benchReport) record(op string, d time.Duration, errLabel string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if errLabel != "" {
		if r.errorsByOp[op] == nil {
			r.errorsByOp[op] = map[string]int{}
		}
		r.errorsByOp[op][errLabel]++
		return
	}
	r.latencies[op] = append(r.latencies[op], d)
}

// finish computes the figures from the samples.
func (r *benchReport) finish() {
	r.ElapsedSeconds = r.Elapsed.Seconds()
	r.Errors = map[string]int{}
	for _, op := range benchOps {
		lat := r.latencies[op]
		slices.Sort(lat)
		st := opStats{Op: op, Count: len(lat), Errors: r.errorsByOp[op]}
		for code, n := range st.Errors {
			r.Errors[code] += n
			r.Requests += n
		}
		r.Requests += len(lat)
		if len(lat) > 0 {
			st.Rate = float64(len(lat)) / r.Elapsed.Seconds()
			st.P50, st.P90, st.P99 = ms(percentile(lat, 50)), ms(percentile(lat, 90)), ms(percentile(lat, 99))
			st.Max = ms(lat[len(lat)-1])
		}
		r.Operations = append(r.Operations, st)
	}
	if r.Elapsed > 0 {
		r.Throughput = float64(r.Requests) / r.Elapsed.Seconds()
	}
}

// percentile is the nearest-rank percentile of sorted latencies.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100
	return sorted[max(rank, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (r *benchReport) writeText(w io.Writer) {
	fmt.Fprintf(w, "vaultctl bench: %s, %d workers, %d merchants, stopped by %s after %.1fs\n",
		r.URL, r.Workers, r.Merchants, r.StoppedBy, r.ElapsedSeconds)
	fmt.Fprintf(w, "requests: %d, %.1f/s; errors: %d\n\n", r.Requests, r.Throughput, sumCounts(r.Errors))
	fmt.Fprintf(w, "%-12s %8s %9s %9s %9s %9s %9s\n", "operation", "ok", "per s", "p50 ms", "p90 ms", "p99 ms", "max ms")
	for _, st := range r.Operations {
		fmt.Fprintf(w, "%-12s %8d %9.1f %9.2f %9.2f %9.2f %9.2f\n", st.Op, st.Count, st.Rate, st.P50, st.P90, st.P99, st.Max)
	}
	fmt.Fprintln(w)
	if len(r.Errors) == 0 {
		fmt.Fprintln(w, "errors by code: none")
	} else {
		fmt.Fprintln(w, "errors by code:")
		for _, st := range r.Operations {
			for _, code := range sortedKeys(st.Errors) {
				fmt.Fprintf(w, "  %-12s %-24s %d\n", st.Op, code, st.Errors[code])
			}
		}
	}
	c := r.Client
	fmt.Fprintf(w, "bench client: goroutines %d -> %d, threads %d -> %d, RSS %s -> %s\n",
		c.Before.Goroutines, c.After.Goroutines, c.Before.Threads, c.After.Threads, mib(c.Before.RSSKiB), mib(c.After.RSSKiB))
	if s := r.Server; s != nil {
		fmt.Fprintf(w, "server pid %d: threads %d -> %d (peak %d), RSS %s -> %s (peak %s)\n",
			s.PID, s.Before.Threads, s.After.Threads, s.Peak.Threads, mib(s.Before.RSSKiB), mib(s.After.RSSKiB), mib(s.Peak.RSSKiB))
		rss, threads := make([]string, len(s.Series)), make([]string, len(s.Series))
		for i, x := range s.Series {
			rss[i], threads[i] = fmt.Sprintf("%.1f", float64(x.RSSKiB)/1024), strconv.Itoa(x.Threads)
		}
		fmt.Fprintf(w, "  during the run, RSS MiB: %s\n", strings.Join(rss, " "))
		fmt.Fprintf(w, "  during the run, threads: %s\n", strings.Join(threads, " "))
	}
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// watch samples the server every interval until stop, keeping the peak.
func (s *serverSamples) watch(stop <-chan struct{}, interval time.Duration) {
	t := time.NewTicker(max(interval, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if sample, err := sampleProcess(s.PID); err == nil {
			s.mu.Lock()
			s.Peak = s.Peak.max(sample)
			s.Series = append(s.Series, sample)
			s.mu.Unlock()
		}
	}
}

// sampleSelf samples the bench's own process.
func sampleSelf() procSample {
	s, _ := sampleProcess(os.Getpid())
	s.Goroutines = runtime.NumGoroutine()
	return s
}

// sampleProcess reads a process's resident memory and thread count from
// /proc/<pid>/status (Linux). Only the process's own size is read, nothing
// of its memory.
func sampleProcess(pid int) (procSample, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return procSample{}, fmt.Errorf("reading process %d: %w", pid, err)
	}
	defer f.Close()
	var s procSample
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		switch name {
		case "VmRSS":
			s.RSSKiB, _ = strconv.ParseInt(fields[0], 10, 64)
		case "Threads":
			s.Threads, _ = strconv.Atoi(fields[0])
		}
	}
	return s, sc.Err()
}
