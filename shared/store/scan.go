package store

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ScanAll reads every item of the table, page by page. It exists so that
// tests can prove what is (and is not) at rest, and that a refused request
// changed nothing; it holds the whole table in memory, so it is not for
// production paths.
func (s *Store) ScanAll(ctx context.Context) ([]map[string]types.AttributeValue, error) {
	var items []map[string]types.AttributeValue
	in := &dynamodb.ScanInput{TableName: aws.String(s.table), ConsistentRead: aws.Bool(true)}
	for {
		out, err := s.db.Scan(ctx, in)
		if err != nil {
			return nil, unavailable("Scan", err)
		}
		items = append(items, out.Items...)
		if len(out.LastEvaluatedKey) == 0 {
			return items, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
