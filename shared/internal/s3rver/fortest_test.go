package s3rver

import (
	"net/http"
	"strings"
	"testing"
)

func TestForTestServesOnLoopback(t *testing.T) {
	s := ForTest(t, "fortest-bucket")
	if !strings.HasPrefix(s.Endpoint, "http://127.0.0.1:") {
		t.Fatalf("endpoint %s", s.Endpoint)
	}
	resp, err := http.Get(s.Endpoint + "/fortest-bucket")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// Unsigned: s3rver answers (403, or 200 for a bucket listing), which is
	// all that is asked here; the adapter's tests sign their calls.
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusForbidden {
		t.Fatalf("GET bucket: %d", resp.StatusCode)
	}
}
