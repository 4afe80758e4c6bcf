package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// TestSigV4TravelsInTheAuthorizationHeader: behind API Gateway's IAM
// authorizer the signature goes in the Authorization header, as every AWS
// SDK signs, and the JWS moves to Vault-Authorization, which the
// signature covers. The server re-signs each request it received with the
// same credentials and time: equal signatures mean API Gateway, which
// does the same, would accept it.
func TestSigV4TravelsInTheAuthorizationHeader(t *testing.T) {
	type seenRequest struct {
		req  *http.Request
		body []byte
	}
	var (
		mu   sync.Mutex
		seen []seenRequest
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, seenRequest{r.Clone(context.Background()), body})
		mu.Unlock()
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	t.Cleanup(srv.Close)
	awsCreds := credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "session-token")
	c := New(srv.URL, newTestCreds(t, KeyAlgECDH), WithHTTPClient(srv.Client()), WithSigV4(awsCreds, "eu-west-1"))

	// A bearer request set by hand (the JWS is moved, not overwritten).
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/cards/tok_abc", nil)
	req.Header.Set("Authorization", "Bearer header.payload.signature")
	resp, err := c.httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// A Bearer call through the client's own API: its JWS goes to
	// Vault-Authorization directly (the fake answer is no card, which does
	// not matter here).
	_, _ = c.GetMasked(context.Background(), "m_1", "tok_abc")
	if err := c.Health(context.Background()); err != nil {
		t.Fatalf("a signed request through the client: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 {
		t.Fatalf("%d requests reached the server, want 3", len(seen))
	}
	for i, s := range seen {
		r := s.req
		if r.URL.RawQuery != "" {
			t.Errorf("%s: query %q: the signature belongs in the header", r.URL.Path, r.URL.RawQuery)
		}
		auth := r.Header.Get("Authorization")
		if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") || !strings.Contains(auth, "/eu-west-1/execute-api/aws4_request") {
			t.Fatalf("%s: Authorization %q is not SigV4 for execute-api", r.URL.Path, auth)
		}
		if r.Header.Get("X-Amz-Security-Token") != "session-token" {
			t.Errorf("%s: no session token header", r.URL.Path)
		}
		if i < 2 {
			jws := r.Header.Get(VaultAuthorizationHeader)
			if !strings.HasPrefix(jws, "Bearer ") || strings.Count(jws, ".") != 2 {
				t.Errorf("%s: Vault-Authorization %q holds no Bearer JWS", r.URL.Path, jws)
			}
			if !strings.Contains(auth, "vault-authorization") {
				t.Errorf("%s: the JWS header is not among the signed headers: %s", r.URL.Path, auth)
			}
		}
		if got := resign(t, r, s.body, awsCreds); got != auth {
			t.Errorf("%s: the signature does not verify:\n got %s\nwant %s", r.URL.Path, auth, got)
		}
	}
	if got := seen[0].req.Header.Get(VaultAuthorizationHeader); got != "Bearer header.payload.signature" {
		t.Errorf("Vault-Authorization %q: the hand-set JWS was lost", got)
	}
}

// resign signs a received request again, as API Gateway checks it: same
// signed headers, same time, same credentials.
func resign(t *testing.T, got *http.Request, body []byte, creds credentials.StaticCredentialsProvider) string {
	t.Helper()
	at, err := time.Parse("20060102T150405Z", got.Header.Get("X-Amz-Date"))
	if err != nil {
		t.Fatalf("X-Amz-Date: %v", err)
	}
	auth := got.Header.Get("Authorization")
	i := strings.Index(auth, "SignedHeaders=")
	signed := strings.Split(strings.SplitN(auth[i+len("SignedHeaders="):], ",", 2)[0], ";")
	req, _ := http.NewRequest(got.Method, "http://"+got.Host+got.URL.RequestURI(), nil)
	for _, h := range signed {
		if h != "host" {
			req.Header.Set(h, got.Header.Get(h))
		}
	}
	req.Header.Del("Authorization")
	sum := sha256.Sum256(body)
	v, _ := creds.Retrieve(context.Background())
	if err := v4.NewSigner().SignHTTP(context.Background(), v, req, hex.EncodeToString(sum[:]), "execute-api", "eu-west-1", at); err != nil {
		t.Fatal(err)
	}
	return req.Header.Get("Authorization")
}
