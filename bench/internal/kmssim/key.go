package kmssim

import (
	"crypto/rand"

	"github.com/cardvault/vault/shared/secret"
)

// newKey is a fresh 256-bit master key for a simulated key service.
func newKey() secret.Secret[[]byte] {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails (Go 1.24+)
	return secret.New(k)
}
