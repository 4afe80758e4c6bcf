package store

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cardvault/vault/shared/vault"
)

// DeleteCard removes rec's card and its index entry in three conditional
// steps, each safe to repeat, so a crash between them never leaves a live
// card behind:
//
//  1. the record becomes a tombstone (deleted, ciphertext and index keys
//     removed, so it leaves the rotation and listing indexes, ttl set to now so DynamoDB's sweep and the purger remove it
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
		UpdateExpression:         aws.String("SET deleted = :true, updated_at = :at, #ttl = :now REMOVE sealed, gsi1pk, gsi1sk, customer_pk, fingerprint_pk, list_sk"),
		ConditionExpression:      aws.String("attribute_exists(pk) AND merchant_id = :m"),
		ExpressionAttributeNames: map[string]string{"#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":true": &types.AttributeValueMemberBOOL{Value: true},
			":at":   &types.AttributeValueMemberS{Value: formatTime(now)},
			":now":  epochValue(now),
			":m":    &types.AttributeValueMemberS{Value: rec.MerchantID},
		},
	})
	if err := conditional("UpdateItem", err, vault.ErrNotFound); err != nil {
		return err
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
	if err := conditional("DeleteItem", err, nil); err != nil {
		return err
	}

	_, err = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:           aws.String(s.table),
		Key:                 itemKey(pk, cardSK),
		ConditionExpression: aws.String("deleted = :true"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":true": &types.AttributeValueMemberBOOL{Value: true},
		},
	})
	return conditional("DeleteItem", err, nil)
}

// DeleteCreatedCard takes back a card just created (vault_card whose
// audit event could not be recorded): the record, if it still holds
// rec.Sealed and belongs to rec.MerchantID, then the index entry, if it
// still points at rec.Token. A record that holds another ciphertext was
// written by another request since, and stays with its entry. The record
// goes first: an index entry left behind points at no card, which the
// next vault_card of that card fills in, whereas a card left without its
// entry would be vaulted again under a second token.
func (s *Store) DeleteCreatedCard(ctx context.Context, rec vault.CardRecord) error {
	if len(rec.Sealed) == 0 {
		return nil
	}
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:           aws.String(s.table),
		Key:                 itemKey(cardPK(rec.Token), cardSK),
		ConditionExpression: aws.String("sealed = :s AND merchant_id = :m"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":s": &types.AttributeValueMemberB{Value: rec.Sealed},
			":m": &types.AttributeValueMemberS{Value: rec.MerchantID},
		},
	})
	if conditionFailed(err) {
		return nil
	}
	if err != nil {
		return unavailable("DeleteItem", err)
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
	return conditional("DeleteItem", err, nil)
}
