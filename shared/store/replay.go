package store

import (
	"context"
	"crypto/rand"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

// replayItem remembers one (issuer, jti) pair until its ttl.
type replayItem struct {
	PK  string `dynamodbav:"pk"`
	SK  string `dynamodbav:"sk"`
	TTL int64  `dynamodbav:"ttl"`
	// Attempt is random per Consume call, so an SDK retry of the same put
	// (its first answer lost) is told apart from a second request with the
	// same jti.
	Attempt []byte `dynamodbav:"attempt"`
}

// Consume records (issuer, jti) until the given time, or returns
// vault.ErrReplayed if the pair is recorded and not yet expired. One
// conditional put decides, so of two containers racing with the same
// request exactly one proceeds. An expired entry is overwritten, which is
// what makes the window a window on dynalite, where nothing is deleted.
func (s *Store) Consume(ctx context.Context, issuer, jti string, until time.Time) error {
	if until.IsZero() {
		// A pair kept forever would grow the table without bound; a zero
		// expiry is a caller bug, not a request to refuse.
		return vaulterr.Wrap(vaulterr.Internal, "internal error", errors.New("replay entry without expiry"))
	}
	var attempt [16]byte
	_, _ = rand.Read(attempt[:]) // crypto/rand.Read never fails (Go 1.24+)
	item, err := attributevalue.MarshalMap(replayItem{
		PK:      replayPK(issuer, jti),
		SK:      replaySK,
		TTL:     ttlSeconds(until),
		Attempt: attempt[:],
	})
	if err != nil {
		return corrupt("replay entry", err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(pk) OR #ttl <= :now OR attempt = :a"),
		ExpressionAttributeNames: map[string]string{"#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now": epochValue(s.now()),
			":a":   &types.AttributeValueMemberB{Value: attempt[:]},
		},
	})
	return conditional("PutItem", err, vault.ErrReplayed)
}
