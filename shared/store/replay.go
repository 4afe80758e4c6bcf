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
	// same jti, and Unspend deletes only the entry its own call wrote.
	Attempt []byte `dynamodbav:"attempt"`
}

// Consume records (issuer, jti) until the given time, or returns
// vault.ErrReplayed if the pair is recorded and not yet expired. One
// conditional put decides, so of two containers racing with the same
// request exactly one proceeds. An expired entry is overwritten, which is
// what makes the window a window on dynalite, where nothing is deleted.
func (s *Store) Consume(ctx context.Context, issuer, jti string, until time.Time) error {
	_, err := s.Spend(ctx, issuer, jti, until)
	return err
}

// Spend is Consume, returning the attempt value its put carries so that
// Unspend can take back this put and no other.
func (s *Store) Spend(ctx context.Context, issuer, jti string, until time.Time) (vault.ReplaySpend, error) {
	if until.IsZero() {
		// A pair kept forever would grow the table without bound; a zero
		// expiry is a caller bug, not a request to refuse.
		return vault.ReplaySpend{}, vaulterr.Wrap(vaulterr.Internal, "internal error", errors.New("replay entry without expiry"))
	}
	var attempt [16]byte
	_, _ = rand.Read(attempt[:]) // crypto/rand.Read never fails (Go 1.24+)
	spend := vault.ReplaySpend{Issuer: issuer, JTI: jti, Attempt: attempt[:]}
	item, err := attributevalue.MarshalMap(replayItem{
		PK:      replayPK(issuer, jti),
		SK:      replaySK,
		TTL:     ttlSeconds(until),
		Attempt: attempt[:],
	})
	if err != nil {
		return vault.ReplaySpend{}, corrupt("replay entry", err)
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
	if err := conditional("PutItem", err, vault.ErrReplayed); err != nil {
		if errors.Is(err, vault.ErrReplayed) {
			return vault.ReplaySpend{}, err
		}
		return spend, err
	}
	return spend, nil
}

// Unspend deletes the pair's entry only if it still carries the spend's
// attempt value: one conditional delete, which a later request's entry
// (written once this one expired) or an entry never written fails,
// leaving it as it is.
func (s *Store) Unspend(ctx context.Context, spend vault.ReplaySpend) error {
	if len(spend.Attempt) == 0 {
		return nil // nothing was written
	}
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:           aws.String(s.table),
		Key:                 itemKey(replayPK(spend.Issuer, spend.JTI), replaySK),
		ConditionExpression: aws.String("attempt = :a"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":a": &types.AttributeValueMemberB{Value: spend.Attempt},
		},
	})
	return conditional("DeleteItem", err, nil)
}
