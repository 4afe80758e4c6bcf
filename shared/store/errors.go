package store

import (
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/cardvault/vault/shared/vaulterr"
)

// storageUnavailable is the caller-safe message of every storage failure.
const storageUnavailable = "storage unavailable"

// conditionFailed reports whether err is a conditional write that lost:
// the one DynamoDB error the store turns into a domain answer.
func conditionFailed(err error) bool {
	var c *types.ConditionalCheckFailedException
	return errors.As(err, &c)
}

// conditional maps the answer of a conditional write: nil when it
// succeeded, lost when its condition failed, and unavailable otherwise.
// A nil lost makes a failed condition success, for writes whose condition
// only guards against undoing someone else's work (a repeated delete, a
// second shred mark), where losing means there is nothing left to do.
func conditional(op string, err, lost error) error {
	switch {
	case err == nil:
		return nil
	case conditionFailed(err):
		return lost
	default:
		return unavailable(op, err)
	}
}

// unavailable reports a DynamoDB call that failed after the SDK's own
// retries (throttling, 5xx, network, timeouts, a missing table) as the
// contract's 503. The store logs nothing: the caller logs the cause once,
// with its request id.
func unavailable(op string, err error) error {
	return vaulterr.Wrap(vaulterr.Unavailable, storageUnavailable, sanitize(op, err))
}

// dynamoError is a DynamoDB service error reduced to its code. Service
// messages can quote the request (a ValidationException may name an
// attribute value), and the cause ends up in logs, so the message is
// dropped.
type dynamoError struct {
	Op   string
	Code string
}

func (e *dynamoError) Error() string { return "dynamodb " + e.Op + ": " + e.Code }

// sanitize keeps what an operator needs (operation, error code, or the
// transport error) and nothing of the request. Transport and context
// errors stay wrapped so errors.Is(err, context.DeadlineExceeded) works.
func sanitize(op string, err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return &dynamoError{Op: op, Code: apiErr.ErrorCode()}
	}
	return fmt.Errorf("dynamodb %s: %w", op, err)
}

// corrupt reports a stored item the store cannot read back: never a
// client's fault and never retryable, so it is an internal error. The
// cause names the item kind and the decoding failure, not its contents.
// errNoListKey: a listing index entry without a readable key.
var errNoListKey = errors.New("listing entry without a valid key")

func corrupt(kind string, err error) error {
	return vaulterr.Wrap(vaulterr.Internal, "internal error", fmt.Errorf("decoding stored %s: %w", kind, err))
}
