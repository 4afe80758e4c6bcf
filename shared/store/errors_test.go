package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/internal/dynalite"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

func TestMissingTableIsUnavailable(t *testing.T) {
	s := New(NewLocalClient(dynalite.ForTest(t)), "no-such-table")
	ctx := context.Background()
	rec := sampleCard("tok_x")
	calls := map[string]error{
		"CreateCard":  s.CreateCard(ctx, rec),
		"ReplaceCard": s.ReplaceCard(ctx, rec),
		"Consume":     s.Consume(ctx, "iss", "jti", time.Now().Add(time.Minute)),
		"CreateKey":   s.CreateKey(ctx, sampleKey("m_1", 1)),
	}
	_, calls["Card"] = s.Card(ctx, "tok_x")
	_, calls["ClaimCardIndex"] = s.ClaimCardIndex(ctx, vault.CardIndexKey{MerchantID: "m", Fingerprint: "fp"}, "tok_x", time.Time{})
	_, calls["LatestKey"] = s.LatestKey(ctx, "m_1")
	_, calls["KeyVersion"] = s.KeyVersion(ctx, "m_1", 1)
	_, calls["ScanAll"] = s.ScanAll(ctx)
	calls["DeleteCard"] = s.DeleteCard(ctx, rec)
	calls["TakeOverCardIndex"] = s.TakeOverCardIndex(ctx, vault.CardIndexKey{MerchantID: "m", Fingerprint: "fp"}, "tok_x", "tok_y", time.Time{})
	calls["CreateSecretVersion"] = s.CreateSecretVersion(ctx, sampleSecret("n", 1))
	calls["PruneSecretVersions"] = s.PruneSecretVersions(ctx, "m_1", "n", 2)
	calls["DeleteSecret"] = s.DeleteSecret(ctx, "m_1", "n")
	_, calls["LatestSecret"] = s.LatestSecret(ctx, "m_1", "n")
	_, calls["PurgeExpired"] = s.PurgeExpired(ctx, time.Now(), 10)
	for name, err := range calls {
		if code := vaulterr.CodeOf(err); code != vaulterr.Unavailable {
			t.Errorf("%s on a missing table: code %s (%v), want unavailable", name, code, err)
		}
	}
}

// failingDB answers every call with a service error whose message quotes
// the request, as a ValidationException can.
type failingDB struct {
	DynamoAPI
	err error
}

func (f failingDB) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return nil, f.err
}

func (f failingDB) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return nil, f.err
}

func TestErrorsCarryNoItemContents(t *testing.T) {
	const leaked = "fp_secretish 4242424242424242"
	s := New(failingDB{err: &smithy.GenericAPIError{Code: "ValidationException", Message: "bad value " + leaked}}, "t")
	ctx := context.Background()
	rec := sampleCard("tok_x")
	rec.Fingerprint = leaked

	err := s.CreateCard(ctx, rec)
	if vaulterr.CodeOf(err) != vaulterr.Unavailable {
		t.Fatalf("CreateCard = %v, want unavailable", err)
	}
	if strings.Contains(err.Error(), leaked) {
		t.Fatalf("error quotes the request: %v", err)
	}
	if !strings.Contains(err.Error(), "ValidationException") {
		t.Errorf("error lost the DynamoDB error code: %v", err)
	}
}

func TestContextErrorsStayVisible(t *testing.T) {
	s := New(failingDB{err: &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "GetItem", Err: context.DeadlineExceeded}}, "t")
	_, err := s.KeyVersion(context.Background(), "m", 1)
	if vaulterr.CodeOf(err) != vaulterr.Unavailable || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("KeyVersion = %v, want unavailable wrapping the deadline", err)
	}
	if errors.Is(err, envelope.ErrNoKey) {
		t.Fatal("a failed read reported as a missing key")
	}
}

// conditional keeps the three outcomes of a conditional write apart: a lost
// condition is the caller's domain answer (or success when it has none),
// and only other failures become unavailable.
func TestConditionalMapsEachOutcome(t *testing.T) {
	lostCondition := &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "PutItem", Err: &types.ConditionalCheckFailedException{}}
	throttled := &smithy.GenericAPIError{Code: "ThrottlingException"}
	if err := conditional("PutItem", nil, vault.ErrConflict); err != nil {
		t.Errorf("success = %v, want nil", err)
	}
	if err := conditional("PutItem", lostCondition, vault.ErrConflict); err != vault.ErrConflict {
		t.Errorf("lost condition = %v, want the caller's answer", err)
	}
	if err := conditional("DeleteItem", lostCondition, nil); err != nil {
		t.Errorf("lost condition with no answer = %v, want nil", err)
	}
	for _, lost := range []error{vault.ErrConflict, nil} {
		err := conditional("PutItem", throttled, lost)
		if vaulterr.CodeOf(err) != vaulterr.Unavailable || !strings.Contains(err.Error(), "ThrottlingException") {
			t.Errorf("failure with lost=%v = %v, want unavailable keeping the code", lost, err)
		}
	}
}
