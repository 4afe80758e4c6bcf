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
// sorted by version. A tombstone keeps only the keys, merchant_id, name,
// version, tombstone and ttl.
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
	Tombstone  string            `dynamodbav:"tombstone,omitempty"`
}

// A tombstone's kind. A pruned version (or one taken back) went alone:
// the version below it may be live. A deleted one went with every version
// below it (delete_secret), so a read looking for the newest live version
// stops at it.
const (
	tombstonePruned  = "pruned"
	tombstoneDeleted = "deleted"
)

// secretTombstoneUpdate turns a version into a tombstone: every attribute
// that says anything of the value goes (ciphertext, mask, metadata, key
// version, times), and so do the by_merchant index keys, so the entry
// leaves the index (which would otherwise project the rest). The item, its
// number and the merchant stay, with a ttl.
const secretTombstoneUpdate = "SET tombstone = :kind, #ttl = :ttl " +
	"REMOVE sealed, masked, metadata, key_version, created_at, updated_at, gsi1pk, gsi1sk"

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

// LatestSecret returns the newest live version of a secret, or
// vault.ErrNotFound.
func (s *Store) LatestSecret(ctx context.Context, merchantID, name string) (vault.SecretRecord, error) {
	head, err := s.SecretHead(ctx, merchantID, name)
	if err != nil {
		return vault.SecretRecord{}, err
	}
	if !head.Live {
		return vault.SecretRecord{}, vault.ErrNotFound
	}
	return head.Latest, nil
}

// tombstonePage is how many items a read of the newest version asks for
// once its first item was a tombstone: tombstones are some 150 bytes, so a
// page of them is one read unit.
const tombstonePage = 16

// SecretHead reads the secret's versions newest first, strongly
// consistent, until the first live one. The first query asks for one
// item: the newest is live but for a put taken back or a deleted secret,
// and a query with Limit 1 and a filter would answer nothing at all when
// that one item is a tombstone (DynamoDB applies Limit before the filter).
// Below a pruned tombstone the walk goes on; at a deleted one it stops, as
// everything below it was deleted too.
func (s *Store) SecretHead(ctx context.Context, merchantID, name string) (vault.SecretHead, error) {
	in := &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: secretPK(merchantID, name)},
			":lo": &types.AttributeValueMemberS{Value: versionKey(0)},
			":hi": &types.AttributeValueMemberS{Value: versionKey(^uint32(0))},
		},
		ScanIndexForward: aws.Bool(false),
		Limit:            aws.Int32(1),
		ConsistentRead:   aws.Bool(true),
	}
	var head vault.SecretHead
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return vault.SecretHead{}, unavailable("Query", err)
		}
		for _, item := range out.Items {
			var it secretItem
			if err := attributevalue.UnmarshalMap(item, &it); err != nil {
				return vault.SecretHead{}, corrupt("secret", err)
			}
			if head.Top == 0 {
				head.Top = it.Version
			}
			switch it.Tombstone {
			case "":
				if head.Latest, err = it.record(); err != nil {
					return vault.SecretHead{}, err
				}
				head.Live = true
				return head, nil
			case tombstoneDeleted:
				return head, nil
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return head, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
		in.Limit = aws.Int32(tombstonePage)
	}
}

// CreateSecretVersion stores a new version unless its number is taken
// (vault.ErrConflict), by a version or by a tombstone: of two concurrent
// puts of version n, one wins, and a put holding an old read cannot
// recreate a version pruned since. An item with the very same ciphertext
// is this write already done, so an SDK retry after a lost answer
// succeeds.
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

// tombstoneSecret turns the live version at key into a tombstone of kind;
// a version that is no longer live (a tombstone already, or never
// written: the update never creates an item) is left as it is, and
// reported by gone. With own set, only the version still holding that
// ciphertext is touched.
func (s *Store) tombstoneSecret(ctx context.Context, key map[string]types.AttributeValue, kind string, own []byte) (gone bool, err error) {
	cond := "attribute_exists(sealed)"
	values := map[string]types.AttributeValue{
		":kind": &types.AttributeValueMemberS{Value: kind},
		":ttl":  epochValue(s.now().Add(vault.SecretTombstoneLifetime)),
	}
	if len(own) > 0 {
		cond = "sealed = :own"
		values[":own"] = &types.AttributeValueMemberB{Value: own}
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key,
		UpdateExpression:          aws.String(secretTombstoneUpdate),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  map[string]string{"#ttl": attrTTL},
		ExpressionAttributeValues: values,
	})
	if conditionFailed(err) {
		return true, nil
	}
	if err != nil {
		return false, unavailable("UpdateItem", err)
	}
	return false, nil
}

// leftoverWindow is how many versions below the one a prune retires it
// looks at for leftovers: versions a put wrote past but failed to prune.
// Each put looks, so a leftover goes with the next prune that succeeds
// unless that many prunes in a row failed. The window is bounded because
// tombstones stay for SecretTombstoneLifetime (and until the TTL sweep):
// reading all of them on every put would cost what a secret's history
// does.
const leftoverWindow = 8

// PruneSecretVersions turns the versions older than keepFrom into
// tombstones. It is idempotent: a tombstone is left as it is. Each put
// prunes, so normally the only version to retire is keepFrom-1: it is
// retired by its key while one query looks for leftovers among the
// leftoverWindow versions below it, so a prune costs one round trip, not a
// query and then the updates. Versions put meanwhile are above keepFrom
// and are never touched.
func (s *Store) PruneSecretVersions(ctx context.Context, merchantID, name string, keepFrom uint32) error {
	if keepFrom == 0 {
		return nil
	}
	pk := secretPK(merchantID, name)
	var pruneErr, leftoverErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		_, pruneErr = s.tombstoneSecret(ctx, itemKey(pk, versionKey(keepFrom-1)), tombstonePruned, nil)
	})
	if keepFrom > 1 {
		leftoverErr = s.pruneLeftovers(ctx, pk, keepFrom-2)
	}
	wg.Wait()
	if pruneErr != nil {
		return pruneErr
	}
	return leftoverErr
}

// pruneLeftovers retires the live versions among the leftoverWindow
// versions at and below upTo. The filter drops tombstones after the Limit,
// so the query reads at most that many items whatever it finds.
func (s *Store) pruneLeftovers(ctx context.Context, pk string, upTo uint32) error {
	in := s.liveVersionKeys(pk, upTo)
	in.ScanIndexForward, in.Limit = aws.Bool(false), aws.Int32(leftoverWindow)
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return unavailable("Query", err)
	}
	_, err = s.tombstoneAll(ctx, out.Items, tombstonePruned)
	return err
}

// tombstoneAll retires the versions at keys at once, one round trip
// however many there are, and answers how many it found live.
func (s *Store) tombstoneAll(ctx context.Context, keys []map[string]types.AttributeValue, kind string) (int, error) {
	errs := make([]error, len(keys))
	gone := make([]bool, len(keys))
	var wg sync.WaitGroup
	for i, key := range keys {
		wg.Go(func() { gone[i], errs[i] = s.tombstoneSecret(ctx, key, kind, nil) })
	}
	wg.Wait()
	live := 0
	for i, err := range errs {
		if err != nil {
			return live, err
		}
		if !gone[i] {
			live++
		}
	}
	return live, nil
}

// DeleteSecretVersion turns the version rec names into a tombstone if it
// still holds rec.Sealed, and does nothing otherwise: a version is written
// once, so another ciphertext there means another put owns it (or it is a
// tombstone already). It is a tombstone, not a delete, for the reason a
// prune is: a put that read the version before could recreate its number
// once later versions exist.
func (s *Store) DeleteSecretVersion(ctx context.Context, rec vault.SecretRecord) error {
	if len(rec.Sealed) == 0 {
		return nil
	}
	_, err := s.tombstoneSecret(ctx, itemKey(secretPK(rec.MerchantID, rec.Name), versionKey(rec.Version)), tombstonePruned, rec.Sealed)
	return err
}

// DeleteSecret turns every live version of a secret into a deleted
// tombstone; vault.ErrNotFound if there was none. Versions put while it
// runs are deleted too: it walks the versions again until a walk finds
// none live. The walk reads the tombstones too (the filter drops them
// after they are read): delete_secret costs what the secret's recent
// history does, some 27 tombstones to a read unit.
func (s *Store) DeleteSecret(ctx context.Context, merchantID, name string) error {
	pk := secretPK(merchantID, name)
	deleted := 0
	for {
		n, err := s.deleteLiveVersions(ctx, pk)
		deleted += n
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	if deleted == 0 {
		return vault.ErrNotFound
	}
	return nil
}

// liveVersionKeys queries the keys of pk's live versions numbered up to
// upTo (strongly consistent; tombstones are filtered out).
func (s *Store) liveVersionKeys(pk string, upTo uint32) *dynamodb.QueryInput {
	return &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
		FilterExpression:       aws.String("attribute_exists(sealed)"),
		ProjectionExpression:   aws.String("pk, sk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: pk},
			":lo": &types.AttributeValueMemberS{Value: versionKey(0)},
			":hi": &types.AttributeValueMemberS{Value: versionKey(upTo)},
		},
		ConsistentRead: aws.Bool(true),
	}
}

// deleteLiveVersions retires every live version of pk and answers how
// many it found live. The newest is retired last, once every other one
// is: the newest live version's `deleted` tombstone is what tells a read
// that nothing below it is live, so it must never stand while an older
// version still holds its value (a delete cut off half way, then tried
// again, would otherwise find nothing to delete and leave that version to
// be served again once the tombstone expires).
func (s *Store) deleteLiveVersions(ctx context.Context, pk string) (int, error) {
	in := s.liveVersionKeys(pk, ^uint32(0))
	var keys []map[string]types.AttributeValue // oldest first, as the query reads
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return 0, unavailable("Query", err)
		}
		keys = append(keys, out.Items...)
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	if len(keys) == 0 {
		return 0, nil
	}
	older, err := s.tombstoneAll(ctx, keys[:len(keys)-1], tombstoneDeleted)
	if err != nil {
		return older, err
	}
	newest, err := s.tombstoneAll(ctx, keys[len(keys)-1:], tombstoneDeleted)
	return older + newest, err
}
