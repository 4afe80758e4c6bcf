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
	want := map[string][]string{indexByMerchant: indexedAttributes, indexByCustomer: listedAttributes, indexByFingerprint: listedAttributes}
	if len(out.Table.GlobalSecondaryIndexes) != len(want) {
		t.Fatalf("indexes = %d, want %d", len(out.Table.GlobalSecondaryIndexes), len(want))
	}
	for _, gsi := range out.Table.GlobalSecondaryIndexes {
		attrs, ok := want[aws.ToString(gsi.IndexName)]
		if !ok || !projects(gsi.Projection, attrs) {
			t.Errorf("index = %s %+v, want one of %v with its projection", aws.ToString(gsi.IndexName), gsi.Projection, want)
		}
	}
}

// A table made before the listing indexes existed is refused with a
// message naming the missing index (dynalite cannot add one in place).
func TestEnsureTableRefusesATableWithoutTheListingIndexes(t *testing.T) {
	ctx := context.Background()
	client := NewLocalClient(dynalite.ForTest(t))
	table := testTableName(t)
	def := tableDefinition(table)
	def.GlobalSecondaryIndexes = def.GlobalSecondaryIndexes[:1]
	def.AttributeDefinitions = def.AttributeDefinitions[:4]
	if _, err := client.CreateTable(ctx, def); err != nil {
		t.Fatal(err)
	}
	err := EnsureTable(ctx, client, table)
	if err == nil || !strings.Contains(err.Error(), "no index "+indexByCustomer) {
		t.Fatalf("EnsureTable without the listing indexes = %v, want a refusal naming %s", err, indexByCustomer)
	}
}

// The listing indexes are read by a function holding no key: they must
// never carry the ciphertext.
func TestListingIndexesProjectNoCiphertext(t *testing.T) {
	for _, a := range listedAttributes {
		if a == "sealed" {
			t.Fatal("a listing index projects sealed")
		}
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
	var indexes []types.GlobalSecondaryIndexDescription
	for _, gsi := range def.GlobalSecondaryIndexes {
		indexes = append(indexes, types.GlobalSecondaryIndexDescription{
			IndexName:   gsi.IndexName,
			IndexStatus: types.IndexStatusActive,
			KeySchema:   gsi.KeySchema,
			Projection:  gsi.Projection,
		})
	}
	return &dynamodb.DescribeTableOutput{Table: &types.TableDescription{
		TableName:              in.TableName,
		TableStatus:            status,
		KeySchema:              def.KeySchema,
		GlobalSecondaryIndexes: indexes,
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
