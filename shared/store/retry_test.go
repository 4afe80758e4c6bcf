package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/vault"
)

// lostAnswer performs every PutItem twice, returning the second answer: a
// write that reached DynamoDB but whose answer was lost, then retried by
// the SDK with the very same input.
type lostAnswer struct{ DynamoAPI }

func (l lostAnswer) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if _, err := l.DynamoAPI.PutItem(ctx, in, opts...); err != nil {
		return nil, err
	}
	return l.DynamoAPI.PutItem(ctx, in, opts...)
}

func TestRetriedCreatesDoNotConflictWithThemselves(t *testing.T) {
	base := newTestStore(t)
	s := New(lostAnswer{base.db}, base.table)
	ctx := context.Background()

	if err := s.CreateCard(ctx, sampleCard("tok_retry")); err != nil {
		t.Errorf("CreateCard retried: %v", err)
	}
	if _, err := s.ClaimCardIndex(ctx, vault.CardIndexKey{MerchantID: "m", Fingerprint: "fp"}, "tok_retry", time.Time{}); err != nil {
		t.Errorf("ClaimCardIndex retried: %v", err)
	}
	if err := s.Consume(ctx, "iss", "jti", time.Now().Add(time.Minute)); err != nil {
		t.Errorf("Consume retried: %v", err)
	}
	if err := s.CreateKey(ctx, sampleKey("m", 1)); err != nil {
		t.Errorf("CreateKey retried: %v", err)
	}
	if err := s.CreateSecretVersion(ctx, sampleSecret("n", 1)); err != nil {
		t.Errorf("CreateSecretVersion retried: %v", err)
	}

	// A different request is still refused.
	if err := base.Consume(ctx, "iss", "jti", time.Now().Add(time.Minute)); !errors.Is(err, vault.ErrReplayed) {
		t.Errorf("a second request with the same jti = %v, want ErrReplayed", err)
	}
	other := sampleKey("m", 1)
	other.Wrapped.Ciphertext = []byte("another wrap")
	if err := base.CreateKey(ctx, other); !errors.Is(err, envelope.ErrKeyExists) {
		t.Errorf("another writer's CreateKey = %v, want ErrKeyExists", err)
	}
}
