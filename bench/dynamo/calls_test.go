package dynamo

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cardvault/vault/shared/store"
)

// tableCall is one DynamoDB call as the store made it: its action and
// when it started and returned.
type tableCall struct {
	action     string
	start, end time.Time
}

// callLog collects the calls the store makes while it is recording.
type callLog struct {
	mu        sync.Mutex
	recording bool
	calls     []tableCall
}

// record starts a fresh recording.
func (l *callLog) record() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recording, l.calls = true, nil
}

// stop ends the recording and returns its calls.
func (l *callLog) stop() []tableCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recording = false
	return slices.Clone(l.calls)
}

func (l *callLog) add(c tableCall) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.recording {
		l.calls = append(l.calls, c)
	}
}

// countingDB wraps the store's DynamoDB client and logs every item and
// query call with its start and end time.
type countingDB struct {
	store.DynamoAPI
	log *callLog
}

var _ store.DynamoAPI = countingDB{}

// timed runs call and logs it under action.
func timed[T any](l *callLog, action string, call func() (T, error)) (T, error) {
	start := time.Now()
	out, err := call()
	l.add(tableCall{action: action, start: start, end: time.Now()})
	return out, err
}

func (d countingDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return timed(d.log, "GetItem", func() (*dynamodb.GetItemOutput, error) { return d.DynamoAPI.GetItem(ctx, in, opts...) })
}

func (d countingDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return timed(d.log, "PutItem", func() (*dynamodb.PutItemOutput, error) { return d.DynamoAPI.PutItem(ctx, in, opts...) })
}

func (d countingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return timed(d.log, "UpdateItem", func() (*dynamodb.UpdateItemOutput, error) { return d.DynamoAPI.UpdateItem(ctx, in, opts...) })
}

func (d countingDB) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return timed(d.log, "DeleteItem", func() (*dynamodb.DeleteItemOutput, error) { return d.DynamoAPI.DeleteItem(ctx, in, opts...) })
}

func (d countingDB) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return timed(d.log, "Query", func() (*dynamodb.QueryOutput, error) { return d.DynamoAPI.Query(ctx, in, opts...) })
}

func (d countingDB) Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	return timed(d.log, "Scan", func() (*dynamodb.ScanOutput, error) { return d.DynamoAPI.Scan(ctx, in, opts...) })
}

// criticalPath is the longest chain of calls in which each call started
// only after the one before it had returned: the round trips a request
// waits for one after the other. Calls that overlap in time were in
// flight together and count once.
func criticalPath(calls []tableCall) int {
	calls = slices.Clone(calls)
	slices.SortFunc(calls, func(a, b tableCall) int { return a.start.Compare(b.start) })
	depth := make([]int, len(calls))
	longest := 0
	for i, c := range calls {
		depth[i] = 1
		for j := range i {
			if !calls[j].end.After(c.start) {
				depth[i] = max(depth[i], depth[j]+1)
			}
		}
		longest = max(longest, depth[i])
	}
	return longest
}
