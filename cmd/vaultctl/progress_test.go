package main

import (
	"strings"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/client"
)

// A watch that begins on a job already under way (or resumed after a
// stop) reports the speed it sees, not the job's rows over the watch's
// seconds.
func TestJobProgressRateCountsOnlyRowsSeenDuringTheWatch(t *testing.T) {
	job := &client.Job{Kind: "import", State: client.JobRunning, Rows: 600_000, Vaulted: 600_000}
	line := renderJobProgress(job, 500_000, 100*time.Second, 1_000_000)
	if !strings.Contains(line, " 1000 rows/s ") || !strings.Contains(line, "ETA 6m40s") {
		t.Fatalf("progress line: %s", line)
	}
	// No row since the watch began: no rate, no estimate.
	line = renderJobProgress(job, 600_000, 10*time.Second, 1_000_000)
	if !strings.Contains(line, " 0 rows/s ETA --") {
		t.Fatalf("stalled job: %s", line)
	}
}
