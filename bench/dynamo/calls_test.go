package dynamo

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cardvault/vault/shared/store"
)

// tableCall is one DynamoDB call as the store made it: its action and
// when it started and returned.
type tableCall struct {
	action     string
	start, end time.Time
	// units are the table's capacity units the call consumed, as dynalite
	// reports them (ReturnConsumedCapacity TOTAL: item size rounded up to
	// 4 KB for a strongly consistent read, 1 KB for a write). dynalite
	// reports them for item calls that succeed, not for queries, index
	// writes or failed conditions.
	units float64
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

// timed runs call and logs it under action, with the capacity units
// units reads from its answer.
func timed[T any](l *callLog, action string, call func() (T, error), units func(T) *types.ConsumedCapacity) (T, error) {
	start := time.Now()
	out, err := call()
	c := tableCall{action: action, start: start, end: time.Now()}
	if err == nil && units != nil {
		if cc := units(out); cc != nil {
			c.units = aws.ToFloat64(cc.CapacityUnits)
		}
	}
	l.add(c)
	return out, err
}

func (d countingDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	in2 := *in
	in2.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	return timed(d.log, "GetItem", func() (*dynamodb.GetItemOutput, error) { return d.DynamoAPI.GetItem(ctx, &in2, opts...) },
		func(o *dynamodb.GetItemOutput) *types.ConsumedCapacity { return o.ConsumedCapacity })
}

func (d countingDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	in2 := *in
	in2.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	return timed(d.log, "PutItem", func() (*dynamodb.PutItemOutput, error) { return d.DynamoAPI.PutItem(ctx, &in2, opts...) },
		func(o *dynamodb.PutItemOutput) *types.ConsumedCapacity { return o.ConsumedCapacity })
}

func (d countingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	in2 := *in
	in2.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	return timed(d.log, "UpdateItem", func() (*dynamodb.UpdateItemOutput, error) { return d.DynamoAPI.UpdateItem(ctx, &in2, opts...) },
		func(o *dynamodb.UpdateItemOutput) *types.ConsumedCapacity { return o.ConsumedCapacity })
}

func (d countingDB) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	in2 := *in
	in2.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	return timed(d.log, "DeleteItem", func() (*dynamodb.DeleteItemOutput, error) { return d.DynamoAPI.DeleteItem(ctx, &in2, opts...) },
		func(o *dynamodb.DeleteItemOutput) *types.ConsumedCapacity { return o.ConsumedCapacity })
}

func (d countingDB) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return timed(d.log, "Query", func() (*dynamodb.QueryOutput, error) { return d.DynamoAPI.Query(ctx, in, opts...) }, nil)
}

func (d countingDB) Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	return timed(d.log, "Scan", func() (*dynamodb.ScanOutput, error) { return d.DynamoAPI.Scan(ctx, in, opts...) }, nil)
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
