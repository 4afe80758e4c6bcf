package main

import (
	"fmt"
	"strings"

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
