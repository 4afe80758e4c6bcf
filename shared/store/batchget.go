package store

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/cardvault/vault/shared/vaulterr"
)

// batchGetMax is DynamoDB's limit of keys per BatchGetItem call.
const batchGetMax = 100

// batchGetParallel bounds the BatchGetItem calls of one page in flight at
// once: a page of 500 keys is five calls, read together.
const batchGetParallel = 4

// Unprocessed keys (DynamoDB throttling part of a batch) are asked for
// again after a short, growing pause; a chunk fails once that many
// successive calls in a row processed none of its keys.
const (
	unprocessedStalls    = 8
	unprocessedBaseDelay = 10 * time.Millisecond
	unprocessedMaxDelay  = 500 * time.Millisecond
)

// projection is a ProjectionExpression with its name placeholders.
type projection struct {
	expr  string
	names map[string]string
}

// batchGet reads the items at keys with strongly consistent reads and
// returns those that exist, by address. Missing items are simply absent.
func (s *Store) batchGet(ctx context.Context, keys []itemAddress, proj projection) (map[itemAddress]map[string]types.AttributeValue, error) {
	found := make(map[itemAddress]map[string]types.AttributeValue, len(keys))
	if len(keys) == 0 {
		return found, nil
	}
	chunks := make([][]map[string]types.AttributeValue, 0, (len(keys)+batchGetMax-1)/batchGetMax)
	for start := 0; start < len(keys); start += batchGetMax {
		chunk := make([]map[string]types.AttributeValue, 0, batchGetMax)
		for _, k := range keys[start:min(start+batchGetMax, len(keys))] {
			chunk = append(chunk, k.key())
		}
		chunks = append(chunks, chunk)
	}
	results := make([][]map[string]types.AttributeValue, len(chunks))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(batchGetParallel)
	for i, chunk := range chunks {
		g.Go(func() error {
			items, err := s.batchGetChunk(gctx, chunk, proj)
			results[i] = items
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, items := range results {
		for _, av := range items {
			addr, err := addressOf(av)
			if err != nil {
				return nil, err
			}
			found[addr] = av
		}
	}
	return found, nil
}

// batchGetChunk reads up to batchGetMax keys, asking again for the keys
// DynamoDB left unprocessed.
func (s *Store) batchGetChunk(ctx context.Context, keys []map[string]types.AttributeValue, proj projection) ([]map[string]types.AttributeValue, error) {
	var items []map[string]types.AttributeValue
	delay, stalls := unprocessedBaseDelay, 0
	for {
		out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{s.table: {
			Keys:                     keys,
			ConsistentRead:           aws.Bool(true),
			ProjectionExpression:     aws.String(proj.expr),
			ExpressionAttributeNames: proj.names,
		}}})
		if err != nil {
			return nil, unavailable("BatchGetItem", err)
		}
		items = append(items, out.Responses[s.table]...)
		left := out.UnprocessedKeys[s.table].Keys
		if len(left) == 0 {
			return items, nil
		}
		if len(left) < len(keys) {
			stalls = 0
		} else if stalls++; stalls == unprocessedStalls {
			return nil, vaulterr.Wrap(vaulterr.Unavailable, storageUnavailable,
				fmt.Errorf("dynamodb BatchGetItem: %d keys unprocessed %d times in a row", len(left), unprocessedStalls))
		}
		keys = left
		select {
		case <-ctx.Done():
			return nil, unavailable("BatchGetItem", context.Cause(ctx))
		case <-time.After(delay):
		}
		delay = min(2*delay, unprocessedMaxDelay)
	}
}
