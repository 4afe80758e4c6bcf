package store

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

// ResealRecord replaces rec's ciphertext with sealed, made with key
// version, and moves the record's index entry to that version, only if
// the item still holds rec.Sealed and belongs to rec's merchant. Anything
// else (the card was replaced or deleted, the secret version pruned, a
// concurrent reseal won) is vault.ErrConflict: the other writer's content
// stays. Ciphertexts carry a fresh random nonce, so rec.Sealed matches
// only the very ciphertext that was listed.
func (s *Store) ResealRecord(ctx context.Context, rec vault.SealedRecord, sealed []byte, version uint32) error {
	if len(sealed) == 0 {
		return vaulterr.Wrap(vaulterr.Internal, "internal error", errors.New("store: empty ciphertext to reseal with"))
	}
	if len(rec.Sealed) == 0 {
		// Nothing stored is an empty ciphertext (and DynamoDB refuses an
		// empty binary comparand).
		return vault.ErrConflict
	}
	addr, err := recordAddressOf(rec)
	if err != nil {
		return err
	}
	// Expressions, the current form of every DynamoDB write (the legacy
	// AttributeUpdates/Expected parameters are not used anywhere: see
	// TestNoLegacyDynamoDBParameters).
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 addr.key(),
		UpdateExpression:    aws.String("SET sealed = :sealed, key_version = :v, gsi1sk = :sk"),
		ConditionExpression: aws.String("sealed = :old AND merchant_id = :m"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":sealed": &types.AttributeValueMemberB{Value: sealed},
			":v":      &types.AttributeValueMemberN{Value: strconv.FormatUint(uint64(version), 10)},
			":sk":     &types.AttributeValueMemberS{Value: merchantIndexVersionPrefix(version) + addr.indexID},
			":old":    &types.AttributeValueMemberB{Value: rec.Sealed},
			":m":      &types.AttributeValueMemberS{Value: rec.Ref.MerchantID},
		},
	})
	return conditional("UpdateItem", err, vault.ErrConflict)
}

// CountRecords counts the merchant's records sealed with version: one
// Select=COUNT query per by_merchant shard, the 16 run in parallel. It
// reads the index keys of every such record (about 4 KB of keys per read
// unit), so it is for the daily schedule and get_keys, not for hot paths.
func (s *Store) CountRecords(ctx context.Context, merchantID string, version uint32) (int, error) {
	counts := make([]int, merchantShards)
	g, gctx := errgroup.WithContext(ctx)
	for shard := range merchantShards {
		g.Go(func() error {
			n, err := s.countShard(gctx, merchantIndexPK(merchantID, shard), merchantIndexVersionPrefix(version))
			counts[shard] = n
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	return total, nil
}

func (s *Store) countShard(ctx context.Context, gsi1pk, prefix string) (int, error) {
	in := &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		IndexName:              aws.String(indexByMerchant),
		KeyConditionExpression: aws.String("gsi1pk = :pk AND begins_with(gsi1sk, :v)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: gsi1pk},
			":v":  &types.AttributeValueMemberS{Value: prefix},
		},
		Select: types.SelectCount,
	}
	n := 0
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return 0, unavailable("Query", err)
		}
		n += int(out.Count)
		if len(out.LastEvaluatedKey) == 0 {
			return n, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// DeleteRecord deletes a listed record for good: a card with its
// duplicate-detection entry (through DeleteCard's crash-safe steps), or
// one secret version. A record already gone, or not the merchant's, is
// success, so a purge cut off half-way can simply run again. A secret
// version's tombstone counts as gone and is left to its ttl.
func (s *Store) DeleteRecord(ctx context.Context, rec vault.SealedRecord) error {
	addr, err := recordAddressOf(rec)
	if err != nil {
		return err
	}
	if !addr.card {
		_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:                aws.String(s.table),
			Key:                      addr.key(),
			ConditionExpression:      aws.String("#m = :m AND attribute_exists(sealed)"),
			ExpressionAttributeNames: map[string]string{"#m": "merchant_id"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":m": &types.AttributeValueMemberS{Value: rec.Ref.MerchantID},
			},
		})
		return conditional("DeleteItem", err, nil)
	}

	// The index entry's key needs the card's customer and fingerprint,
	// which the listing does not carry.
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:            aws.String(s.table),
		Key:                  addr.key(),
		ProjectionExpression: aws.String("merchant_id, customer_id, fingerprint"),
		ConsistentRead:       aws.Bool(true),
	})
	if err != nil {
		return unavailable("GetItem", err)
	}
	if out.Item == nil {
		return nil
	}
	var it struct {
		MerchantID  string `dynamodbav:"merchant_id"`
		CustomerID  string `dynamodbav:"customer_id"`
		Fingerprint string `dynamodbav:"fingerprint"`
	}
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return corrupt("card", err)
	}
	if it.MerchantID != rec.Ref.MerchantID {
		return nil
	}
	err = s.DeleteCard(ctx, vault.CardRecord{
		Token:       rec.Ref.ID,
		MerchantID:  it.MerchantID,
		CustomerID:  it.CustomerID,
		Fingerprint: it.Fingerprint,
	})
	if errors.Is(err, vault.ErrNotFound) {
		return nil
	}
	return err
}

// recordAddress is where a listed record lives and what follows the key
// version in its index sort key.
type recordAddress struct {
	itemAddress
	card bool
	// indexID is the part of gsi1sk after "V#<key version>#".
	indexID string
}

// recordAddressOf reads SealedRecord.Key and checks it against the
// record's reference: a ciphertext is bound to its reference by the AAD,
// so writing it to any other item would make it unreadable.
func recordAddressOf(rec vault.SealedRecord) (recordAddress, error) {
	pk, sk, ok := strings.Cut(rec.Key, recordKeySep)
	mismatch := func() (recordAddress, error) {
		return recordAddress{}, vaulterr.Wrap(vaulterr.Internal, "internal error", errors.New("store: record key does not match its reference"))
	}
	if !ok || rec.Ref.ID == "" || rec.Ref.MerchantID == "" {
		return mismatch()
	}
	addr := itemAddress{PK: pk, SK: sk}
	switch rec.Ref.Type {
	case envelope.RecordCard:
		if pk != cardPK(rec.Ref.ID) || sk != cardSK {
			return mismatch()
		}
		return recordAddress{itemAddress: addr, card: true, indexID: keyPart(rec.Ref.ID)}, nil
	case envelope.RecordSecret:
		name, ok := strings.CutPrefix(pk, secretPrefix+keyPart(rec.Ref.MerchantID)+"#")
		if !ok || name == "" || strings.Contains(name, "#") {
			return mismatch()
		}
		version, ok := parseVersionKey(sk)
		if !ok || vault.SecretRecordID(unescapeKeyPart(name), version) != rec.Ref.ID {
			return mismatch()
		}
		return recordAddress{itemAddress: addr, indexID: secretPrefix + name + "#" + sk}, nil
	}
	return mismatch()
}
