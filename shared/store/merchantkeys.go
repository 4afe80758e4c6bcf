package store

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cardvault/vault/shared/envelope"
)

// merchantKeyItem is one version of a merchant's key bundle, wrapped by
// the master key; the plaintext never reaches the table.
type merchantKeyItem struct {
	PK          string `dynamodbav:"pk"`
	SK          string `dynamodbav:"sk"`
	Version     uint32 `dynamodbav:"version"`
	Wrapped     []byte `dynamodbav:"wrapped"`
	MasterKeyID string `dynamodbav:"master_key_id"`
	State       string `dynamodbav:"state"`
	CreatedAt   string `dynamodbav:"created_at"`
}

func (it merchantKeyItem) storedKey(merchantID string) (envelope.StoredKey, error) {
	created, err := parseTime(it.CreatedAt)
	if err != nil {
		return envelope.StoredKey{}, corrupt("merchant key", err)
	}
	return envelope.StoredKey{
		MerchantID: merchantID,
		Version:    it.Version,
		Wrapped:    envelope.WrappedKey{MasterKeyID: it.MasterKeyID, Ciphertext: it.Wrapped},
		State:      envelope.KeyState(it.State),
		CreatedAt:  created,
	}, nil
}

// LatestKey returns the merchant's highest key version, or
// envelope.ErrNoKey, or envelope.ErrShredded once the merchant was
// shredded. Versions sort numerically as strings (zero-padded) and the
// shred tombstone sorts after all of them, so this is one strongly
// consistent single-item query either way.
func (s *Store) LatestKey(ctx context.Context, merchantID string) (envelope.StoredKey, error) {
	item, err := s.newestVersion(ctx, merchantKeyPK(merchantID))
	if err != nil {
		return envelope.StoredKey{}, err
	}
	if item == nil {
		return envelope.StoredKey{}, envelope.ErrNoKey
	}
	if sk, ok := item[attrSK].(*types.AttributeValueMemberS); ok && sk.Value == shreddedSK {
		return envelope.StoredKey{}, envelope.ErrShredded
	}
	return decodeMerchantKey(item, merchantID)
}

// newestVersion reads the item of pk with the highest "V#" sort key, or
// nil when there is none: the newest key version (or the shred tombstone,
// which sorts after every version). Versions are zero-padded, so one
// strongly consistent descending query of one item finds it. (Secret
// versions have their own walk, SecretHead, which passes tombstones.)
func (s *Store) newestVersion(ctx context.Context, pk string) (map[string]types.AttributeValue, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :v)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: pk},
			":v":  &types.AttributeValueMemberS{Value: versionPrefix},
		},
		ScanIndexForward: aws.Bool(false),
		Limit:            aws.Int32(1),
		ConsistentRead:   aws.Bool(true),
	})
	if err != nil {
		return nil, unavailable("Query", err)
	}
	if len(out.Items) == 0 {
		return nil, nil
	}
	return out.Items[0], nil
}

// KeyVersion returns one version of the merchant's key, or
// envelope.ErrNoKey.
func (s *Store) KeyVersion(ctx context.Context, merchantID string, version uint32) (envelope.StoredKey, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            itemKey(merchantKeyPK(merchantID), versionKey(version)),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return envelope.StoredKey{}, unavailable("GetItem", err)
	}
	if out.Item == nil {
		return envelope.StoredKey{}, envelope.ErrNoKey
	}
	return decodeMerchantKey(out.Item, merchantID)
}

// CreateKey stores a new key version unless it exists
// (envelope.ErrKeyExists): of two writers racing to create the same
// version, one wins and the other reads the winner's key. An item with the
// very same wrapped key is this write already done (every wrap is
// randomised), so an SDK retry after a lost answer succeeds.
//
// The merchant enters the directory first (an idempotent write), so that
// no crash between the two writes can leave a merchant with keys that
// scheduled rotation never visits.
//
// A version created while the merchant is being shredded is removed again
// and answers envelope.ErrShredded: the shredder marks the merchant before
// listing its versions, and this create checks the mark after its write,
// so whichever comes second sees the other and no key survives a shred.
func (s *Store) CreateKey(ctx context.Context, key envelope.StoredKey) error {
	item, err := attributevalue.MarshalMap(merchantKeyItem{
		PK:          merchantKeyPK(key.MerchantID),
		SK:          versionKey(key.Version),
		Version:     key.Version,
		Wrapped:     key.Wrapped.Ciphertext,
		MasterKeyID: key.Wrapped.MasterKeyID,
		State:       string(key.State),
		CreatedAt:   formatTime(key.CreatedAt),
	})
	if err != nil {
		return corrupt("merchant key", err)
	}
	if err := s.enterDirectory(ctx, key.MerchantID); err != nil {
		return err
	}
	if err := s.putOnce(ctx, item, "wrapped", key.Wrapped.Ciphertext, envelope.ErrKeyExists); err != nil {
		return err
	}
	shredded, err := s.Shredded(ctx, key.MerchantID)
	if err != nil {
		return err
	}
	if shredded {
		if err := s.DestroyKey(ctx, key.MerchantID, key.Version); err != nil {
			return err
		}
		return envelope.ErrShredded
	}
	return nil
}

func decodeMerchantKey(av map[string]types.AttributeValue, merchantID string) (envelope.StoredKey, error) {
	var it merchantKeyItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return envelope.StoredKey{}, corrupt("merchant key", err)
	}
	return it.storedKey(merchantID)
}
