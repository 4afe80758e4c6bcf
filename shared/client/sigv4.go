package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// WithSigV4 signs every request for API Gateway's IAM authorization
// (execute-api) with the given AWS credentials, as the vault's SAM
// template requires by default.
//
// The signature travels in the query string, not in the Authorization
// header, because the contract gives that header to the request's JWS
// (Authorization: Bearer). API Gateway accepts either form, and the SDK's
// signer never signs the Authorization header, so the two do not collide.
func WithSigV4(credentials aws.CredentialsProvider, region string) Option {
	return func(c *Client) {
		base := c.httpClient.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		signed := *c.httpClient
		signed.Transport = &sigV4Transport{base: base, credentials: credentials, region: region, signer: v4.NewSigner(), now: func() time.Time { return c.now() }}
		c.httpClient = &signed
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
	signedURL, _, err := t.signer.PresignHTTP(context.WithoutCancel(req.Context()), creds, out, hex.EncodeToString(sum[:]),
		"execute-api", t.region, t.now().UTC())
	if err != nil {
		return nil, fmt.Errorf("vault client: sign request: %w", err)
	}
	if out.URL, err = url.Parse(signedURL); err != nil {
		return nil, err
	}
	return t.base.RoundTrip(out)
}
