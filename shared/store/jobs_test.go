package store

import (
	"context"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A batch's tokens are kept as one binary attribute, in order; a batch
// an older vault claimed, its tokens a list, still reads back as claimed,
// so a job begun before the change resumes with the same tokens.
func TestClaimedBatchTokensReadBackInEitherForm(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	tokens := []string{"tok_b", "tok_a", "4000001234567899", "tok_c"}
	if _, err := s.ClaimBatch(ctx, "job_new", 0, tokens); err != nil {
		t.Fatal(err)
	}
	again, err := s.ClaimBatch(ctx, "job_new", 0, []string{"tok_other"})
	if err != nil || !slices.Equal(again.Tokens, tokens) {
		t.Fatalf("re-claim: %v %v", again.Tokens, err)
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: itemKey(jobPK("job_new"), batchSK(0))})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := out.Item["token_list"].(*types.AttributeValueMemberB); !ok || out.Item["tokens"] != nil {
		t.Fatalf("stored batch: %v", out.Item)
	}

	old := make([]types.AttributeValue, len(tokens))
	for i, tok := range tokens {
		old[i] = &types.AttributeValueMemberS{Value: tok}
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: jobPK("job_old")}, "sk": &types.AttributeValueMemberS{Value: batchSK(3)},
		"tokens":  &types.AttributeValueMemberL{Value: old},
		"attempt": &types.AttributeValueMemberB{Value: []byte("a")},
		"ttl":     &types.AttributeValueMemberN{Value: "4102444800"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := s.ClaimBatch(ctx, "job_old", 3, []string{"tok_x", "tok_y", "tok_z", "tok_w"})
	if err != nil || !slices.Equal(claimed.Tokens, tokens) {
		t.Fatalf("older batch: %v %v", claimed.Tokens, err)
	}
	if err := s.SaveBatchResults(ctx, "job_old", 3, []byte("1,r,c,vaulted\n")); err != nil {
		t.Fatal(err)
	}
}
