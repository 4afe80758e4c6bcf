package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// VaultAuthorizationHeader carries a Bearer route's JWS when SigV4 takes
// the Authorization header (the contract's v1.1 credential header).
const VaultAuthorizationHeader = "Vault-Authorization"

// WithSigV4 signs every request for API Gateway's IAM authorization
// (execute-api) with the given AWS credentials, as the vault's SAM
// template requires by default.
//
// The signature goes in the Authorization header, as every AWS SDK signs,
// and the request's JWS moves to Vault-Authorization: Bearer, which the
// vault reads first. Vault-Authorization is one of the signed headers, so
// the SigV4 signature also covers the JWS it travels with. (The
// query-string form is not offered: it puts the signature in the URL,
// where proxies and access logs keep it, and gains nothing once the JWS
// has a header of its own.)
func WithSigV4(credentials aws.CredentialsProvider, region string) Option {
	return func(c *Client) {
		base := c.httpClient.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		signed := *c.httpClient
		signed.Transport = &sigV4Transport{base: base, credentials: credentials, region: region, signer: v4.NewSigner(), now: func() time.Time { return c.now() }}
		c.httpClient = &signed
		c.credentialHeader = VaultAuthorizationHeader
	}
}

type sigV4Transport struct {
	base        http.RoundTripper
	credentials aws.CredentialsProvider
	region      string
	signer      *v4.Signer
	// now is the client's clock, read at each request so that WithClock
	// applies whatever the order of the options.
	now func() time.Time
}

func (t *sigV4Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	creds, err := t.credentials.Retrieve(req.Context())
	if err != nil {
		return nil, fmt.Errorf("vault client: AWS credentials: %w", err)
	}
	var body []byte
	if req.Body != nil {
		body, err = io.ReadAll(req.Body)
		_ = req.Body.Close() // the body is read; a close error changes nothing
		if err != nil {
			return nil, err
		}
	}
	sum := sha256.Sum256(body)
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	// A Bearer credential set on the request itself (not through the
	// client's calls) must not be overwritten by the signature.
	if bearer, ok := bearerValue(out.Header.Get("Authorization")); ok && out.Header.Get(VaultAuthorizationHeader) == "" {
		out.Header.Set(VaultAuthorizationHeader, "Bearer "+bearer)
	}
	out.Header.Del("Authorization")
	if err := t.signer.SignHTTP(context.WithoutCancel(req.Context()), creds, out, hex.EncodeToString(sum[:]),
		"execute-api", t.region, t.now().UTC()); err != nil {
		return nil, fmt.Errorf("vault client: sign request: %w", err)
	}
	return t.base.RoundTrip(out)
}

// bearerValue returns the credential of an "Authorization: Bearer" value.
func bearerValue(h string) (string, bool) {
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return h[len(prefix):], true
}
