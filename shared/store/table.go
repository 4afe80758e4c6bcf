package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// tableReadyTimeout bounds EnsureTable's wait for ACTIVE when ctx has no
// deadline of its own. dynalite needs milliseconds; AWS, seconds.
const tableReadyTimeout = 2 * time.Minute

// tablePollInterval is how often EnsureTable asks for the table's state.
const tablePollInterval = 25 * time.Millisecond

// EnsureTable creates the table if it does not exist and waits until it
// and its index are ACTIVE. Local mode and tests use it; in AWS the
// deployment template creates the table (with TTL on "ttl" enabled, which
// dynalite does not implement). An existing table with another key schema
// is an error, not something to work around.
func EnsureTable(ctx context.Context, client DynamoAPI, table string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, tableReadyTimeout)
		defer cancel()
	}
	out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	var missing *types.ResourceNotFoundException
	switch {
	case errors.As(err, &missing):
		_, err = client.CreateTable(ctx, tableDefinition(table))
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) { // in use: a concurrent EnsureTable won
			return fmt.Errorf("creating table %s: %w", table, sanitize("CreateTable", err))
		}
	case err != nil:
		return fmt.Errorf("describing table %s: %w", table, sanitize("DescribeTable", err))
	case active(out.Table):
		// The usual start: the table is there and ready, and this answer
		// already holds the schema to check.
		return checkSchema(out.Table)
	}
	return waitActive(ctx, client, table)
}

// waitActive polls until the table and every index are ACTIVE, then
// checks the key schema.
func waitActive(ctx context.Context, client DynamoAPI, table string) error {
	for {
		out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			return fmt.Errorf("describing table %s: %w", table, sanitize("DescribeTable", err))
		}
		if active(out.Table) {
			return checkSchema(out.Table)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("table %s not ACTIVE (status %s): %w", table, out.Table.TableStatus, context.Cause(ctx))
		case <-time.After(tablePollInterval):
		}
	}
}

func active(t *types.TableDescription) bool {
	if t.TableStatus != types.TableStatusActive {
		return false
	}
	for _, gsi := range t.GlobalSecondaryIndexes {
		if gsi.IndexStatus != types.IndexStatusActive {
			return false
		}
	}
	return true
}

// checkSchema refuses a table whose keys or indexes differ from what the
// store writes: every conditional write would otherwise fail as a
// ValidationException at the first request instead of at start-up. An
// index that does not project what its readers need is refused too:
// rotation would find records without their ciphertext, listings cards
// without their masked view.
func checkSchema(t *types.TableDescription) error {
	if !sameKeys(t.KeySchema, attrPK, attrSK) {
		return fmt.Errorf("table %s exists with another key schema; want hash %q, range %q", aws.ToString(t.TableName), attrPK, attrSK)
	}
	for _, want := range indexDefinitions() {
		if err := checkIndex(t, want); err != nil {
			return err
		}
	}
	return nil
}

func checkIndex(t *types.TableDescription, want types.GlobalSecondaryIndex) error {
	name := aws.ToString(want.IndexName)
	hash, rng := keyNames(want.KeySchema)
	for _, gsi := range t.GlobalSecondaryIndexes {
		if aws.ToString(gsi.IndexName) == name && sameKeys(gsi.KeySchema, hash, rng) {
			if !projects(gsi.Projection, want.Projection.NonKeyAttributes) {
				return fmt.Errorf("table %s: index %s does not project %v (made by an earlier version of the vault?); the index must be recreated", aws.ToString(t.TableName), name, want.Projection.NonKeyAttributes)
			}
			return nil
		}
	}
	return fmt.Errorf("table %s has no index %s on (%s, %s) (made by an earlier version of the vault? locally, remove the dynalite directory; in AWS, deploy the template, which adds it)", aws.ToString(t.TableName), name, hash, rng)
}

func keyNames(schema []types.KeySchemaElement) (hash, rng string) {
	for _, k := range schema {
		switch k.KeyType {
		case types.KeyTypeHash:
			hash = aws.ToString(k.AttributeName)
		case types.KeyTypeRange:
			rng = aws.ToString(k.AttributeName)
		}
	}
	return hash, rng
}

// projects reports whether an index projection includes every attribute
// of attrs.
func projects(p *types.Projection, attrs []string) bool {
	if p == nil {
		return false
	}
	switch p.ProjectionType {
	case types.ProjectionTypeAll:
		return true
	case types.ProjectionTypeInclude:
		for _, a := range attrs {
			if !slices.Contains(p.NonKeyAttributes, a) {
				return false
			}
		}
		return true
	}
	return false
}

func sameKeys(schema []types.KeySchemaElement, hash, rng string) bool {
	gotHash, gotRange := keyNames(schema)
	return gotHash == hash && gotRange == rng
}

// tableDefinition is the table as the store expects it; the deployment
// template must declare the same.
func tableDefinition(table string) *dynamodb.CreateTableInput {
	str := func(name string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: types.ScalarAttributeTypeS}
	}
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			str(attrPK), str(attrSK), str(attrGSI1PK), str(attrGSI1SK),
			str(attrCustomerListPK), str(attrFingerprintListPK), str(attrListSK),
		},
		KeySchema:              keySchema(attrPK, attrSK),
		GlobalSecondaryIndexes: indexDefinitions(),
	}
}

func keySchema(hash, rng string) []types.KeySchemaElement {
	return []types.KeySchemaElement{
		{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash},
		{AttributeName: aws.String(rng), KeyType: types.KeyTypeRange},
	}
}

// indexDefinitions are the table's global secondary indexes.
func indexDefinitions() []types.GlobalSecondaryIndex {
	include := func(attrs []string) *types.Projection {
		return &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: attrs}
	}
	return []types.GlobalSecondaryIndex{
		{IndexName: aws.String(indexByMerchant), KeySchema: keySchema(attrGSI1PK, attrGSI1SK), Projection: include(indexedAttributes)},
		{IndexName: aws.String(indexByCustomer), KeySchema: keySchema(attrCustomerListPK, attrListSK), Projection: include(listedAttributes)},
		{IndexName: aws.String(indexByFingerprint), KeySchema: keySchema(attrFingerprintListPK, attrListSK), Projection: include(listedAttributes)},
	}
}

// indexedAttributes are the attributes the by_merchant index projects
// beside the keys: what a rotation or purge listing needs of a record
// (recordProjection), so that a page is one Query with no read of the
// items. Only ciphertext and its references: the index holds nothing a
// reader without the merchant's key could use.
var indexedAttributes = []string{"merchant_id", "sealed", "key_version", "name", "version"}

// listedAttributes are what the listing indexes project beside the keys:
// the masked view list_cards answers and the expiry that hides a card,
// so that a page is one Query with no read of the items. Never the
// ciphertext: the listing function holds no key, and the index no more
// than the masked view.
var listedAttributes = []string{
	"merchant_id", "customer_id", "fingerprint", "first4", "last4", "display", "brand",
	"exp_month", "exp_year", "created_at", "expires_at", "ttl",
}
