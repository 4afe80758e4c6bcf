package awsfake

import (
	"crypto/rand"
	"encoding/json"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"
)

// KMS is a loopback AWS KMS holding real AES-256-GCM keys. It serves
// Encrypt, Decrypt, ReEncrypt and GenerateDataKey with KMS's semantics for
// the encryption context (bound as AAD), key pinning (IncorrectKeyException),
// unknown keys (NotFoundException) and disabled keys (DisabledException).
//
// local-kms is the KMS the vault is tested against (the keyring's tests,
// the bootstraps under aws-lambda-rie: shared/lambdarun). This fake stays
// for what local-kms cannot produce: throttling and 5xx answers on demand
// (FailNext), a slow service (SetLatency), request ids, and a record of
// what each call carried.
type KMS struct {
	// URL is the base endpoint to give the SDK client.
	URL string

	t        testing.TB
	endpoint *endpoint

	mu       sync.Mutex
	keys     map[string]*fakeKey // by key id
	requests []KMSRequest
}

// KMSRequest is one call as the fake received it, failed attempts
// included.
type KMSRequest struct {
	Op        string
	RequestID string
	// KeyID is the KeyId member (Encrypt, Decrypt, GenerateDataKey).
	KeyID               string
	EncryptionContext   map[string]string
	EncryptionAlgorithm string
	// ReEncrypt's members.
	SourceKeyID                  string
	SourceEncryptionContext      map[string]string
	DestinationKeyID             string
	DestinationEncryptionContext map[string]string
}

// kmsInput holds the members of every served operation's request.
type kmsInput struct {
	KeyId                          string
	Plaintext                      []byte
	CiphertextBlob                 []byte
	EncryptionContext              map[string]string
	EncryptionAlgorithm            string
	SourceKeyId                    string
	SourceEncryptionContext        map[string]string
	SourceEncryptionAlgorithm      string
	DestinationKeyId               string
	DestinationEncryptionContext   map[string]string
	DestinationEncryptionAlgorithm string
	KeySpec                        string
	NumberOfBytes                  *int
}

const symmetricDefault = "SYMMETRIC_DEFAULT"

// NewKMS starts a fake KMS with no keys; it stops when the test ends.
func NewKMS(t testing.TB) *KMS {
	t.Helper()
	k := &KMS{t: t, keys: map[string]*fakeKey{}}
	k.endpoint = newEndpoint(t, "TrentService", map[string]handler{
		"Encrypt":         k.encrypt,
		"Decrypt":         k.decrypt,
		"ReEncrypt":       k.reEncrypt,
		"GenerateDataKey": k.generateDataKey,
	}, k.record)
	k.URL = k.endpoint.server.URL
	return k
}

// CreateKey makes a new enabled symmetric key and returns its ARN.
func (k *KMS) CreateKey() string {
	key := newFakeKey()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[key.id] = key
	return key.arn
}

// Disable makes later calls with the key answer DisabledException.
func (k *KMS) Disable(keyARN string) { k.setDisabled(keyARN, true) }

// Enable undoes Disable.
func (k *KMS) Enable(keyARN string) { k.setDisabled(keyARN, false) }

func (k *KMS) setDisabled(keyARN string, disabled bool) {
	k.t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	key, apiErr := k.resolveLocked(keyARN)
	if apiErr != nil {
		k.t.Fatalf("awsfake: no KMS key %q", keyARN)
	}
	key.disabled = disabled
}

// Encrypt seals plaintext under keyARN and ec directly, without a call
// through the SDK, to prepare ciphertexts for a test.
func (k *KMS) Encrypt(keyARN string, plaintext []byte, ec map[string]string) []byte {
	k.t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	key, apiErr := k.resolveLocked(keyARN)
	if apiErr != nil {
		k.t.Fatalf("awsfake: no KMS key %q", keyARN)
	}
	return key.seal(plaintext, ec)
}

// Requests returns the calls received so far, oldest first.
func (k *KMS) Requests() []KMSRequest {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]KMSRequest, len(k.requests))
	for i, r := range k.requests {
		r.EncryptionContext = maps.Clone(r.EncryptionContext)
		r.SourceEncryptionContext = maps.Clone(r.SourceEncryptionContext)
		r.DestinationEncryptionContext = maps.Clone(r.DestinationEncryptionContext)
		out[i] = r
	}
	return out
}

// Calls is the number of attempts received for op ("Decrypt"), or for
// every operation when op is empty.
func (k *KMS) Calls(op string) int { return k.endpoint.Calls(op) }

// FailNext makes the next n calls answer errType with status, for
// example ("ThrottlingException", 400) or ("KMSInternalException", 500).
func (k *KMS) FailNext(n int, errType string, status int) { k.endpoint.FailNext(n, errType, status) }

// SetLatency delays every answer by d.
func (k *KMS) SetLatency(d time.Duration) { k.endpoint.SetLatency(d) }

func (k *KMS) record(req request) {
	var in kmsInput
	_ = json.Unmarshal(req.Body, &in) // a bad body is answered by the handler
	k.mu.Lock()
	defer k.mu.Unlock()
	k.requests = append(k.requests, KMSRequest{
		Op:                           req.Op,
		RequestID:                    req.RequestID,
		KeyID:                        in.KeyId,
		EncryptionContext:            in.EncryptionContext,
		EncryptionAlgorithm:          in.EncryptionAlgorithm,
		SourceKeyID:                  in.SourceKeyId,
		SourceEncryptionContext:      in.SourceEncryptionContext,
		DestinationKeyID:             in.DestinationKeyId,
		DestinationEncryptionContext: in.DestinationEncryptionContext,
	})
}

// resolveLocked finds a key by ARN or bare key id. Aliases are not
// supported: the vault names keys by ARN.
func (k *KMS) resolveLocked(keyID string) (*fakeKey, *apiError) {
	if keyID == "" {
		return nil, clientError("ValidationException", "KeyId is required")
	}
	id := keyID
	if rest, ok := strings.CutPrefix(keyID, "arn:aws:kms:"+Region+":"+Account+":key/"); ok {
		id = rest
	}
	key := k.keys[id]
	if key == nil {
		return nil, clientError("NotFoundException", "Key '"+keyID+"' does not exist")
	}
	return key, nil
}

func checkAlgorithm(alg string) *apiError {
	if alg != "" && alg != symmetricDefault {
		return clientError("InvalidKeyUsageException", "symmetric keys support only "+symmetricDefault)
	}
	return nil
}

func disabledError(key *fakeKey) *apiError {
	return clientError("DisabledException", key.arn+" is disabled.")
}

// sealWith encrypts under keyID, answering the errors KMS gives for the key.
func (k *KMS) sealWith(keyID string, plaintext []byte, ec map[string]string) (*fakeKey, []byte, *apiError) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key, apiErr := k.resolveLocked(keyID)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	if key.disabled {
		return nil, nil, disabledError(key)
	}
	return key, key.seal(plaintext, ec), nil
}

// openBlob decrypts a blob under the key it names. When pinnedKeyID is
// set, the blob must name that key (IncorrectKeyException otherwise).
func (k *KMS) openBlob(blob []byte, pinnedKeyID string, ec map[string]string) (*fakeKey, []byte, *apiError) {
	invalid := clientError("InvalidCiphertextException", "The ciphertext is invalid.")
	k.mu.Lock()
	defer k.mu.Unlock()
	blobKeyID, _, err := splitBlob(blob)
	if err != nil {
		return nil, nil, invalid
	}
	if pinnedKeyID != "" {
		pinned, apiErr := k.resolveLocked(pinnedKeyID)
		if apiErr != nil {
			return nil, nil, apiErr
		}
		if pinned.id != blobKeyID {
			return nil, nil, clientError("IncorrectKeyException",
				"The key ID in the request does not identify a KMS key that can perform this operation.")
		}
	}
	key := k.keys[blobKeyID]
	if key == nil {
		return nil, nil, invalid
	}
	if key.disabled {
		return nil, nil, disabledError(key)
	}
	plaintext, err := key.open(blob, ec)
	if err != nil {
		return nil, nil, invalid
	}
	return key, plaintext, nil
}

func (k *KMS) encrypt(req request) (any, *apiError) {
	var in kmsInput
	if apiErr := decode(req, &in); apiErr != nil {
		return nil, apiErr
	}
	if len(in.Plaintext) == 0 || len(in.Plaintext) > 4096 {
		return nil, clientError("ValidationException", "Plaintext must be 1 to 4096 bytes")
	}
	if apiErr := checkAlgorithm(in.EncryptionAlgorithm); apiErr != nil {
		return nil, apiErr
	}
	key, blob, apiErr := k.sealWith(in.KeyId, in.Plaintext, in.EncryptionContext)
	if apiErr != nil {
		return nil, apiErr
	}
	return map[string]any{
		"CiphertextBlob":      blob,
		"KeyId":               key.arn,
		"EncryptionAlgorithm": symmetricDefault,
	}, nil
}

func (k *KMS) decrypt(req request) (any, *apiError) {
	var in kmsInput
	if apiErr := decode(req, &in); apiErr != nil {
		return nil, apiErr
	}
	if apiErr := checkAlgorithm(in.EncryptionAlgorithm); apiErr != nil {
		return nil, apiErr
	}
	key, plaintext, apiErr := k.openBlob(in.CiphertextBlob, in.KeyId, in.EncryptionContext)
	if apiErr != nil {
		return nil, apiErr
	}
	return map[string]any{
		"Plaintext":           plaintext,
		"KeyId":               key.arn,
		"EncryptionAlgorithm": symmetricDefault,
	}, nil
}

func (k *KMS) reEncrypt(req request) (any, *apiError) {
	var in kmsInput
	if apiErr := decode(req, &in); apiErr != nil {
		return nil, apiErr
	}
	for _, alg := range []string{in.SourceEncryptionAlgorithm, in.DestinationEncryptionAlgorithm} {
		if apiErr := checkAlgorithm(alg); apiErr != nil {
			return nil, apiErr
		}
	}
	source, plaintext, apiErr := k.openBlob(in.CiphertextBlob, in.SourceKeyId, in.SourceEncryptionContext)
	if apiErr != nil {
		return nil, apiErr
	}
	defer clear(plaintext)
	dest, blob, apiErr := k.sealWith(in.DestinationKeyId, plaintext, in.DestinationEncryptionContext)
	if apiErr != nil {
		return nil, apiErr
	}
	return map[string]any{
		"CiphertextBlob":                 blob,
		"KeyId":                          dest.arn,
		"SourceKeyId":                    source.arn,
		"SourceEncryptionAlgorithm":      symmetricDefault,
		"DestinationEncryptionAlgorithm": symmetricDefault,
	}, nil
}

func (k *KMS) generateDataKey(req request) (any, *apiError) {
	var in kmsInput
	if apiErr := decode(req, &in); apiErr != nil {
		return nil, apiErr
	}
	size := 0
	switch {
	case in.KeySpec != "" && in.NumberOfBytes != nil:
		return nil, clientError("ValidationException", "give KeySpec or NumberOfBytes, not both")
	case in.KeySpec == "AES_256":
		size = 32
	case in.KeySpec == "AES_128":
		size = 16
	case in.NumberOfBytes != nil && *in.NumberOfBytes >= 1 && *in.NumberOfBytes <= 1024:
		size = *in.NumberOfBytes
	default:
		return nil, clientError("ValidationException", "KeySpec or NumberOfBytes (1 to 1024) is required")
	}
	plaintext := make([]byte, size)
	_, _ = rand.Read(plaintext)
	key, blob, apiErr := k.sealWith(in.KeyId, plaintext, in.EncryptionContext)
	if apiErr != nil {
		return nil, apiErr
	}
	return map[string]any{
		"CiphertextBlob": blob,
		"Plaintext":      plaintext,
		"KeyId":          key.arn,
	}, nil
}
