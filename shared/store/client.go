package store

import (
	"net/http"

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

// NewLocalClient is a DynamoDB client for a local endpoint (dynalite).
// dynalite checks that requests are signed but not by whom, so fixed dummy
// credentials do; they keep the SDK from searching the environment for real
// ones, which a developer machine may well have.
func NewLocalClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		HTTPClient: awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.MaxIdleConns = localIdleConns
			tr.MaxIdleConnsPerHost = localIdleConns
		}),
	})
}
