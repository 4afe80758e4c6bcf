package store

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cardvault/vault/shared/vault"
)

var _ vault.SecretStore = (*Store)(nil)

// secretItem is one version of a merchant secret: sealed value, masked
// hint and non-secret metadata. Versions of one secret share a partition,
// sorted by version.
type secretItem struct {
	PK         string            `dynamodbav:"pk"`
	SK         string            `dynamodbav:"sk"`
	MerchantID string            `dynamodbav:"merchant_id"`
	Name       string            `dynamodbav:"name"`
	Version    uint32            `dynamodbav:"version"`
	Sealed     []byte            `dynamodbav:"sealed"`
	KeyVersion uint32            `dynamodbav:"key_version"`
	Masked     string            `dynamodbav:"masked,omitempty"`
	Metadata   map[string]string `dynamodbav:"metadata,omitempty"`
	CreatedAt  string            `dynamodbav:"created_at"`
	UpdatedAt  string            `dynamodbav:"updated_at"`
	GSI1PK     string            `dynamodbav:"gsi1pk"`
	GSI1SK     string            `dynamodbav:"gsi1sk"`
}

func (it secretItem) record() (vault.SecretRecord, error) {
	rec := vault.SecretRecord{
		MerchantID: it.MerchantID,
		Name:       it.Name,
		Version:    it.Version,
		Sealed:     it.Sealed,
		KeyVersion: it.KeyVersion,
		Masked:     it.Masked,
		Metadata:   it.Metadata,
	}
	var err error
	if rec.CreatedAt, err = parseTime(it.CreatedAt); err != nil {
		return vault.SecretRecord{}, corrupt("secret", err)
	}
	if rec.UpdatedAt, err = parseTime(it.UpdatedAt); err != nil {
		return vault.SecretRecord{}, corrupt("secret", err)
	}
	return rec, nil
}

// LatestSecret returns the newest version of a secret, or
// vault.ErrNotFound.
func (s *Store) LatestSecret(ctx context.Context, merchantID, name string) (vault.SecretRecord, error) {
	item, err := s.newestVersion(ctx, secretPK(merchantID, name))
	if err != nil {
		return vault.SecretRecord{}, err
	}
	if item == nil {
		return vault.SecretRecord{}, vault.ErrNotFound
	}
	var it secretItem
	if err := attributevalue.UnmarshalMap(item, &it); err != nil {
		return vault.SecretRecord{}, corrupt("secret", err)
	}
	return it.record()
}

// CreateSecretVersion stores a new version unless it exists
// (vault.ErrConflict): of two concurrent puts of version n, one wins. An
// item with the very same ciphertext is this write already done, so an SDK
// retry after a lost answer succeeds.
func (s *Store) CreateSecretVersion(ctx context.Context, rec vault.SecretRecord) error {
	item, err := attributevalue.MarshalMap(secretItem{
		PK:         secretPK(rec.MerchantID, rec.Name),
		SK:         versionKey(rec.Version),
		MerchantID: rec.MerchantID,
		Name:       rec.Name,
		Version:    rec.Version,
		Sealed:     rec.Sealed,
		KeyVersion: rec.KeyVersion,
		Masked:     rec.Masked,
		Metadata:   rec.Metadata,
		CreatedAt:  formatTime(rec.CreatedAt),
		UpdatedAt:  formatTime(rec.UpdatedAt),
		GSI1PK:     merchantIndexPK(rec.MerchantID, shardOf(rec.Name)),
		GSI1SK:     secretGSI1SK(rec.KeyVersion, rec.Name, rec.Version),
	})
	if err != nil {
		return corrupt("secret", err)
	}
	return s.putOnce(ctx, item, "sealed", rec.Sealed, vault.ErrConflict)
}

// PruneSecretVersions deletes the versions older than keepFrom. It is
// idempotent: a version already gone is simply not found again. Each put
// prunes, so normally the only version to delete is keepFrom-1: it is
// deleted by its key while one query looks for older leftovers (of a put
// whose prune failed), so a prune costs one round trip, not a query and
// then the deletes. Versions put meanwhile are above keepFrom and are
// never touched.
func (s *Store) PruneSecretVersions(ctx context.Context, merchantID, name string, keepFrom uint32) error {
	if keepFrom == 0 {
		return nil
	}
	pk := secretPK(merchantID, name)
	var deleteErr, leftoverErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: itemKey(pk, versionKey(keepFrom-1))})
		if err != nil {
			deleteErr = unavailable("DeleteItem", err)
		}
	})
	if keepFrom > 1 {
		_, leftoverErr = s.deleteSecretVersions(ctx, pk, versionKey(keepFrom-2))
	}
	wg.Wait()
	if deleteErr != nil {
		return deleteErr
	}
	return leftoverErr
}

// DeleteSecretVersion deletes the version rec names if it still holds
// rec.Sealed, and does nothing otherwise: a version is written once, so
// another ciphertext there means another put owns it.
func (s *Store) DeleteSecretVersion(ctx context.Context, rec vault.SecretRecord) error {
	if len(rec.Sealed) == 0 {
		return nil
	}
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:           aws.String(s.table),
		Key:                 itemKey(secretPK(rec.MerchantID, rec.Name), versionKey(rec.Version)),
		ConditionExpression: aws.String("sealed = :s"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":s": &types.AttributeValueMemberB{Value: rec.Sealed},
		},
	})
	return conditional("DeleteItem", err, nil)
}

// DeleteSecret deletes every version of a secret; vault.ErrNotFound if
// there was none. Versions put while it runs are deleted too: it repeats
// until a query finds nothing left.
func (s *Store) DeleteSecret(ctx context.Context, merchantID, name string) error {
	n, err := s.deleteSecretVersions(ctx, secretPK(merchantID, name), versionKey(^uint32(0)))
	if err != nil {
		return err
	}
	if n == 0 {
		return vault.ErrNotFound
	}
	return nil
}

// deleteSecretVersions deletes the versions of pk up to and including
// sort key upTo, until none is left, and returns how many it deleted.
func (s *Store) deleteSecretVersions(ctx context.Context, pk, upTo string) (int, error) {
	deleted := 0
	for {
		out, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:              aws.String(s.table),
			KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
			ProjectionExpression:   aws.String("pk, sk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": &types.AttributeValueMemberS{Value: pk},
				":lo": &types.AttributeValueMemberS{Value: versionKey(0)},
				":hi": &types.AttributeValueMemberS{Value: upTo},
			},
			ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return deleted, unavailable("Query", err)
		}
		if len(out.Items) == 0 {
			return deleted, nil
		}
		// The versions found are deleted at once: one round trip for the
		// page, however many versions it holds.
		errs := make([]error, len(out.Items))
		var wg sync.WaitGroup
		for i, key := range out.Items {
			wg.Go(func() {
				if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: key}); err != nil {
					errs[i] = unavailable("DeleteItem", err)
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return deleted, err
			}
			deleted++
		}
	}
}
