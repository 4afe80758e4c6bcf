package store

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// putOnce puts item unless an item with its key exists, and answers
// conflict if one does. An existing item whose ciphertext attribute (attr)
// equals own is this very write already done, not a conflict.
func (s *Store) putOnce(ctx context.Context, item map[string]types.AttributeValue, attr string, own []byte, conflict error) error {
	cond, names, values := createOnce(attr, own)
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.table),
		Item:                      item,
		ConditionExpression:       cond,
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	return conditional("PutItem", err, conflict)
}

// createOnce is the condition of a put that creates an item unless it
// exists, where an existing item whose ciphertext attribute equals own is
// this very write already done. The SDK retries a put whose answer was
// lost (a timeout, a 500 after the write); without this, that retry would
// conflict with its own first attempt. Ciphertexts are randomised (fresh
// nonce or KMS wrap per call), so no other writer can match.
// The attribute goes through a name placeholder: some names (wrapped) are
// DynamoDB reserved words.
func createOnce(attr string, own []byte) (cond *string, names map[string]string, values map[string]types.AttributeValue) {
	if len(own) == 0 {
		// DynamoDB refuses an empty binary value; nothing to match.
		return aws.String("attribute_not_exists(pk)"), nil, nil
	}
	return aws.String("attribute_not_exists(pk) OR #own = :own"),
		map[string]string{"#own": attr},
		map[string]types.AttributeValue{":own": &types.AttributeValueMemberB{Value: own}}
}
