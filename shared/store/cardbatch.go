package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

// batchAPI is the batch part of *dynamodb.Client. A client that lacks it
// (a test's wrapper of DynamoAPI that only overrides item calls) is
// served one item a call instead: the same strongly consistent reads and
// unconditional puts, so a wrapper sees every item the store touches.
type batchAPI interface {
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

var _ batchAPI = (*dynamodb.Client)(nil)

var _ vault.CardBatchStore = (*Store)(nil)

// DynamoDB's bounds on one batch call; how many calls of one batch are in
// flight at once (enough to keep a single-threaded dynalite busy while
// the next call is built and sent, few enough not to crowd out the other
// work sharing the table); and the pacing of calls that hand items back
// unprocessed (retries).
const (
	batchGetKeys    = 100
	batchPutItems   = 25
	batchInFlight   = 4
	batchAttempts   = 8
	batchBackoff    = 20 * time.Millisecond
	batchMaxBackoff = time.Second
)

// errUnprocessed is the cause when DynamoDB kept handing items back
// unprocessed (throttling) through every attempt; the batch is safe to
// run again.
var errUnprocessed = errors.New("batch items left unprocessed after every attempt")

// CardIndexes implements vault.CardBatchStore: the token of each key's
// live entry ("" for none or an expired one), read with strongly
// consistent BatchGetItem calls of up to 100 keys.
func (s *Store) CardIndexes(ctx context.Context, keys []vault.CardIndexKey) ([]string, error) {
	tokens := make([]string, len(keys))
	at := make(map[string][]int, len(keys))
	pks := make([]string, 0, len(keys))
	for i, k := range keys {
		pk := cardIndexPK(k.MerchantID, k.Fingerprint, k.CustomerID)
		if _, ok := at[pk]; !ok {
			pks = append(pks, pk) // a batch may not name a key twice
		}
		at[pk] = append(at[pk], i)
	}
	items, err := s.getItems(ctx, pks, cardIndexSK)
	if err != nil {
		return nil, err
	}
	now := s.now()
	for _, item := range items {
		var it cardIndexItem
		if err := attributevalue.UnmarshalMap(item, &it); err != nil {
			return nil, corrupt("card index entry", err)
		}
		if expired(it.TTL, now) {
			continue
		}
		for _, i := range at[it.PK] {
			tokens[i] = it.Token
		}
	}
	return tokens, nil
}

// PutCards implements vault.CardBatchStore: BatchWriteItem puts of up to
// 25 records, which overwrite whatever their tokens held.
func (s *Store) PutCards(ctx context.Context, recs []vault.CardRecord) error {
	items := make([]map[string]types.AttributeValue, len(recs))
	for i, rec := range recs {
		item, err := attributevalue.MarshalMap(newCardItem(rec))
		if err != nil {
			return corrupt("card", err)
		}
		items[i] = item
	}
	return s.putItems(ctx, items)
}

// PutCardIndexes implements vault.CardBatchStore: BatchWriteItem puts of
// up to 25 entries, which overwrite whatever their keys held.
func (s *Store) PutCardIndexes(ctx context.Context, entries []vault.CardIndexEntry) error {
	items := make([]map[string]types.AttributeValue, len(entries))
	for i, e := range entries {
		item, err := cardIndexEntry(e.Key, e.Token, e.ExpiresAt)
		if err != nil {
			return err
		}
		items[i] = item
	}
	return s.putItems(ctx, items)
}

// getItems reads the items (pk, sk) of distinct pks, strongly consistent;
// an item that does not exist is simply not returned.
func (s *Store) getItems(ctx context.Context, pks []string, sk string) ([]map[string]types.AttributeValue, error) {
	var (
		mu  sync.Mutex
		out []map[string]types.AttributeValue
	)
	keep := func(items ...map[string]types.AttributeValue) {
		mu.Lock()
		out = append(out, items...)
		mu.Unlock()
	}
	db, batched := s.db.(batchAPI)
	if !batched {
		err := inFlight(len(pks), 1, func(lo, _ int) error {
			r, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
				TableName:      aws.String(s.table),
				Key:            itemKey(pks[lo], sk),
				ConsistentRead: aws.Bool(true),
			})
			if err != nil {
				return unavailable("GetItem", err)
			}
			if r.Item != nil {
				keep(r.Item)
			}
			return nil
		})
		return out, err
	}
	err := inFlight(len(pks), batchGetKeys, func(lo, hi int) error {
		keys := make([]map[string]types.AttributeValue, 0, hi-lo)
		for _, pk := range pks[lo:hi] {
			keys = append(keys, itemKey(pk, sk))
		}
		var retry retries
		for len(keys) > 0 {
			if err := retry.wait(ctx, len(keys)); err != nil {
				return err
			}
			r, err := db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
				RequestItems: map[string]types.KeysAndAttributes{s.table: {Keys: keys, ConsistentRead: aws.Bool(true)}},
			})
			if err != nil {
				return batchCallError("BatchGetItem", err)
			}
			keep(r.Responses[s.table]...)
			keys = r.UnprocessedKeys[s.table].Keys
		}
		return nil
	})
	return out, err
}

// putItems puts items unconditionally; every one has a distinct key.
func (s *Store) putItems(ctx context.Context, items []map[string]types.AttributeValue) error {
	db, batched := s.db.(batchAPI)
	if !batched {
		return inFlight(len(items), 1, func(lo, _ int) error {
			_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: items[lo]})
			if err != nil {
				return batchCallError("PutItem", err)
			}
			return nil
		})
	}
	return inFlight(len(items), batchPutItems, func(lo, hi int) error {
		writes := make([]types.WriteRequest, 0, hi-lo)
		for _, item := range items[lo:hi] {
			writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		}
		var retry retries
		for len(writes) > 0 {
			if err := retry.wait(ctx, len(writes)); err != nil {
				return err
			}
			r, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
				RequestItems: map[string][]types.WriteRequest{s.table: writes},
			})
			if err != nil {
				return batchCallError("BatchWriteItem", err)
			}
			writes = r.UnprocessedItems[s.table]
		}
		return nil
	})
}

// batchCallError maps a failed batch call: DynamoDB refusing the request
// itself (a ValidationException, which does not say which item) is
// vault.ErrBatchRefused, for the caller to write the items one by one;
// anything else (throttling, 5xx, network) is unavailable, as for every
// other call.
func batchCallError(op string, err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "ValidationException" {
		return fmt.Errorf("%w: %w", vault.ErrBatchRefused, sanitize(op, err))
	}
	return unavailable(op, err)
}

// retries paces the calls of one batch: the first goes at once, and each
// one that comes back with items unprocessed (DynamoDB throttling them) is
// followed by a wait, exponentially longer (up to a second) the more calls
// in a row processed nothing. After batchAttempts such calls the batch
// fails, unavailable, and is run again later.
type retries struct {
	calls   int
	stalls  int
	pending int
}

func (r *retries) wait(ctx context.Context, pending int) error {
	defer func() { r.calls++; r.pending = pending }()
	if r.calls == 0 {
		return nil
	}
	if pending >= r.pending {
		r.stalls++
	} else {
		r.stalls = 0
	}
	if r.stalls >= batchAttempts {
		return vaulterr.Wrap(vaulterr.Unavailable, storageUnavailable, errUnprocessed)
	}
	t := time.NewTimer(min(batchBackoff<<r.stalls, batchMaxBackoff))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return unavailable("batch retry", ctx.Err())
	case <-t.C:
		return nil
	}
}

// inFlight calls fn on the chunks [lo, hi) of n items, size items each,
// batchInFlight chunks at a time, and returns the first error. Chunks not
// started when one fails are not started at all.
func inFlight(n, size int, fn func(lo, hi int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return first != nil
	}
	slots := make(chan struct{}, batchInFlight)
	for lo := 0; lo < n && !failed(); lo += size {
		hi := min(lo+size, n)
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			if err := fn(lo, hi); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}
