package main

import (
	"context"
	"encoding/json"
	"github.com/cardvault/vault/shared/card"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	vaultapp "github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/httpapi"
	"github.com/cardvault/vault/shared/localmode"
)

// TestBenchAgainstALocalVaultReportsNoErrors runs the bench for two
// seconds against a complete local vault (dynalite, local keyring, audit
// file) served in this process, and reads its JSON report.
func TestBenchAgainstALocalVaultReportsNoErrors(t *testing.T) {
	dir := t.TempDir()
	env, err := localmode.Start(context.Background(), localmode.Settings{Dir: dir}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("this test needs the local vault (and dynalite): %v", err)
	}
	t.Cleanup(env.Close)
	api, err := env.API(vaultapp.Functions...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.HTTPHandler(api))
	t.Cleanup(srv.Close)

	code, stdout, stderr := runCLI(t, "", map[string]string{"VAULT_LOCAL_DIR": dir},
		"--url", srv.URL, "bench", "--duration", "2s", "--concurrency", "4", "--merchants", "2",
		"--pid", strconv.Itoa(os.Getpid()), "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct {
		StoppedBy  string         `json:"stopped_by"`
		Requests   int            `json:"requests"`
		Errors     map[string]int `json:"errors"`
		Operations []struct {
			Op    string  `json:"op"`
			Count int     `json:"count"`
			P50   float64 `json:"p50_ms"`
			P99   float64 `json:"p99_ms"`
			Max   float64 `json:"max_ms"`
		} `json:"operations"`
		Server *struct {
			Before struct{ Threads, RSSKiB int } `json:"before"`
		} `json:"server"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	if len(rep.Errors) != 0 {
		t.Fatalf("the bench saw errors: %v", rep.Errors)
	}
	if rep.StoppedBy != "duration" || rep.Requests == 0 || len(rep.Operations) != 3 {
		t.Fatalf("report: %s", stdout)
	}
	for _, op := range rep.Operations {
		if op.Count == 0 || op.P50 <= 0 || op.P50 > op.P99 || op.P99 > op.Max {
			t.Errorf("%s: %+v", op.Op, op)
		}
	}
	if rep.Server == nil || rep.Server.Before.Threads == 0 {
		t.Errorf("no server samples in %s", stdout)
	}
}

func TestBenchRefusesAVaultOffLoopback(t *testing.T) {
	code, _, stderr := runCLI(t, "", nil, "--url", "https://vault.example.com", "bench", "--duration", "1s")
	if code != exitUsage || !strings.Contains(stderr, "loopback") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func TestCheckLoopback(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:3000", "http://localhost:3000", "http://[::1]:3000", "http://127.0.0.2"} {
		if err := checkLoopback(u, false); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
	for _, u := range []string{"http://10.0.0.1:3000", "https://vault.example.com", "http://0.0.0.0:3000", "not a url"} {
		if err := checkLoopback(u, false); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
	if err := checkLoopback("https://vault.example.com", true); err != nil {
		t.Errorf("--allow-remote: %v", err)
	}
}

func TestBenchCardsAreLuhnValidAndFresh(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		pan, err := testPAN()
		if err != nil {
			t.Fatal(err)
		}
		if len(pan) != 16 || !strings.HasPrefix(pan, "400000") || !card.Luhn(pan) {
			t.Fatalf("not a Luhn-valid test number: %s…", pan[:6])
		}
		seen[pan] = true
	}
	if len(seen) < 95 {
		t.Fatalf("only %d distinct numbers in 100", len(seen))
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	lat := make([]int, 100)
	for i := range lat {
		lat[i] = i + 1
	}
	d := toDurations(lat)
	if percentile(d, 50) != d[49] || percentile(d, 99) != d[98] || percentile(d[:1], 90) != d[0] {
		t.Fatal("percentile")
	}
}

func toDurations(ms []int) []time.Duration {
	d := make([]time.Duration, len(ms))
	for i, v := range ms {
		d[i] = time.Duration(v) * time.Millisecond
	}
	return d
}
