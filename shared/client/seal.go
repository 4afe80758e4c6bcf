package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/secret"
)

// SealToVault encrypts a request's compact JWS (from SignRequest) to the
// vault whose public JWKS (GET /v1/jwks) is given, as the body of a
// sensitive request: compact JWE, enc A256GCM, the vault key's kid, cty
// JWT. It chooses the key as a Client without WithKeyAlgorithm does:
// ECDH-ES+A256KW when the vault offers it, else RSA-OAEP-256. It does no
// I/O.
func SealToVault(compactJWS string, vaultJWKS []byte) (string, error) {
	keys, err := parseVaultJWKS(vaultJWKS)
	if err != nil {
		return "", err
	}
	target, ok := keys.encryptionKey(jose.ECDH_ES_A256KW, false)
	if !ok {
		return "", errors.New("vault JWKS has no usable encryption key")
	}
	return target.seal(compactJWS)
}

// sealToVault encrypts the compact JWS to the vault encryption key this
// client chooses among the vault's cached keys.
func (c *Client) sealToVault(ctx context.Context, compactJWS string) (string, error) {
	keys, err := c.vaultKeys(ctx, false)
	if err != nil {
		return "", err
	}
	target, ok := keys.encryptionKey(c.preferredKeyAlg, c.strictKeyAlg)
	if !ok {
		return "", fmt.Errorf("vault JWKS has no usable encryption key for %s", c.preferredKeyAlg)
	}
	return target.seal(compactJWS)
}

// seal encrypts the compact JWS to this vault key: JWE compact, enc
// A256GCM, kid of the vault key, cty JWT.
func (e vaultEncKey) seal(compactJWS string) (string, error) {
	enc, err := jose.NewEncrypter(jose.A256GCM,
		jose.Recipient{Algorithm: e.alg, Key: e.key.Key, KeyID: e.key.KeyID},
		(&jose.EncrypterOptions{}).WithContentType("JWT"))
	if err != nil {
		return "", errors.New("cannot use the vault encryption key")
	}
	plaintext := []byte(compactJWS)
	defer secret.Wipe(plaintext)
	obj, err := enc.Encrypt(plaintext)
	if err != nil {
		return "", errors.New("cannot encrypt request")
	}
	compact, err := obj.CompactSerialize()
	if err != nil {
		return "", errors.New("cannot serialise request")
	}
	return compact, nil
}
