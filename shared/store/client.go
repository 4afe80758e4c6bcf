package store

import (
	"context"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// localIdleConns is how many idle connections the local client keeps to
// dynalite. The SDK's default (10 per host) is below the parallelism of
// re-encryption (16 workers plus batched reads), and every connection
// beyond it would be opened and closed per request.
const localIdleConns = 64

// localCallTimeout bounds one call to dynalite, which answers in
// milliseconds; the bound only matters if it hangs.
const localCallTimeout = 30 * time.Second

// NewLocalClient is a DynamoDB client for a local endpoint (dynalite).
// dynalite checks that requests are signed but not by whom, so fixed dummy
// credentials do; they keep the SDK from searching the environment for real
// ones, which a developer machine may well have.
func NewLocalClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		HTTPClient: completeCalls{awshttp.NewBuildableClient().WithTimeout(localCallTimeout).WithTransportOptions(func(tr *http.Transport) {
			tr.MaxIdleConns = localIdleConns
			tr.MaxIdleConnsPerHost = localIdleConns
		})},
	})
}

// completeCalls sends every call to dynalite to completion, even when the
// caller's context ends first (a client that hung up, a sibling query of a
// fan-out that failed). dynalite does not handle a connection closed
// before it answered: node raises "Error: aborted" and the process exits,
// taking every later request of the local vault with it.
type completeCalls struct{ next dynamodb.HTTPClient }

func (c completeCalls) Do(r *http.Request) (*http.Response, error) {
	return c.next.Do(r.WithContext(context.WithoutCancel(r.Context())))
}
