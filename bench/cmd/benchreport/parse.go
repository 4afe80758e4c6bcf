package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// rawRun is one raw output file of `make bench`: the command that made it
// (its "command:" line) and its benchmark lines.
type rawRun struct {
	File    string
	Command string
	Results []result
}

// result is one benchmark line: a name and its metrics by unit.
type result struct {
	Name    string
	Metrics map[string]float64
}

// procSuffix is the -GOMAXPROCS suffix the testing package appends.
var procSuffix = regexp.MustCompile(`-\d+$`)

// readRuns parses every *.txt file in dir, in name order.
func readRuns(dir string) ([]rawRun, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var runs []rawRun
	for _, p := range paths {
		r, err := readRun(p)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	return runs, nil
}

func readRun(path string) (rawRun, error) {
	f, err := os.Open(path)
	if err != nil {
		return rawRun{}, err
	}
	defer f.Close()
	r := rawRun{File: filepath.Base(path)}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "command: "):
			r.Command = strings.TrimPrefix(line, "command: ")
		case strings.HasPrefix(line, "Benchmark"):
			if res, ok := parseResult(line); ok {
				r.Results = append(r.Results, res)
			}
		}
	}
	return r, sc.Err()
}

// parseResult reads "BenchmarkName-2  N  v unit  v unit ...".
func parseResult(line string) (result, bool) {
	fields := strings.Fields(line)
	if len(fields) < 4 || len(fields)%2 != 0 {
		return result{}, false
	}
	if _, err := strconv.Atoi(fields[1]); err != nil { // the iteration count
		return result{}, false
	}
	res := result{Name: procSuffix.ReplaceAllString(strings.TrimPrefix(fields[0], "Benchmark"), ""), Metrics: map[string]float64{}}
	for i := 2; i+1 < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return result{}, false
		}
		res.Metrics[fields[i+1]] = v
	}
	return res, true
}

// figures indexes every result by name; a later file's result of the
// same name replaces an earlier one.
type figures struct {
	byName  map[string]result
	command map[string]string // result name -> command that made it
	runs    []rawRun
}

func index(runs []rawRun) figures {
	f := figures{byName: map[string]result{}, command: map[string]string{}, runs: runs}
	for _, r := range runs {
		for _, res := range r.Results {
			f.byName[res.Name] = res
			f.command[res.Name] = r.Command
		}
	}
	return f
}

// get returns a metric of a named result.
func (f figures) get(name, unit string) (float64, bool) {
	r, ok := f.byName[name]
	if !ok {
		return 0, false
	}
	v, ok := r.Metrics[unit]
	return v, ok
}

// withPrefix lists the results whose names start with prefix, in the
// order they were run.
func (f figures) withPrefix(prefix string) []result {
	var out []result
	for _, r := range f.runs {
		for _, res := range r.Results {
			if strings.HasPrefix(res.Name, prefix) {
				out = append(out, res)
			}
		}
	}
	return out
}

// commandOf is the command that produced the first result with prefix.
func (f figures) commandOf(prefix string) string {
	for _, r := range f.withPrefix(prefix) {
		if c := f.command[r.Name]; c != "" {
			return c
		}
	}
	return "(not recorded)"
}
