package store

import (
	"context"
	"encoding/base64"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// defaultPageSize is the page size of a listing asked for with a
// non-positive limit; maxPageSize bounds what one call holds in memory.
const (
	defaultPageSize = 100
	maxPageSize     = 10_000
)

func pageSize(limit int) int {
	switch {
	case limit <= 0:
		return defaultPageSize
	case limit > maxPageSize:
		return maxPageSize
	}
	return limit
}

// enterDirectory records that the merchant has (or is about to have) a
// key, for scheduled rotation to find. It is an update that keeps the
// first created_at, so repeating it, concurrently or not, changes nothing
// and never fails on a condition.
//
// The directory is one partition, written once per key creation and read
// only by the daily schedule: it is never hot.
func (s *Store) enterDirectory(ctx context.Context, merchantID string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.table),
		Key:              itemKey(merchantDirPK, keyPart(merchantID)),
		UpdateExpression: aws.String("SET merchant_id = :m, created_at = if_not_exists(created_at, :at)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":m":  &types.AttributeValueMemberS{Value: merchantID},
			":at": &types.AttributeValueMemberS{Value: formatTime(s.now())},
		},
	})
	if err != nil {
		return unavailable("UpdateItem", err)
	}
	return nil
}

// Merchants lists the merchants of the directory in escaped-id order, up
// to limit at a time. The cursor is the base64url of the last sort key
// returned; "" starts, and a returned "" means the end.
func (s *Store) Merchants(ctx context.Context, cursor string, limit int) ([]string, string, error) {
	in := &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		KeyConditionExpression: aws.String("pk = :pk"),
		ProjectionExpression:   aws.String("sk, merchant_id"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: merchantDirPK},
		},
		Limit: aws.Int32(int32(pageSize(limit))), // #nosec G115 -- pageSize is at most maxPageSize
	}
	if cursor != "" {
		after, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || len(after) == 0 {
			return nil, "", corrupt("merchant cursor", errors.New("not a directory cursor"))
		}
		in.ExclusiveStartKey = itemKey(merchantDirPK, string(after))
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, "", unavailable("Query", err)
	}
	ids := make([]string, 0, len(out.Items))
	for _, av := range out.Items {
		m, ok := av["merchant_id"].(*types.AttributeValueMemberS)
		if !ok || m.Value == "" {
			return nil, "", corrupt("merchant directory entry", errors.New("no merchant_id"))
		}
		ids = append(ids, m.Value)
	}
	next := ""
	if sk, ok := out.LastEvaluatedKey[attrSK].(*types.AttributeValueMemberS); ok {
		next = base64.RawURLEncoding.EncodeToString([]byte(sk.Value))
	}
	return ids, next, nil
}
