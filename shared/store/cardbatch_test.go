package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

// handsBack answers every batch call as a throttled DynamoDB does: it
// processes only the first item or key of the call and hands the rest
// back unprocessed.
type handsBack struct {
	expressionsOnly
	calls atomic.Int64
}

func (h *handsBack) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	h.calls.Add(1)
	out := &dynamodb.BatchGetItemOutput{UnprocessedKeys: map[string]types.KeysAndAttributes{}}
	for table, ka := range in.RequestItems {
		first, rest := ka, ka
		first.Keys, rest.Keys = ka.Keys[:1], ka.Keys[1:]
		r, err := h.expressionsOnly.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{table: first}}, opts...)
		if err != nil {
			return nil, err
		}
		out.Responses = r.Responses
		if len(rest.Keys) > 0 {
			out.UnprocessedKeys[table] = rest
		}
	}
	return out, nil
}

func (h *handsBack) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	h.calls.Add(1)
	out := &dynamodb.BatchWriteItemOutput{UnprocessedItems: map[string][]types.WriteRequest{}}
	for table, writes := range in.RequestItems {
		if _, err := h.expressionsOnly.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: writes[:1]}}, opts...); err != nil {
			return nil, err
		}
		if len(writes) > 1 {
			out.UnprocessedItems[table] = writes[1:]
		}
	}
	return out, nil
}

// failsBatches fails every batch call with err.
type failsBatches struct {
	expressionsOnly
	err error
}

func (f failsBatches) BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return nil, f.err
}

func (f failsBatches) BatchWriteItem(context.Context, *dynamodb.BatchWriteItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	return nil, f.err
}

// itemCallsOnly has no batch calls, as a wrapper of DynamoAPI that only
// overrides item calls.
type itemCallsOnly struct {
	DynamoAPI
	puts atomic.Int64
}

func (i *itemCallsOnly) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	i.puts.Add(1)
	return i.DynamoAPI.PutItem(ctx, in, opts...)
}

func batchOf(n int) ([]vault.CardRecord, []vault.CardIndexEntry, []vault.CardIndexKey) {
	recs := make([]vault.CardRecord, n)
	entries := make([]vault.CardIndexEntry, n)
	keys := make([]vault.CardIndexKey, n)
	for i := range recs {
		recs[i] = sampleCard(fmt.Sprintf("tok_batch%03d", i))
		recs[i].Fingerprint = fmt.Sprintf("fp_%03d", i)
		keys[i] = vault.CardIndexKey{MerchantID: recs[i].MerchantID, CustomerID: recs[i].CustomerID, Fingerprint: recs[i].Fingerprint}
		entries[i] = vault.CardIndexEntry{Key: keys[i], Token: recs[i].Token, ExpiresAt: recs[i].ExpiresAt}
	}
	return recs, entries, keys
}

func checkBatchStored(t *testing.T, s *Store, recs []vault.CardRecord, keys []vault.CardIndexKey) {
	t.Helper()
	ctx := context.Background()
	tokens, err := s.CardIndexes(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range recs {
		got, err := s.Card(ctx, rec.Token)
		if err != nil || tokens[i] != rec.Token {
			t.Fatalf("row %d: card %v; entry %q", i, err, tokens[i])
		}
		sameCard(t, got, rec)
	}
}

// Items handed back unprocessed are sent again until every one is in.
func TestBatchCallsRetryUnprocessedItems(t *testing.T) {
	base := newTestStore(t)
	h := &handsBack{expressionsOnly: base.db.(expressionsOnly)}
	s := New(h, base.table)
	recs, entries, keys := batchOf(30)
	ctx := context.Background()
	if err := s.PutCards(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCardIndexes(ctx, entries); err != nil {
		t.Fatal(err)
	}
	// 30 items in chunks of 25 and 5, one item a call: 30 calls each.
	if n := h.calls.Load(); n != 60 {
		t.Fatalf("%d batch write calls, want 60", n)
	}
	checkBatchStored(t, s, recs, keys)
}

// A batch DynamoDB refuses as a request is ErrBatchRefused, for the
// vault to write its items one by one; a throttled or failed one is
// unavailable, like any failed call.
func TestBatchCallFailures(t *testing.T) {
	base := newTestStore(t)
	recs, entries, keys := batchOf(3)
	ctx := context.Background()
	refused := New(failsBatches{base.db.(expressionsOnly), &smithy.GenericAPIError{Code: "ValidationException", Message: "card number 4242 in the request"}}, base.table)
	throttled := New(failsBatches{base.db.(expressionsOnly), &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException"}}, base.table)
	for name, err := range map[string]error{
		"PutCards":       refused.PutCards(ctx, recs),
		"PutCardIndexes": refused.PutCardIndexes(ctx, entries),
	} {
		if !errors.Is(err, vault.ErrBatchRefused) || vaulterr.CodeOf(err) == vaulterr.Unavailable {
			t.Errorf("%s refused: %v, want ErrBatchRefused", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "4242") {
			t.Errorf("%s: the service's message reached the error: %v", name, err)
		}
	}
	_, getErr := throttled.CardIndexes(ctx, keys)
	for name, err := range map[string]error{
		"PutCards":       throttled.PutCards(ctx, recs),
		"PutCardIndexes": throttled.PutCardIndexes(ctx, entries),
		"CardIndexes":    getErr,
	} {
		if errors.Is(err, vault.ErrBatchRefused) || vaulterr.CodeOf(err) != vaulterr.Unavailable {
			t.Errorf("%s throttled: %v, want unavailable", name, err)
		}
	}
}

// A client without batch calls is served one item a call, with the same
// result.
func TestBatchWritesOverItemCalls(t *testing.T) {
	base := newTestStore(t)
	items := &itemCallsOnly{DynamoAPI: base.db}
	s := New(items, base.table)
	recs, entries, keys := batchOf(7)
	ctx := context.Background()
	if err := s.PutCards(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCardIndexes(ctx, entries); err != nil {
		t.Fatal(err)
	}
	if n := items.puts.Load(); n != 14 {
		t.Fatalf("%d PutItem calls, want 14", n)
	}
	checkBatchStored(t, s, recs, keys)
	tokens, err := s.CardIndexes(ctx, append(keys, vault.CardIndexKey{MerchantID: "m_123", Fingerprint: "fp_none"}))
	if err != nil || len(tokens) != 8 || tokens[7] != "" {
		t.Fatalf("CardIndexes over item calls: %v, %v", tokens, err)
	}
}

// processesNothing hands every write back unprocessed.
type processesNothing struct{ expressionsOnly }

func (processesNothing) BatchWriteItem(_ context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	return &dynamodb.BatchWriteItemOutput{UnprocessedItems: in.RequestItems}, nil
}

// Items DynamoDB keeps handing back fail the batch, unavailable, once
// the retries stop making progress.
func TestBatchWritesGiveUpWithoutProgress(t *testing.T) {
	base := newTestStore(t)
	s := New(processesNothing{base.db.(expressionsOnly)}, base.table)
	recs, _, _ := batchOf(2)
	if err := s.PutCards(context.Background(), recs); vaulterr.CodeOf(err) != vaulterr.Unavailable || errors.Is(err, vault.ErrBatchRefused) {
		t.Fatalf("PutCards never processed: %v, want unavailable", err)
	}
}
