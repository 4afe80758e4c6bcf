package jobfiles_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/jobfiles"
)

func TestLocalURLsServeOnlyWhatTheyWereSignedFor(t *testing.T) {
	now := time.Now()
	f, err := jobfiles.NewLocal(t.TempDir(), make([]byte, 32), "http://vault.test", func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	var uploaded []string
	f.OnUpload = func(key string) { uploaded = append(uploaded, key) }
	ctx := context.Background()
	up, _ := f.UploadLink(ctx, "uploads/"+jobID, 15*time.Minute)
	down, _ := f.DownloadLink(ctx, "results/"+jobID+".csv", 15*time.Minute)
	do := func(method, url string) int {
		req := httptest.NewRequest(method, strings.TrimPrefix(url, "http://vault.test"), strings.NewReader("data"))
		rec := httptest.NewRecorder()
		f.ServeHTTP(rec, req)
		return rec.Code
	}
	cases := []struct {
		name   string
		method string
		url    string
		want   int
	}{
		{"GET with an upload URL", http.MethodGet, up.URL, http.StatusForbidden},
		{"PUT with a download URL", http.MethodPut, down.URL, http.StatusForbidden},
		{"another job", http.MethodPut, strings.Replace(up.URL, jobID, "job_BBBBBBBBBBBBBBBBBBBBBB", 1), http.StatusForbidden},
		{"a path", http.MethodPut, strings.Replace(up.URL, jobID, "..%2F"+jobID, 1), http.StatusForbidden},
		{"no signature", http.MethodPut, up.URL[:strings.Index(up.URL, "?")], http.StatusForbidden},
		{"later expiry", http.MethodPut, strings.Replace(up.URL, "expires=", "expires=9", 1), http.StatusForbidden},
		{"result not there yet", http.MethodGet, down.URL, http.StatusNotFound},
		{"upload", http.MethodPut, up.URL, http.StatusOK},
	}
	for _, c := range cases {
		if got := do(c.method, c.url); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	if len(uploaded) != 1 || uploaded[0] != "uploads/"+jobID {
		t.Fatalf("upload callbacks: %v", uploaded)
	}
	now = now.Add(16 * time.Minute)
	if got := do(http.MethodPut, up.URL); got != http.StatusForbidden {
		t.Fatalf("expired URL: %d", got)
	}
	if _, err := f.UploadLink(ctx, "uploads/../../etc/passwd", time.Minute); err == nil {
		t.Fatal("a link for a path outside the job files")
	}
}
