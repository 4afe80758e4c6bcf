package store

import (
	"context"
	"crypto/rand"
	"errors"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

// rotationItem is a merchant's re-encryption progress. It lives in the
// merchant's key partition under a sort key no key read matches.
type rotationItem struct {
	PK            string `dynamodbav:"pk"`
	SK            string `dynamodbav:"sk"`
	MerchantID    string `dynamodbav:"merchant_id"`
	Running       bool   `dynamodbav:"running"`
	TargetVersion uint32 `dynamodbav:"target_version"`
	StartedAt     string `dynamodbav:"started_at,omitempty"`
	PassStartedAt string `dynamodbav:"pass_started_at,omitempty"`
	Cursor        string `dynamodbav:"cursor,omitempty"`
	Reencrypted   int    `dynamodbav:"reencrypted"`
	PassMoved     int    `dynamodbav:"pass_moved"`
	Revision      int64  `dynamodbav:"revision"`
	// Attempt is random per SaveRotationState call, so an SDK retry of a
	// save whose answer was lost is told apart from a competing save.
	Attempt []byte `dynamodbav:"attempt"`
}

// RotationState reads the merchant's re-encryption progress (strongly
// consistent), or the zero state with MerchantID set if none was saved.
func (s *Store) RotationState(ctx context.Context, merchantID string) (vault.RotationState, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            itemKey(merchantKeyPK(merchantID), rotationSK),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return vault.RotationState{}, unavailable("GetItem", err)
	}
	if out.Item == nil {
		return vault.RotationState{MerchantID: merchantID}, nil
	}
	var it rotationItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return vault.RotationState{}, corrupt("rotation state", err)
	}
	st := vault.RotationState{
		MerchantID:    merchantID,
		Running:       it.Running,
		TargetVersion: it.TargetVersion,
		Cursor:        it.Cursor,
		Reencrypted:   it.Reencrypted,
		PassMoved:     it.PassMoved,
		Revision:      it.Revision,
	}
	if st.StartedAt, err = parseTime(it.StartedAt); err != nil {
		return vault.RotationState{}, corrupt("rotation state", err)
	}
	if st.PassStartedAt, err = parseTime(it.PassStartedAt); err != nil {
		return vault.RotationState{}, corrupt("rotation state", err)
	}
	return st, nil
}

// SaveRotationState writes st, with revision st.Revision+1, if the stored
// revision is still st.Revision (no state stored when it is 0); otherwise
// vault.ErrConflict, so of two workers advancing the same state one wins.
// The caller's next save passes st.Revision+1.
func (s *Store) SaveRotationState(ctx context.Context, st vault.RotationState) error {
	if st.MerchantID == "" || st.Revision < 0 {
		return vaulterr.Wrap(vaulterr.Internal, "internal error", errors.New("store: rotation state without merchant or with a negative revision"))
	}
	var attempt [16]byte
	_, _ = rand.Read(attempt[:]) // crypto/rand.Read never fails (Go 1.24+)
	item, err := attributevalue.MarshalMap(rotationItem{
		PK:            merchantKeyPK(st.MerchantID),
		SK:            rotationSK,
		MerchantID:    st.MerchantID,
		Running:       st.Running,
		TargetVersion: st.TargetVersion,
		StartedAt:     formatTime(st.StartedAt),
		PassStartedAt: formatTime(st.PassStartedAt),
		Cursor:        st.Cursor,
		Reencrypted:   st.Reencrypted,
		PassMoved:     st.PassMoved,
		Revision:      st.Revision + 1,
		Attempt:       attempt[:],
	})
	if err != nil {
		return corrupt("rotation state", err)
	}
	cond, names, values := rotationCondition(st.Revision, attempt[:])
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.table),
		Item:                      item,
		ConditionExpression:       cond,
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	return conditional("PutItem", err, vault.ErrConflict)
}

// rotationCondition is the condition of a save expecting the stored
// revision to be revision (no state stored when it is 0), or the stored
// attempt to be this save's own, which an SDK retry of a save whose answer
// was lost meets. The placeholders are only those the condition uses:
// DynamoDB refuses unused ones.
func rotationCondition(revision int64, attempt []byte) (cond *string, names map[string]string, values map[string]types.AttributeValue) {
	names = map[string]string{"#att": "attempt"}
	values = map[string]types.AttributeValue{":att": &types.AttributeValueMemberB{Value: attempt}}
	if revision == 0 {
		return aws.String("attribute_not_exists(pk) OR #att = :att"), names, values
	}
	names["#rev"] = "revision"
	values[":rev"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(revision, 10)}
	return aws.String("#rev = :rev OR #att = :att"), names, values
}
