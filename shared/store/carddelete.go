package store

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cardvault/vault/shared/vault"
)

// DeleteCard removes rec's card and its index entry in three conditional
// steps, each safe to repeat, so a crash between them never leaves a live
// card behind:
//
//  1. the record becomes a tombstone (deleted, ciphertext and index keys
//     removed, ttl set to now so DynamoDB's sweep and the purger remove it
//     even if step 3 never runs), provided it belongs to rec.MerchantID;
//  2. the index entry is removed if it still points at this token (else a
//     newer card owns it and it stays);
//  3. the tombstone is removed.
//
// vault.ErrNotFound when there is no card of that merchant under the token.
func (s *Store) DeleteCard(ctx context.Context, rec vault.CardRecord) error {
	pk := cardPK(rec.Token)
	now := s.now()
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      itemKey(pk, cardSK),
		UpdateExpression:         aws.String("SET deleted = :true, updated_at = :at, #ttl = :now REMOVE sealed, gsi1pk, gsi1sk"),
		ConditionExpression:      aws.String("attribute_exists(pk) AND merchant_id = :m"),
		ExpressionAttributeNames: map[string]string{"#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":true": &types.AttributeValueMemberBOOL{Value: true},
			":at":   &types.AttributeValueMemberS{Value: formatTime(now)},
			":now":  &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Unix(), 10)},
			":m":    &types.AttributeValueMemberS{Value: rec.MerchantID},
		},
	})
	switch {
	case conditionFailed(err):
		return vault.ErrNotFound
	case err != nil:
		return unavailable("UpdateItem", err)
	}

	_, err = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                aws.String(s.table),
		Key:                      itemKey(cardIndexPK(rec.MerchantID, rec.Fingerprint, rec.CustomerID), cardIndexSK),
		ConditionExpression:      aws.String("#tok = :t"),
		ExpressionAttributeNames: map[string]string{"#tok": "token"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":t": &types.AttributeValueMemberS{Value: rec.Token},
		},
	})
	if err != nil && !conditionFailed(err) {
		return unavailable("DeleteItem", err)
	}

	_, err = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:           aws.String(s.table),
		Key:                 itemKey(pk, cardSK),
		ConditionExpression: aws.String("deleted = :true"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":true": &types.AttributeValueMemberBOOL{Value: true},
		},
	})
	if err != nil && !conditionFailed(err) {
		return unavailable("DeleteItem", err)
	}
	return nil
}

// TakeOverCardIndex repoints key's entry from oldToken (a deleted or
// expired card) to newToken, or returns vault.ErrConflict if the entry no
// longer points at oldToken (another request took it over first, or the
// entry is gone and can be claimed afresh).
func (s *Store) TakeOverCardIndex(ctx context.Context, key vault.CardIndexKey, oldToken, newToken string, expiresAt time.Time) error {
	item, err := attributevalue.MarshalMap(cardIndexItem{
		PK:    cardIndexPK(key.MerchantID, key.Fingerprint, key.CustomerID),
		SK:    cardIndexSK,
		Token: newToken,
		TTL:   ttlSeconds(expiresAt),
	})
	if err != nil {
		return corrupt("card index entry", err)
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
	switch {
	case err == nil:
		return nil
	case conditionFailed(err):
		return vault.ErrConflict
	default:
		return unavailable("PutItem", err)
	}
}
