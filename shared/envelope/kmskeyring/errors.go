package kmskeyring

import (
	"errors"

	"github.com/aws/smithy-go"

	"github.com/cardvault/vault/shared/vaulterr"
)

// Messages are shown to callers; they name the failure, never the key.
const (
	msgAuthentication = "wrapped key failed authentication"
	msgUnavailable    = "key service unavailable"
)

// Failures found before or after the KMS call; the detail is for logs.
var (
	errNotConfigured = vaulterr.Wrap(vaulterr.Unavailable, msgUnavailable,
		errors.New("kms: keyring has no key ARN configured"))
	errIncompleteWrappedKey = vaulterr.Wrap(vaulterr.Integrity, msgAuthentication,
		errors.New("kms: wrapped key has no master key id or no ciphertext"))
	errEmptyAnswer = vaulterr.Wrap(vaulterr.Unavailable, msgUnavailable,
		errors.New("kms: answer holds no key"))
)

// integrityCodes are KMS's answers for a blob that does not authenticate
// under the pinned key and context: the stored wrapped key was tampered
// with, moved to another merchant or version, or swapped for another key's.
var integrityCodes = map[string]bool{
	"InvalidCiphertextException": true,
	"IncorrectKeyException":      true,
}

// classify maps a failed KMS call to the contract's codes. Only an
// authentication failure means the data is bad (Integrity). Everything else
// — throttling after the SDK's retries, KMS faults, timeouts, network
// errors, and also disabled, missing or forbidden keys — is Unavailable:
// the stored data may be sound, and an operator must restore the service
// or its configuration. The cause keeps the SDK error (operation, KMS
// error code and request id; the SDK never includes request members).
func classify(op string, err error) error {
	cause := &kmsError{op: op, err: err}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && integrityCodes[apiErr.ErrorCode()] {
		return vaulterr.Wrap(vaulterr.Integrity, msgAuthentication, cause)
	}
	return vaulterr.Wrap(vaulterr.Unavailable, msgUnavailable, cause)
}

// kmsError names the keyring operation that failed around the SDK error.
type kmsError struct {
	op  string
	err error
}

func (e *kmsError) Error() string { return "kms " + e.op + ": " + e.err.Error() }
func (e *kmsError) Unwrap() error { return e.err }
