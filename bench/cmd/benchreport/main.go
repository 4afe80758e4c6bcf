// Command benchreport turns the raw benchmark output `make bench` saves
// under bench/out/ into docs/BENCHMARKS.md (tables: each figure with the
// command that made it, the machine, the Go version and the date) and
// docs/bench-summary.svg (the main comparisons as a chart). It has no
// dependencies beyond the standard library.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// machine describes where the figures were measured.
type machine struct {
	CPUs    int
	Model   string
	Go      string
	OS      string
	Date    string
	Command string
}

func main() {
	outDir := flag.String("out", "out", "directory of raw benchmark output (*.txt)")
	docs := flag.String("docs", "../docs", "directory to write BENCHMARKS.md and bench-summary.svg into")
	flag.Parse()
	if err := run(*outDir, *docs); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(outDir, docs string) error {
	runs, err := readRuns(outDir)
	if err != nil {
		return err
	}
	if len(runs) == 0 {
		return fmt.Errorf("no *.txt benchmark output in %s; run `make bench`", outDir)
	}
	figs := index(runs)
	m := machine{
		CPUs:    runtime.NumCPU(),
		Model:   cpuModel(),
		Go:      runtime.Version(),
		OS:      runtime.GOOS + "/" + runtime.GOARCH,
		Date:    newestModTime(outDir).UTC().Format("2006-01-02 15:04 MST"),
		Command: "make bench",
	}
	if os.Getenv("BENCH_FULL") == "1" || len(figs.withPrefix("Rotation/records=100000")) > 0 {
		m.Command = "BENCH_FULL=1 make bench"
	}
	profile, _ := os.ReadFile(filepath.Join(outDir, "requestpath-vault.top"))
	md := renderMarkdown(m, figs, string(profile))
	if err := os.WriteFile(filepath.Join(docs, "BENCHMARKS.md"), []byte(md), 0o644); err != nil {
		return err
	}
	svg := renderSVG(m, figs)
	return os.WriteFile(filepath.Join(docs, "bench-summary.svg"), []byte(svg), 0o644)
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func newestModTime(dir string) time.Time {
	var newest time.Time
	paths, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && st.ModTime().After(newest) {
			newest = st.ModTime()
		}
	}
	if newest.IsZero() {
		newest = time.Now()
	}
	return newest
}
