// Package kmssim stands in for a remote key service in benchmarks: every
// call waits a fixed round trip (a realistic in-region KMS call takes a
// few milliseconds) and is counted, so that a benchmark can report how
// many calls a design makes and what they cost, without a network.
package kmssim

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"sync/atomic"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/cardvault/vault/shared/envelope"
)

// RoundTrip is the simulated KMS request latency used by the benchmarks.
const RoundTrip = 5 * time.Millisecond

// Keyring wraps the vault's keyring port: each Wrap, Unwrap and ReWrap
// first waits Delay, then runs Inner, and is counted.
type Keyring struct {
	Inner envelope.Keyring
	Delay time.Duration

	wraps, unwraps, rewraps atomic.Int64
}

var _ envelope.Keyring = (*Keyring)(nil)

// NewLocalKeyring is a counting, delayed keyring over a fresh local master
// key.
func NewLocalKeyring(delay time.Duration) (*Keyring, error) {
	inner, err := envelope.NewLocalKeyring(newKey())
	if err != nil {
		return nil, err
	}
	return &Keyring{Inner: inner, Delay: delay}, nil
}

func (k *Keyring) wait() {
	if k.Delay > 0 {
		time.Sleep(k.Delay)
	}
}

// Wrap implements envelope.Keyring.
func (k *Keyring) Wrap(ctx context.Context, dataKey []byte, ec envelope.EncryptionContext) (envelope.WrappedKey, envelope.Call, error) {
	k.wraps.Add(1)
	k.wait()
	return k.Inner.Wrap(ctx, dataKey, ec)
}

// Unwrap implements envelope.Keyring.
func (k *Keyring) Unwrap(ctx context.Context, w envelope.WrappedKey, ec envelope.EncryptionContext) ([]byte, envelope.Call, error) {
	k.unwraps.Add(1)
	k.wait()
	return k.Inner.Unwrap(ctx, w, ec)
}

// ReWrap implements envelope.Keyring.
func (k *Keyring) ReWrap(ctx context.Context, w envelope.WrappedKey, ec envelope.EncryptionContext) (envelope.WrappedKey, envelope.Call, error) {
	k.rewraps.Add(1)
	k.wait()
	return k.Inner.ReWrap(ctx, w, ec)
}

// MasterKeyID implements envelope.Keyring.
func (k *Keyring) MasterKeyID() string { return k.Inner.MasterKeyID() }

// Calls is the number of calls made so far.
func (k *Keyring) Calls() int64 { return k.wraps.Load() + k.unwraps.Load() + k.rewraps.Load() }

// Unwraps is the number of Unwrap calls made so far.
func (k *Keyring) Unwraps() int64 { return k.unwraps.Load() }

// Reset sets the counters to zero.
func (k *Keyring) Reset() {
	k.wraps.Store(0)
	k.unwraps.Store(0)
	k.rewraps.Store(0)
}

// RemoteAEAD is a KMS key as Tink's envelope AEAD sees it (tink.AEAD):
// AES-256-GCM done locally, behind the same delay and counter. Its
// ciphertext is nonce || sealed || tag, the least any remote key service
// can return; a real AWS KMS ciphertext blob also names its key and is
// larger, so sizes measured with it are a lower bound for Tink.
type RemoteAEAD struct {
	Delay time.Duration
	aead  cipher.AEAD
	calls atomic.Int64
}

var _ tink.AEAD = (*RemoteAEAD)(nil)

// NewRemoteAEAD builds a RemoteAEAD with a fresh key.
func NewRemoteAEAD(delay time.Duration) (*RemoteAEAD, error) {
	key := newKey()
	block, err := aes.NewCipher(key.Reveal())
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &RemoteAEAD{Delay: delay, aead: aead}, nil
}

// Encrypt implements tink.AEAD.
func (r *RemoteAEAD) Encrypt(plaintext, associatedData []byte) ([]byte, error) {
	r.calls.Add(1)
	if r.Delay > 0 {
		time.Sleep(r.Delay)
	}
	nonce := make([]byte, r.aead.NonceSize(), r.aead.NonceSize()+len(plaintext)+r.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return r.aead.Seal(nonce, nonce, plaintext, associatedData), nil
}

// Decrypt implements tink.AEAD.
func (r *RemoteAEAD) Decrypt(ciphertext, associatedData []byte) ([]byte, error) {
	r.calls.Add(1)
	if r.Delay > 0 {
		time.Sleep(r.Delay)
	}
	n := r.aead.NonceSize()
	if len(ciphertext) < n+r.aead.Overhead() {
		return nil, errors.New("kmssim: ciphertext too short")
	}
	return r.aead.Open(nil, ciphertext[:n], ciphertext[n:], associatedData)
}

// Calls is the number of calls made so far.
func (r *RemoteAEAD) Calls() int64 { return r.calls.Load() }

// Reset sets the counter to zero.
func (r *RemoteAEAD) Reset() { r.calls.Store(0) }
