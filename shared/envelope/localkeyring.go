package envelope

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vaulterr"
)

// LocalKeyring wraps data keys with AES-256-GCM under a master key read
// from a local file. It stands in for KMS in local mode, with the same
// contract: the encryption context is authenticated and must match.
type LocalKeyring struct {
	id   string
	aead cipher.AEAD
}

var _ Keyring = (*LocalKeyring)(nil)

// MasterKeySize is the size of a local master key in bytes.
const MasterKeySize = 32

// NewLocalKeyring builds a keyring from a 32-byte master key. Its id is
// derived from the key, so a wrapped key names the master key it needs
// without revealing it.
func NewLocalKeyring(master secret.Secret[[]byte]) (*LocalKeyring, error) {
	key := master.Reveal()
	if len(key) != MasterKeySize {
		return nil, fmt.Errorf("envelope: local master key must be %d bytes, got %d", MasterKeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte("cardvault-local-master-key-id:"), key...))
	return &LocalKeyring{id: "local:" + hex.EncodeToString(sum[:8]), aead: aead}, nil
}

// LoadOrCreateLocalKeyring reads the master key file (hex) at path,
// creating it with a fresh random key (mode 0600) when it does not exist.
func LoadOrCreateLocalKeyring(path string) (*LocalKeyring, error) {
	data, err := os.ReadFile(path) // #nosec G304 -- the local master key path the operator chose
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, MasterKeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		encoded := []byte(hex.EncodeToString(key) + "\n")
		secret.Wipe(key)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- the local master key path the operator chose
		if err != nil {
			return nil, fmt.Errorf("envelope: create local master key: %w", err)
		}
		if _, err := f.Write(encoded); err != nil {
			_ = f.Close() // the write error is the one to report
			return nil, fmt.Errorf("envelope: write local master key: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		data = encoded
	} else if err != nil {
		return nil, fmt.Errorf("envelope: read local master key: %w", err)
	}
	defer secret.Wipe(data)
	key := make([]byte, MasterKeySize)
	defer secret.Wipe(key)
	if n, err := hex.Decode(key, bytes.TrimRight(data, "\n\r ")); err != nil || n != MasterKeySize {
		return nil, fmt.Errorf("envelope: %s does not hold a %d-byte hex master key", path, MasterKeySize)
	}
	return NewLocalKeyring(secret.New(key))
}

// MasterKeyID implements Keyring.
func (k *LocalKeyring) MasterKeyID() string { return k.id }

// Wrap implements Keyring: nonce || AES-GCM(dataKey), with the canonical
// encryption context as AAD.
func (k *LocalKeyring) Wrap(_ context.Context, dataKey []byte, ec EncryptionContext) (WrappedKey, Call, error) {
	nonce := make([]byte, nonceSize, nonceSize+len(dataKey)+tagSize)
	if _, err := rand.Read(nonce); err != nil {
		return WrappedKey{}, Call{}, err
	}
	ct := k.aead.Seal(nonce, nonce, dataKey, ec.canonical())
	return WrappedKey{MasterKeyID: k.id, Ciphertext: ct}, Call{MasterKeyID: k.id}, nil
}

// Unwrap implements Keyring.
func (k *LocalKeyring) Unwrap(_ context.Context, w WrappedKey, ec EncryptionContext) ([]byte, Call, error) {
	if w.MasterKeyID != k.id {
		return nil, Call{}, vaulterr.New(vaulterr.Integrity, "wrapped key belongs to another master key")
	}
	if len(w.Ciphertext) < nonceSize+tagSize {
		return nil, Call{}, vaulterr.New(vaulterr.Integrity, "wrapped key failed authentication")
	}
	pt, err := k.aead.Open(nil, w.Ciphertext[:nonceSize], w.Ciphertext[nonceSize:], ec.canonical())
	if err != nil {
		return nil, Call{}, vaulterr.New(vaulterr.Integrity, "wrapped key failed authentication")
	}
	return pt, Call{MasterKeyID: k.id}, nil
}

// ReWrap implements Keyring. A local keyring has one master key, so this
// unwraps and wraps again; the plaintext is wiped at once.
func (k *LocalKeyring) ReWrap(ctx context.Context, w WrappedKey, ec EncryptionContext) (WrappedKey, Call, error) {
	pt, _, err := k.Unwrap(ctx, w, ec)
	if err != nil {
		return WrappedKey{}, Call{}, err
	}
	defer secret.Wipe(pt)
	return k.Wrap(ctx, pt, ec)
}
