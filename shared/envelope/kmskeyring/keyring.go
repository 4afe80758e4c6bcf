// Package kmskeyring is the envelope.Keyring of the vault's AWS mode: data
// keys are wrapped by an AWS KMS symmetric key, bound to the encryption
// context (which CloudTrail records with every call, so each unwrap names
// the merchant whose key it opened).
package kmskeyring

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/cardvault/vault/shared/envelope"
)

// KMSAPI is the part of *kms.Client the keyring uses.
type KMSAPI interface {
	Encrypt(ctx context.Context, params *kms.EncryptInput, optFns ...func(*kms.Options)) (*kms.EncryptOutput, error)
	Decrypt(ctx context.Context, params *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
	ReEncrypt(ctx context.Context, params *kms.ReEncryptInput, optFns ...func(*kms.Options)) (*kms.ReEncryptOutput, error)
}

var (
	_ KMSAPI           = (*kms.Client)(nil)
	_ envelope.Keyring = (*Keyring)(nil)
)

// Keyring wraps data keys with one KMS key. It holds no state besides the
// client, so it is safe for concurrent use; retries are the SDK client's.
type Keyring struct {
	client KMSAPI
	keyARN string
}

// New returns a keyring that wraps under keyARN. keyARN must be a key ARN,
// not an alias: wrapped keys record the ARN KMS reports, and comparing it
// with MasterKeyID tells whether a wrapped key needs ReWrap.
func New(client KMSAPI, keyARN string) *Keyring {
	return &Keyring{client: client, keyARN: keyARN}
}

// MasterKeyID implements envelope.Keyring.
func (k *Keyring) MasterKeyID() string { return k.keyARN }

// Wrap implements envelope.Keyring with kms:Encrypt.
func (k *Keyring) Wrap(ctx context.Context, dataKey []byte, ec envelope.EncryptionContext) (envelope.WrappedKey, envelope.Call, error) {
	call := envelope.Call{MasterKeyID: k.keyARN}
	if k.keyARN == "" {
		return envelope.WrappedKey{}, call, errNotConfigured
	}
	out, err := k.client.Encrypt(ctx, &kms.EncryptInput{
		KeyId:               aws.String(k.keyARN),
		Plaintext:           dataKey,
		EncryptionContext:   ec,
		EncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault,
	})
	if err != nil {
		call.RequestID = requestIDOfError(err)
		return envelope.WrappedKey{}, call, classify("wrap", err)
	}
	call.RequestID = requestID(out.ResultMetadata)
	call.MasterKeyID = keyIDOr(out.KeyId, k.keyARN)
	if len(out.CiphertextBlob) == 0 {
		return envelope.WrappedKey{}, call, errEmptyAnswer
	}
	return envelope.WrappedKey{MasterKeyID: call.MasterKeyID, Ciphertext: out.CiphertextBlob}, call, nil
}

// Unwrap implements envelope.Keyring with kms:Decrypt pinned to the key
// that wrapped: KMS refuses a blob made by any other key, so a wrapped key
// swapped in the store cannot be opened by a key the vault happens to be
// allowed to use. The returned key belongs to the caller, who wipes it.
func (k *Keyring) Unwrap(ctx context.Context, wrapped envelope.WrappedKey, ec envelope.EncryptionContext) ([]byte, envelope.Call, error) {
	call := envelope.Call{MasterKeyID: wrapped.MasterKeyID}
	if wrapped.MasterKeyID == "" || len(wrapped.Ciphertext) == 0 {
		return nil, call, errIncompleteWrappedKey
	}
	out, err := k.client.Decrypt(ctx, &kms.DecryptInput{
		KeyId:               aws.String(wrapped.MasterKeyID),
		CiphertextBlob:      wrapped.Ciphertext,
		EncryptionContext:   ec,
		EncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault,
	})
	if err != nil {
		call.RequestID = requestIDOfError(err)
		return nil, call, classify("unwrap", err)
	}
	call.RequestID = requestID(out.ResultMetadata)
	if len(out.Plaintext) == 0 {
		return nil, call, errEmptyAnswer
	}
	return out.Plaintext, call, nil
}

// ReWrap implements envelope.Keyring with kms:ReEncrypt, so the data key
// never leaves KMS in plaintext. The source is pinned as in Unwrap, and the
// context stays the same.
func (k *Keyring) ReWrap(ctx context.Context, wrapped envelope.WrappedKey, ec envelope.EncryptionContext) (envelope.WrappedKey, envelope.Call, error) {
	call := envelope.Call{MasterKeyID: k.keyARN}
	if k.keyARN == "" {
		return envelope.WrappedKey{}, call, errNotConfigured
	}
	if wrapped.MasterKeyID == "" || len(wrapped.Ciphertext) == 0 {
		return envelope.WrappedKey{}, call, errIncompleteWrappedKey
	}
	out, err := k.client.ReEncrypt(ctx, &kms.ReEncryptInput{
		CiphertextBlob:                 wrapped.Ciphertext,
		SourceKeyId:                    aws.String(wrapped.MasterKeyID),
		SourceEncryptionContext:        ec,
		SourceEncryptionAlgorithm:      types.EncryptionAlgorithmSpecSymmetricDefault,
		DestinationKeyId:               aws.String(k.keyARN),
		DestinationEncryptionContext:   ec,
		DestinationEncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault,
	})
	if err != nil {
		call.RequestID = requestIDOfError(err)
		return envelope.WrappedKey{}, call, classify("rewrap", err)
	}
	call.RequestID = requestID(out.ResultMetadata)
	call.MasterKeyID = keyIDOr(out.KeyId, k.keyARN)
	if len(out.CiphertextBlob) == 0 {
		return envelope.WrappedKey{}, call, errEmptyAnswer
	}
	return envelope.WrappedKey{MasterKeyID: call.MasterKeyID, Ciphertext: out.CiphertextBlob}, call, nil
}

// keyIDOr is the key ARN KMS reports for the call, which is authoritative
// for what the blob is bound to, or fallback when KMS reports none.
func keyIDOr(reported *string, fallback string) string {
	if id := aws.ToString(reported); id != "" {
		return id
	}
	return fallback
}

func requestID(md middleware.Metadata) string {
	id, _ := awsmiddleware.GetRequestIDMetadata(md)
	return id
}

// requestIDOfError is the request id of a call KMS answered with an error,
// so that refusals can be joined to CloudTrail too.
func requestIDOfError(err error) string {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.ServiceRequestID()
	}
	return ""
}
