package vaulttest

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/store"
	"github.com/cardvault/vault/shared/vaulterr"
)

// Port names an adapter the vault reaches through an interface, where a
// dependency can fail.
type Port string

// The ports Faults can break.
const (
	PortDynamo  Port = "dynamodb"
	PortKeyring Port = "keyring"
	PortAudit   Port = "audit"
)

// Ports lists every port.
var Ports = []Port{PortDynamo, PortKeyring, PortAudit}

// FaultKind is how a failing call fails. The errors are shaped as the
// AWS SDK returns them once its own retries gave up, so what is tested is
// the vault's handling of them.
type FaultKind string

// The kinds of fault.
const (
	// Throttled: DynamoDB's ProvisionedThroughputExceededException or
	// ThrottlingException (odd and even calls), KMS's or EventBridge's
	// ThrottlingException.
	Throttled FaultKind = "throttled"
	// TimedOut: the call's deadline passed (context.DeadlineExceeded). A
	// DynamoDB call is let through first: a timeout can strike after
	// DynamoDB applied a write, the case that finds writes which are not
	// safe to repeat (one that fails before the write leaves the same
	// state as a throttled call).
	TimedOut FaultKind = "timeout"
	// ServerError: an HTTP 5xx (InternalServerError).
	ServerError FaultKind = "5xx"
)

// FaultKinds lists the kinds of fault.
var FaultKinds = []FaultKind{Throttled, TimedOut, ServerError}

// Faults counts the calls requests make through each port and fails a
// chosen one. Only calls made on behalf of a request count (see
// Faults.Handler): background work of earlier requests, which runs on its
// own schedule, is left alone so that counts are repeatable.
type Faults struct {
	mu     sync.Mutex
	calls  map[Port]int
	port   Port
	failAt int
	kind   FaultKind
	fired  bool
	// backgroundEvent is set when the fault hit an audit event of the
	// vault's own (no request id), which fails nothing.
	backgroundEvent bool
}

// NewFaults returns a Faults that fails nothing until told to.
func NewFaults() *Faults { return &Faults{calls: map[Port]int{}} }

type requestScope struct{}

// Options returns opts with the fault wrappers installed.
func (f *Faults) Options(opts Options) Options {
	opts.WrapDynamo = func(d store.DynamoAPI) store.DynamoAPI { return &faultyDynamo{next: d, f: f} }
	opts.WrapKeyring = func(k envelope.Keyring) envelope.Keyring { return &faultyKeyring{next: k, f: f} }
	opts.WrapAudit = func(s audit.Sink) audit.Sink { return &faultySink{next: s, f: f} }
	opts.WrapHandler = f.Handler
	return opts
}

// Handler marks the context of every request it serves, so that only the
// calls a request makes (including the ones it starts detached from its
// cancellation, which keep its values) are counted and failed.
func (f *Faults) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestScope{}, true)))
	})
}

// Reset zeroes the counts and disarms any fault.
func (f *Faults) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = map[Port]int{}
	f.port, f.failAt, f.kind, f.fired, f.backgroundEvent = "", 0, "", false, false
}

// FailAt zeroes the counts and arms a fault: the k-th call (from 1)
// through port fails with kind.
func (f *Faults) FailAt(port Port, k int, kind FaultKind) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = map[Port]int{}
	f.port, f.failAt, f.kind, f.fired, f.backgroundEvent = port, k, kind, false, false
}

// Calls is the number of calls through port since the last Reset or
// FailAt.
func (f *Faults) Calls(port Port) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[port]
}

// Fired reports whether the armed fault was injected.
func (f *Faults) Fired() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fired
}

// FiredOnBackgroundEvent reports whether the injected fault failed an
// audit event the vault records of its own accord (rotation_started,
// merchant_shredded...) during the request, rather than the request's own.
func (f *Faults) FiredOnBackgroundEvent() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.backgroundEvent
}

// next counts a call and returns the error to inject, if it is the one.
func (f *Faults) next(ctx context.Context, port Port, service, op string) (FaultKind, error) {
	if ctx.Value(requestScope{}) == nil {
		return "", nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[port]++
	if f.port == port && f.calls[port] == f.failAt {
		f.fired = true
		return f.kind, awsError(service, op, f.kind, f.failAt)
	}
	return "", nil
}

// awsError is the error the AWS SDK returns for an operation of service
// after its retries: an OperationError around the service's answer.
func awsError(service, op string, kind FaultKind, k int) error {
	var cause error
	switch kind {
	case Throttled:
		if service == "DynamoDB" && k%2 == 1 {
			cause = &types.ProvisionedThroughputExceededException{Message: aws.String("Rate of requests exceeds the allowed throughput.")}
		} else {
			cause = &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded", Fault: smithy.FaultClient}
		}
	case TimedOut:
		cause = &smithy.CanceledError{Err: context.DeadlineExceeded}
	case ServerError:
		if service == "DynamoDB" {
			cause = &types.InternalServerError{Message: aws.String("Internal server error")}
		} else {
			cause = &smithy.GenericAPIError{Code: "InternalServerError", Message: "Internal server error", Fault: smithy.FaultServer}
		}
	default:
		cause = errors.New("unknown fault")
	}
	return &smithy.OperationError{ServiceID: service, OperationName: op, Err: cause}
}

// faultyDynamo is a DynamoDB client whose chosen call fails.
type faultyDynamo struct {
	next store.DynamoAPI
	f    *Faults
}

var _ store.DynamoAPI = (*faultyDynamo)(nil)

// call runs one DynamoDB operation through the fault plan.
func call[In, Out any](ctx context.Context, d *faultyDynamo, op string, in In, opts []func(*dynamodb.Options),
	do func(context.Context, In, ...func(*dynamodb.Options)) (Out, error)) (Out, error) {
	kind, err := d.f.next(ctx, PortDynamo, "DynamoDB", op)
	if err == nil {
		return do(ctx, in, opts...)
	}
	var zero Out
	if kind == TimedOut {
		_, _ = do(ctx, in, opts...)
	}
	return zero, err
}

func (d *faultyDynamo) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return call(ctx, d, "GetItem", in, opts, d.next.GetItem)
}

func (d *faultyDynamo) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return call(ctx, d, "PutItem", in, opts, d.next.PutItem)
}

func (d *faultyDynamo) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return call(ctx, d, "UpdateItem", in, opts, d.next.UpdateItem)
}

func (d *faultyDynamo) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return call(ctx, d, "DeleteItem", in, opts, d.next.DeleteItem)
}

func (d *faultyDynamo) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return call(ctx, d, "Query", in, opts, d.next.Query)
}

func (d *faultyDynamo) Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	return call(ctx, d, "Scan", in, opts, d.next.Scan)
}

func (d *faultyDynamo) DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	return call(ctx, d, "DescribeTable", in, opts, d.next.DescribeTable)
}

func (d *faultyDynamo) CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error) {
	return call(ctx, d, "CreateTable", in, opts, d.next.CreateTable)
}

// faultyKeyring is a keyring whose chosen call fails.
type faultyKeyring struct {
	next envelope.Keyring
	f    *Faults
}

var _ envelope.Keyring = (*faultyKeyring)(nil)

// kmsFault is the injected error as the KMS keyring classifies a failed
// KMS call: Unavailable around the SDK's error.
func (k *faultyKeyring) kmsFault(ctx context.Context, op string) error {
	if _, err := k.f.next(ctx, PortKeyring, "KMS", op); err != nil {
		return vaulterr.Wrap(vaulterr.Unavailable, "key service unavailable", err)
	}
	return nil
}

func (k *faultyKeyring) Wrap(ctx context.Context, dataKey []byte, ec envelope.EncryptionContext) (envelope.WrappedKey, envelope.Call, error) {
	if err := k.kmsFault(ctx, "Encrypt"); err != nil {
		return envelope.WrappedKey{}, envelope.Call{}, err
	}
	return k.next.Wrap(ctx, dataKey, ec)
}

func (k *faultyKeyring) Unwrap(ctx context.Context, wrapped envelope.WrappedKey, ec envelope.EncryptionContext) ([]byte, envelope.Call, error) {
	if err := k.kmsFault(ctx, "Decrypt"); err != nil {
		return nil, envelope.Call{}, err
	}
	return k.next.Unwrap(ctx, wrapped, ec)
}

func (k *faultyKeyring) ReWrap(ctx context.Context, wrapped envelope.WrappedKey, ec envelope.EncryptionContext) (envelope.WrappedKey, envelope.Call, error) {
	if err := k.kmsFault(ctx, "ReEncrypt"); err != nil {
		return envelope.WrappedKey{}, envelope.Call{}, err
	}
	return k.next.ReWrap(ctx, wrapped, ec)
}

func (k *faultyKeyring) MasterKeyID() string { return k.next.MasterKeyID() }

// faultySink is an audit sink whose chosen call fails as the EventBridge
// sink reports a failed PutEvents.
type faultySink struct {
	next audit.Sink
	f    *Faults
}

var _ audit.Sink = (*faultySink)(nil)

func (s *faultySink) Record(ctx context.Context, e audit.Event) error {
	if _, err := s.f.next(ctx, PortAudit, "EventBridge", "PutEvents"); err != nil {
		s.f.mu.Lock()
		s.f.backgroundEvent = e.RequestID == ""
		s.f.mu.Unlock()
		return err
	}
	return s.next.Record(ctx, e)
}
