package store

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

// cardIndexItem is a duplicate-detection entry: which token holds a card
// for one merchant, customer and fingerprint.
type cardIndexItem struct {
	PK    string `dynamodbav:"pk"`
	SK    string `dynamodbav:"sk"`
	Token string `dynamodbav:"token"`
	TTL   int64  `dynamodbav:"ttl,omitempty"`
}

// claimAttempts bounds how often ClaimCardIndex retries when the entry it
// lost to vanishes or expires before it can be read. Each retry needs that
// to happen again within one round trip, so three is generous.
const claimAttempts = 3

// errIndexUnsettled is the cause when the entry kept changing under the
// claim; the request is safe to retry.
var errIndexUnsettled = errors.New("card index entry changed during every claim attempt")

// cardIndexEntry is the stored entry pointing key at token until
// expiresAt: a claim and a take-over write the same item and differ only
// in their condition.
func cardIndexEntry(key vault.CardIndexKey, token string, expiresAt time.Time) (map[string]types.AttributeValue, error) {
	item, err := attributevalue.MarshalMap(cardIndexItem{
		PK:    cardIndexPK(key.MerchantID, key.Fingerprint, key.CustomerID),
		SK:    cardIndexSK,
		Token: token,
		TTL:   ttlSeconds(expiresAt),
	})
	if err != nil {
		return nil, corrupt("card index entry", err)
	}
	return item, nil
}

// ClaimCardIndex points key at token unless a live entry exists; then it
// returns that entry's token and vault.ErrConflict. An expired entry is
// taken over, so a card vaulted again after its predecessor expired gets a
// fresh token. An entry that already points at token counts as claimed by
// the caller: tokens are fresh per request, so only the same request (an
// SDK retry of a put whose answer was lost, or a re-claim after
// TakeOverCardIndex) can present it again. Exactly one of any number of
// concurrent claimers wins: the conditional put is atomic in DynamoDB (and
// serialised per key in dynalite).
func (s *Store) ClaimCardIndex(ctx context.Context, key vault.CardIndexKey, token string, expiresAt time.Time) (string, error) {
	item, err := cardIndexEntry(key, token, expiresAt)
	if err != nil {
		return "", err
	}
	for range claimAttempts {
		_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                aws.String(s.table),
			Item:                     item,
			ConditionExpression:      aws.String("attribute_not_exists(pk) OR #ttl <= :now OR #tok = :t"),
			ExpressionAttributeNames: map[string]string{"#ttl": attrTTL, "#tok": "token"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":now": epochValue(s.now()),
				":t":   &types.AttributeValueMemberS{Value: token},
			},
		})
		if err == nil {
			return "", nil
		}
		if !conditionFailed(err) {
			return "", unavailable("PutItem", err)
		}
		existing, found, err := s.liveCardIndex(ctx, key)
		if err != nil {
			return "", err
		}
		if found {
			return existing, vault.ErrConflict
		}
		// The winner's entry expired (or was removed) between our put
		// and our read: the key is free again, so claim it anew.
	}
	return "", vaulterr.Wrap(vaulterr.Unavailable, storageUnavailable, errIndexUnsettled)
}

// TakeOverCardIndex repoints key's entry from oldToken (a deleted or
// expired card) to newToken, or returns vault.ErrConflict if the entry no
// longer points at oldToken (another request took it over first, or the
// entry is gone and can be claimed afresh).
func (s *Store) TakeOverCardIndex(ctx context.Context, key vault.CardIndexKey, oldToken, newToken string, expiresAt time.Time) error {
	item, err := cardIndexEntry(key, newToken, expiresAt)
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.table),
		Item:                     item,
		ConditionExpression:      aws.String("#tok = :old"),
		ExpressionAttributeNames: map[string]string{"#tok": "token"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":old": &types.AttributeValueMemberS{Value: oldToken},
		},
	})
	return conditional("PutItem", err, vault.ErrConflict)
}

// liveCardIndex reads key's entry, reporting found = false when there is
// none or it has expired.
func (s *Store) liveCardIndex(ctx context.Context, key vault.CardIndexKey) (token string, found bool, err error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            itemKey(cardIndexPK(key.MerchantID, key.Fingerprint, key.CustomerID), cardIndexSK),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return "", false, unavailable("GetItem", err)
	}
	if out.Item == nil {
		return "", false, nil
	}
	var it cardIndexItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return "", false, corrupt("card index entry", err)
	}
	if expired(it.TTL, s.now()) {
		return "", false, nil
	}
	return it.Token, true, nil
}

// CardIndex returns the token key's live entry points at, or
// vault.ErrNotFound: one strongly consistent read.
func (s *Store) CardIndex(ctx context.Context, key vault.CardIndexKey) (string, error) {
	token, found, err := s.liveCardIndex(ctx, key)
	if err != nil {
		return "", err
	}
	if !found {
		return "", vault.ErrNotFound
	}
	return token, nil
}
