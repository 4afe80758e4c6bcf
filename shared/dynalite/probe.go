package dynalite

import (
	"context"
	"net"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// probe reports whether dynalite at addr is up: a TCP connect first (cheap,
// and quiet while node is still loading), then a real ListTables, which
// proves the DynamoDB protocol layer answers and not just a socket.
func probe(ctx context.Context, addr, endpoint string) error {
	d := net.Dialer{Timeout: 500 * time.Millisecond}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	_ = conn.Close()

	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = probeClient(endpoint).ListTables(ctx, &dynamodb.ListTablesInput{Limit: aws.Int32(1)})
	return err
}

// probeClient is a DynamoDB client for dynalite: any credentials are
// accepted there, and a failed probe is simply retried on the next tick, so
// the SDK's own retries are turned off.
func probeClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(endpoint),
		RetryMaxAttempts: 1,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "local", SecretAccessKey: "local", Source: "dynalite"}, nil
		}),
	})
}
