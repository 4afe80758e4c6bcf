package store

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// NewLocalClient is a DynamoDB client for a local endpoint (dynalite).
// dynalite checks that requests are signed but not by whom, so fixed dummy
// credentials do; they keep the SDK from searching the environment for real
// ones, which a developer machine may well have.
func NewLocalClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}
