package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// smallPages makes dynalite return two items per Scan page, so a table of a
// few items already spans several pages.
type smallPages struct{ DynamoAPI }

func (p smallPages) Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	in.Limit = aws.Int32(2)
	return p.DynamoAPI.Scan(ctx, in, opts...)
}

func TestScanAllReadsEveryPage(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	const cards = 7
	for i := range cards {
		if err := s.CreateCard(ctx, sampleCard(fmt.Sprintf("tok_%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Consume(ctx, "iss", "jti", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	paged := New(smallPages{s.db}, s.table)
	items, err := paged.ScanAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != cards+1 {
		t.Fatalf("ScanAll returned %d items, want %d", len(items), cards+1)
	}
}
