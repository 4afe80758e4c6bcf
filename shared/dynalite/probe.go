package dynalite

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// probe reports whether dynalite at addr is up: a TCP connect first (cheap,
// and quiet while node is still loading), then a real DynamoDB call, which
// proves the protocol layer answers and not just a socket.
func probe(ctx context.Context, addr, endpoint string) error {
	d := net.Dialer{Timeout: 500 * time.Millisecond}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	_ = conn.Close()

	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return Answers(ctx, probeClient(endpoint))
}

// probeTable is a table name no one creates: describing it is answered
// ResourceNotFoundException by a dynalite that serves.
const probeTable = "dynalite-probe-no-such-table"

// Answers reports whether the DynamoDB API behind db serves requests. It
// describes a table that does not exist, a single key lookup, and not
// ListTables: dynalite lists tables by reading every key of its store,
// which on a data directory holding a million-card import takes minutes.
func Answers(ctx context.Context, db interface {
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}) error {
	_, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(probeTable)})
	var missing *types.ResourceNotFoundException
	if err == nil || errors.As(err, &missing) {
		return nil
	}
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
