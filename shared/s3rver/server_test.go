package s3rver

import (
	"context"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestStartMakesTheBucketsAndStops: the real SDK client lists the bucket
// Start made, and Stop ends the process.
func TestStartMakesTheBucketsAndStops(t *testing.T) {
	s, err := Start(context.Background(), t.TempDir(), "made-bucket")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("s3rver unavailable (run make deps): %v", err)
	}
	client := s3.New(s3.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(s.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
	})
	out, err := client.ListBuckets(context.Background(), &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Buckets) != 1 || aws.ToString(out.Buckets[0].Name) != "made-bucket" {
		t.Fatalf("buckets %+v", out.Buckets)
	}
	s.Stop()
	select {
	case <-s.done:
	default:
		t.Fatal("s3rver still running after Stop")
	}
}
