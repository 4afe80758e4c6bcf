package awsfake

import (
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// ClientMaxAttempts is how many attempts the test clients make for one
// call, as the SDK's standard retryer does by default.
const ClientMaxAttempts = retry.DefaultMaxAttempts

// NewKMSClient returns a real SDK KMS client for the fake at url.
func NewKMSClient(t testing.TB, url string) *kms.Client {
	t.Helper()
	c := newClientSettings(t, url)
	return kms.New(kms.Options{
		Region: c.region, Credentials: c.credentials, BaseEndpoint: c.endpoint,
		Retryer: c.retryer, HTTPClient: c.httpClient,
	})
}

// NewSecretsManagerClient returns a real SDK Secrets Manager client for the
// fake at url.
func NewSecretsManagerClient(t testing.TB, url string) *secretsmanager.Client {
	t.Helper()
	c := newClientSettings(t, url)
	return secretsmanager.New(secretsmanager.Options{
		Region: c.region, Credentials: c.credentials, BaseEndpoint: c.endpoint,
		Retryer: c.retryer, HTTPClient: c.httpClient,
	})
}

// NewEventBridgeClient returns a real SDK EventBridge client for the fake at
// url.
func NewEventBridgeClient(t testing.TB, url string) *eventbridge.Client {
	t.Helper()
	c := newClientSettings(t, url)
	return eventbridge.New(eventbridge.Options{
		Region: c.region, Credentials: c.credentials, BaseEndpoint: c.endpoint,
		Retryer: c.retryer, HTTPClient: c.httpClient,
	})
}

// clientSettings is what every test client shares: the fake's region and
// endpoint, static credentials (requests are still SigV4-signed), the
// standard retryer with the standard attempt count but a 1 ms backoff and
// no retry quota, so retry tests are quick and independent of each other,
// and a connection pool of its own that is closed when the test ends.
type clientSettings struct {
	region      string
	credentials aws.CredentialsProvider
	endpoint    *string
	retryer     aws.Retryer
	httpClient  *http.Client
}

func newClientSettings(t testing.TB, url string) clientSettings {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	return clientSettings{
		region:      Region,
		credentials: credentials.NewStaticCredentialsProvider("AKIDAWSFAKE", "awsfake-secret-access-key", ""),
		endpoint:    aws.String(url),
		retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = ClientMaxAttempts
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
			o.RateLimiter = ratelimit.None
		}),
		httpClient: &http.Client{Transport: transport},
	}
}
