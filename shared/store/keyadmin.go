package store

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/vaulterr"
)

// Keys lists every stored version of the merchant, oldest first. The
// range V#0000000000..V#4294967295 holds exactly the versions: the shred
// tombstone sorts after it and the rotation state outside it. A shredded
// merchant has none left once each was destroyed; one still listed is a
// leftover for the shredder to destroy.
func (s *Store) Keys(ctx context.Context, merchantID string) ([]envelope.StoredKey, error) {
	in := &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: merchantKeyPK(merchantID)},
			":lo": &types.AttributeValueMemberS{Value: versionKey(0)},
			":hi": &types.AttributeValueMemberS{Value: versionKey(^uint32(0))},
		},
		ConsistentRead: aws.Bool(true),
	}
	var keys []envelope.StoredKey
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, unavailable("Query", err)
		}
		for _, av := range out.Items {
			k, err := decodeMerchantKey(av, merchantID)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return keys, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// SetKeyState changes a version's state, or returns envelope.ErrNoKey if
// the version does not exist (destroyed meanwhile): the update never
// creates a key item.
func (s *Store) SetKeyState(ctx context.Context, merchantID string, version uint32, state envelope.KeyState) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      itemKey(merchantKeyPK(merchantID), versionKey(version)),
		UpdateExpression:         aws.String("SET #state = :s"),
		ConditionExpression:      aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames: map[string]string{"#state": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":s": &types.AttributeValueMemberS{Value: string(state)},
		},
	})
	return conditional("UpdateItem", err, envelope.ErrNoKey)
}

// ReplaceWrapped swaps a version's wrapped key for replacement if the
// item still holds old (ciphertext and master key id); else, including
// when the version was destroyed, envelope.ErrKeyChanged. Wraps are
// randomised, so old's ciphertext matches only the wrap that was read.
func (s *Store) ReplaceWrapped(ctx context.Context, merchantID string, version uint32, old, replacement envelope.WrappedKey) error {
	if len(replacement.Ciphertext) == 0 {
		return vaulterr.Wrap(vaulterr.Internal, "internal error", errors.New("store: empty replacement wrapped key"))
	}
	if len(old.Ciphertext) == 0 {
		// No stored key has an empty wrap (and DynamoDB refuses an empty
		// binary comparand): old cannot be what is stored.
		return envelope.ErrKeyChanged
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 itemKey(merchantKeyPK(merchantID), versionKey(version)),
		UpdateExpression:    aws.String("SET #w = :new, #mk = :newmk"),
		ConditionExpression: aws.String("#w = :old AND #mk = :oldmk"),
		// wrapped is a DynamoDB reserved word.
		ExpressionAttributeNames: map[string]string{"#w": "wrapped", "#mk": "master_key_id"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":new":   &types.AttributeValueMemberB{Value: replacement.Ciphertext},
			":newmk": &types.AttributeValueMemberS{Value: replacement.MasterKeyID},
			":old":   &types.AttributeValueMemberB{Value: old.Ciphertext},
			":oldmk": &types.AttributeValueMemberS{Value: old.MasterKeyID},
		},
	})
	return conditional("UpdateItem", err, envelope.ErrKeyChanged)
}

// DestroyKey deletes one version's wrapped key. Deleting a version that is
// already gone succeeds, so a destruction cut off half-way can be
// repeated.
func (s *Store) DestroyKey(ctx context.Context, merchantID string, version uint32) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table),
		Key:       itemKey(merchantKeyPK(merchantID), versionKey(version)),
	})
	if err != nil {
		return unavailable("DeleteItem", err)
	}
	return nil
}

// MarkShredded puts the merchant's shred tombstone, after which LatestKey
// answers envelope.ErrShredded whatever versions remain. Marking twice
// keeps the first time.
func (s *Store) MarkShredded(ctx context.Context, merchantID string, at time.Time) error {
	if at.IsZero() {
		at = s.now()
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			attrPK:        &types.AttributeValueMemberS{Value: merchantKeyPK(merchantID)},
			attrSK:        &types.AttributeValueMemberS{Value: shreddedSK},
			"merchant_id": &types.AttributeValueMemberS{Value: merchantID},
			"shredded_at": &types.AttributeValueMemberS{Value: formatTime(at)},
		},
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	return conditional("PutItem", err, nil)
}

// Shredded reports whether the merchant's shred tombstone exists, with a
// strongly consistent read.
func (s *Store) Shredded(ctx context.Context, merchantID string) (bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:            aws.String(s.table),
		Key:                  itemKey(merchantKeyPK(merchantID), shreddedSK),
		ProjectionExpression: aws.String("pk"),
		ConsistentRead:       aws.Bool(true),
	})
	if err != nil {
		return false, unavailable("GetItem", err)
	}
	return out.Item != nil, nil
}
