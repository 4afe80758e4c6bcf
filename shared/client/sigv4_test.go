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
		seen *http.Request
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Clone(context.Background())
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	t.Cleanup(srv.Close)
	creds := newTestCreds(t, KeyAlgECDH)
	c := New(srv.URL, creds, WithHTTPClient(srv.Client()),
		WithSigV4(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""), "eu-west-1"))
	// Any request will do: the transport signs them all alike.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/cards/tok_abc", nil)
	req.Header.Set("Authorization", "Bearer header.payload.signature")
	resp, err := c.httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	q := seen.URL.Query()
	if q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" || q.Get("X-Amz-Signature") == "" ||
		!strings.Contains(q.Get("X-Amz-Credential"), "/eu-west-1/execute-api/aws4_request") {
		t.Fatalf("query %v is not SigV4-presigned for execute-api", q)
	}
	if seen.Header.Get("Authorization") != "Bearer header.payload.signature" {
		t.Fatalf("Authorization %q: the JWS was displaced", seen.Header.Get("Authorization"))
	}
	if strings.Contains(strings.ToLower(q.Get("X-Amz-SignedHeaders")), "authorization") {
		t.Fatal("the JWS header is part of the signature")
	}
	if err := c.Health(context.Background()); err != nil {
		t.Fatalf("a signed request through the client: %v", err)
	}
}
