package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/cardvault/vault/shared/client"
)

const progressWidth = 30

// renderProgress draws a rotation's re-encryption progress as one line:
// reencrypted / (reencrypted + remaining).
func renderProgress(r client.Rotation) string {
	total := r.Reencrypted + r.Remaining
	var fraction float64
	if total > 0 {
		fraction = float64(r.Reencrypted) / float64(total)
	}
	filled := int(fraction * progressWidth)
	bar := strings.Repeat("#", filled) + strings.Repeat("-", progressWidth-filled)
	return fmt.Sprintf("rotation %s [%s] %5.1f%% %d/%d records", r.State, bar, fraction*100, r.Reencrypted, total)
}

// renderJobProgress draws a job's progress as one line: rows done, rows
// per second since the watch began (from the rows done then, baseRows,
// so that watching a job already under way, or one resumed after a
// stop, shows its speed now and not its average since the watch began)
// and, when the file's row count is known (total > 0; the vault learns
// it only as it reads the file), the bar against it and the time left.
func renderJobProgress(j *client.Job, baseRows int64, elapsed time.Duration, total int64) string {
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 && j.Rows > baseRows {
		rate = float64(j.Rows-baseRows) / s
	}
	var fraction float64
	if total > 0 {
		fraction = min(float64(j.Rows)/float64(total), 1)
	}
	if j.State == client.JobSucceeded {
		fraction = 1
	}
	filled := int(fraction * progressWidth)
	bar := strings.Repeat("#", filled) + strings.Repeat("-", progressWidth-filled)
	return fmt.Sprintf("%s %-15s [%s] %d rows (%d vaulted, %d duplicates, %d rejected) %.0f rows/s ETA %s", j.Kind, j.State, bar,
		j.Rows, j.Vaulted, j.Duplicates, j.Rejected, rate, eta(j.Rows, total, rate))
}

// eta estimates the time left at rate for total rows, of which done are done.
func eta(done, total int64, rate float64) string {
	if rate <= 0 || total <= done {
		return "--"
	}
	return (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second).String()
}
