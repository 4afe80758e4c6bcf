package envelope

import (
	"context"
	"maps"
	"slices"
	"strings"
)

// Purposes name what a wrapped key is for. They travel in the encryption
// context so that IAM conditions (kms:EncryptionContext:purpose) and
// CloudTrail readers can tell the vault's key classes apart.
const (
	// PurposeMerchantKeys wraps one version of a merchant's key bundle: the
	// record DEK and the fingerprint key (see Bundle).
	PurposeMerchantKeys = "merchant-keys"
)

// Encryption context member names. The same context must be given at wrap
// and unwrap, so it holds only stable facts about the key, never values of
// a request.
const (
	ContextMerchant   = "merchant_id"
	ContextPurpose    = "purpose"
	ContextKeyVersion = "key_version"
)

// EncryptionContext is the authenticated, non-secret context bound to a
// wrapped key. In AWS mode it is KMS's encryption context, logged by
// CloudTrail with every call.
type EncryptionContext map[string]string

// canonical is an unambiguous byte encoding of the context (sorted
// members, length-prefixed), used as AAD by keyrings that seal locally.
func (c EncryptionContext) canonical() []byte {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(c)) {
		writeField(&b, k)
		writeField(&b, c[k])
	}
	return []byte(b.String())
}

// WrappedKey is a data key encrypted under a master key.
type WrappedKey struct {
	// MasterKeyID names the master key that wrapped it: a KMS key ARN in
	// AWS mode, the local master key's id in local mode. Unwrap is pinned
	// to it, so a wrapped key cannot be unwrapped by some other key the
	// caller happens to hold.
	MasterKeyID string
	Ciphertext  []byte
}

// Call describes one keyring call, so that the audit trail can join the
// operation that caused it to the matching CloudTrail record.
type Call struct {
	// RequestID is the KMS request id (CloudTrail's requestID); empty for
	// the local keyring.
	RequestID   string
	MasterKeyID string
}

// Keyring wraps and unwraps data keys under a master key the vault does
// not hold in plaintext at rest: AWS KMS in production, a local master key
// file in local mode. Implementations are safe for concurrent use.
type Keyring interface {
	// Wrap encrypts dataKey under the keyring's current master key, bound
	// to ec.
	Wrap(ctx context.Context, dataKey []byte, ec EncryptionContext) (WrappedKey, Call, error)
	// Unwrap decrypts a key made by Wrap; ec must equal the context given
	// to Wrap. A key that fails authentication is a vaulterr.Integrity
	// error; a master key service that cannot be reached is
	// vaulterr.Unavailable.
	Unwrap(ctx context.Context, wrapped WrappedKey, ec EncryptionContext) ([]byte, Call, error)
	// ReWrap moves a wrapped key under the keyring's current master key
	// without exposing the plaintext where the keyring allows it (KMS
	// ReEncrypt). The context stays the same.
	ReWrap(ctx context.Context, wrapped WrappedKey, ec EncryptionContext) (WrappedKey, Call, error)
	// MasterKeyID names the master key Wrap uses now.
	MasterKeyID() string
}
