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

// checkSchema refuses a table whose keys or index differ from what the
// store writes: every conditional write would otherwise fail as a
// ValidationException at the first request instead of at start-up. An
// index that does not project indexedAttributes is refused too: listings
// would find records without their ciphertext.
func checkSchema(t *types.TableDescription) error {
	if !sameKeys(t.KeySchema, attrPK, attrSK) {
		return fmt.Errorf("table %s exists with another key schema; want hash %q, range %q", aws.ToString(t.TableName), attrPK, attrSK)
	}
	for _, gsi := range t.GlobalSecondaryIndexes {
		if aws.ToString(gsi.IndexName) == indexByMerchant && sameKeys(gsi.KeySchema, attrGSI1PK, attrGSI1SK) {
			if !projects(gsi.Projection, indexedAttributes) {
				return fmt.Errorf("table %s: index %s does not project %v (made by an earlier version of the vault?); the index must be recreated", aws.ToString(t.TableName), indexByMerchant, indexedAttributes)
			}
			return nil
		}
	}
	return fmt.Errorf("table %s has no index %s on (%s, %s)", aws.ToString(t.TableName), indexByMerchant, attrGSI1PK, attrGSI1SK)
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
	var gotHash, gotRange string
	for _, k := range schema {
		switch k.KeyType {
		case types.KeyTypeHash:
			gotHash = aws.ToString(k.AttributeName)
		case types.KeyTypeRange:
			gotRange = aws.ToString(k.AttributeName)
		}
	}
	return gotHash == hash && gotRange == rng
}

// tableDefinition is the table as the store expects it; the deployment
// template must declare the same.
func tableDefinition(table string) *dynamodb.CreateTableInput {
	str := func(name string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: types.ScalarAttributeTypeS}
	}
	keys := func(hash, rng string) []types.KeySchemaElement {
		return []types.KeySchemaElement{
			{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(rng), KeyType: types.KeyTypeRange},
		}
	}
	return &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{str(attrPK), str(attrSK), str(attrGSI1PK), str(attrGSI1SK)},
		KeySchema:            keys(attrPK, attrSK),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName:  aws.String(indexByMerchant),
			KeySchema:  keys(attrGSI1PK, attrGSI1SK),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: indexedAttributes},
		}},
	}
}

// indexedAttributes are the attributes the by_merchant index projects
// beside the keys: what a rotation or purge listing needs of a record
// (recordProjection), so that a page is one Query with no read of the
// items. Only ciphertext and its references: the index holds nothing a
// reader without the merchant's key could use.
var indexedAttributes = []string{"merchant_id", "sealed", "key_version", "name", "version"}
