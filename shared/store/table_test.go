package store

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cardvault/vault/shared/internal/dynalite"
)

func TestEnsureTableIsIdempotent(t *testing.T) {
	ctx := context.Background()
	client := NewLocalClient(dynalite.ForTest(t))
	table := testTableName(t)

	// Several processes of local mode may start at once; all must succeed.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = EnsureTable(ctx, client, table) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent EnsureTable %d: %v", i, err)
		}
	}
	if err := EnsureTable(ctx, client, table); err != nil {
		t.Fatalf("EnsureTable on an existing table: %v", err)
	}

	out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Table.BillingModeSummary == nil || out.Table.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("billing mode = %+v, want PAY_PER_REQUEST", out.Table.BillingModeSummary)
	}
	if len(out.Table.GlobalSecondaryIndexes) != 1 {
		t.Fatalf("indexes = %d, want 1", len(out.Table.GlobalSecondaryIndexes))
	}
	gsi := out.Table.GlobalSecondaryIndexes[0]
	if aws.ToString(gsi.IndexName) != indexByMerchant || !projects(gsi.Projection, indexedAttributes) {
		t.Errorf("index = %s %+v, want %s projecting %v", aws.ToString(gsi.IndexName), gsi.Projection, indexByMerchant, indexedAttributes)
	}
}

// A by_merchant index without the record attributes (as an earlier
// KEYS_ONLY table had it) would make every listed record look empty; the
// store refuses to start on it rather than let a rotation find nothing to
// re-encrypt and destroy a key version still in use.
func TestEnsureTableRefusesAnIndexWithoutTheRecordAttributes(t *testing.T) {
	ctx := context.Background()
	client := NewLocalClient(dynalite.ForTest(t))
	table := testTableName(t)
	def := tableDefinition(table)
	def.GlobalSecondaryIndexes[0].Projection = &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}
	if _, err := client.CreateTable(ctx, def); err != nil {
		t.Fatal(err)
	}
	err := EnsureTable(ctx, client, table)
	if err == nil || !strings.Contains(err.Error(), "does not project") {
		t.Fatalf("EnsureTable on a KEYS_ONLY index = %v, want a refusal", err)
	}
}

func TestEnsureTableRefusesAnotherSchema(t *testing.T) {
	ctx := context.Background()
	client := NewLocalClient(dynalite.ForTest(t))
	table := testTableName(t)
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := EnsureTable(ctx, client, table); err == nil {
		t.Fatal("EnsureTable accepted a table with another key schema")
	}
}

// describeScript answers DescribeTable with one status after another (the
// last one repeating) and counts the calls.
type describeScript struct {
	DynamoAPI
	statuses []types.TableStatus
	calls    int
}

func (d *describeScript) DescribeTable(_ context.Context, in *dynamodb.DescribeTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	status := d.statuses[min(d.calls, len(d.statuses)-1)]
	d.calls++
	def := tableDefinition(aws.ToString(in.TableName))
	gsi := def.GlobalSecondaryIndexes[0]
	return &dynamodb.DescribeTableOutput{Table: &types.TableDescription{
		TableName:   in.TableName,
		TableStatus: status,
		KeySchema:   def.KeySchema,
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndexDescription{{
			IndexName:   gsi.IndexName,
			IndexStatus: types.IndexStatusActive,
			KeySchema:   gsi.KeySchema,
			Projection:  gsi.Projection,
		}},
	}}, nil
}

// Every start of local mode and every test store meets a ready table: one
// DescribeTable answers both questions.
func TestEnsureTableDescribesAReadyTableOnce(t *testing.T) {
	db := &describeScript{statuses: []types.TableStatus{types.TableStatusActive}}
	if err := EnsureTable(context.Background(), db, "t"); err != nil {
		t.Fatalf("EnsureTable: %v", err)
	}
	if db.calls != 1 {
		t.Fatalf("DescribeTable calls = %d, want 1", db.calls)
	}
}

func TestEnsureTableWaitsForATableBeingCreated(t *testing.T) {
	db := &describeScript{statuses: []types.TableStatus{types.TableStatusCreating, types.TableStatusCreating, types.TableStatusActive}}
	if err := EnsureTable(context.Background(), db, "t"); err != nil {
		t.Fatalf("EnsureTable: %v", err)
	}
	if db.calls != 3 {
		t.Fatalf("DescribeTable calls = %d, want 3", db.calls)
	}
}
