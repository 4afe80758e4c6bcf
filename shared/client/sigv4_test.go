package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
)

// TestSigV4TravelsInTheQueryString: behind API Gateway's IAM authorizer
// the signature goes in the query string, leaving the Authorization
// header to the request's JWS.
func TestSigV4TravelsInTheQueryString(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []*http.Request
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Clone(context.Background()))
		mu.Unlock()
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	t.Cleanup(srv.Close)
	c := New(srv.URL, newTestCreds(t, KeyAlgECDH), WithHTTPClient(srv.Client()),
		WithSigV4(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""), "eu-west-1"))

	// A bearer request, as every authenticated route sends.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/cards/tok_abc", nil)
	req.Header.Set("Authorization", "Bearer header.payload.signature")
	resp, err := c.httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// And one through the client's own API.
	if err := c.Health(context.Background()); err != nil {
		t.Fatalf("a signed request through the client: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 {
		t.Fatalf("%d requests reached the server, want 2", len(seen))
	}
	for _, r := range seen {
		q := r.URL.Query()
		if q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" || q.Get("X-Amz-Signature") == "" ||
			!strings.Contains(q.Get("X-Amz-Credential"), "/eu-west-1/execute-api/aws4_request") {
			t.Fatalf("%s: query %v is not SigV4-presigned for execute-api", r.URL.Path, q)
		}
		if strings.Contains(strings.ToLower(q.Get("X-Amz-SignedHeaders")), "authorization") {
			t.Fatal("the JWS header is part of the signature")
		}
	}
	if got := seen[0].Header.Get("Authorization"); got != "Bearer header.payload.signature" {
		t.Fatalf("Authorization %q: the JWS was displaced", got)
	}
}
