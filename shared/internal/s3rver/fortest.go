// Package s3rver starts the s3rver stand-in (shared/s3rver) for a test.
package s3rver

import (
	"context"
	"os"
	"testing"

	"github.com/cardvault/vault/shared/s3rver"
)

// Credentials s3rver accepts.
const (
	AccessKey = s3rver.AccessKey
	SecretKey = s3rver.SecretKey
)

// Server is a running s3rver.
type Server = s3rver.Server

// ForTest starts s3rver for a test with the buckets made, and stops it
// when the test ends. It skips the test when s3rver cannot start, except
// under CI=true, where that fails it: CI must exercise the adapter.
func ForTest(t *testing.T, buckets ...string) *Server {
	t.Helper()
	s, err := s3rver.Start(context.Background(), t.TempDir(), buckets...)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("s3rver: %v", err)
		}
		t.Skipf("s3rver unavailable (run make deps): %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}
