package store

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cardvault/vault/shared/vault"
)

var _ vault.Purger = (*Store)(nil)

// PurgeExpired deletes up to limit items whose ttl is at or before now and
// returns how many it deleted. It does locally what DynamoDB's TTL sweep
// does in AWS, by scanning the whole table, which is fine for local mode
// and tests and nothing else. Each delete repeats the expiry condition, so
// an entry renewed since the scan (a replay id or index entry taken over
// after expiry) is left alone.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	nowValue := epochValue(now)
	in := &dynamodb.ScanInput{
		TableName:                 aws.String(s.table),
		FilterExpression:          aws.String("#ttl <= :now"),
		ExpressionAttributeNames:  map[string]string{"#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": nowValue},
	}
	in.ProjectionExpression = aws.String("pk, sk")
	purged := 0
	for purged < limit {
		out, err := s.db.Scan(ctx, in)
		if err != nil {
			return purged, unavailable("Scan", err)
		}
		for _, key := range out.Items {
			if purged == limit {
				break
			}
			_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
				TableName:                 aws.String(s.table),
				Key:                       key,
				ConditionExpression:       aws.String("#ttl <= :now"),
				ExpressionAttributeNames:  map[string]string{"#ttl": attrTTL},
				ExpressionAttributeValues: map[string]types.AttributeValue{":now": nowValue},
			})
			switch {
			case err == nil:
				purged++
			case !conditionFailed(err):
				return purged, unavailable("DeleteItem", err)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return purged, nil
}
