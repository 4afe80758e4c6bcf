package wire

import (
	"encoding/json"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vaulterr"
)

// SealResponse builds a reveal response: claims, marshalled with
// encoding/json, signed by the vault (compact JWS, typ JWT, kid of the
// signing key) so the client knows the vault produced them, then encrypted
// to the client's registered encryption key (compact JWE, A256GCM, cty JWT,
// kid of that key) so only the client can read them. The key management
// algorithm follows the key: RSA-OAEP-256 for RSA, ECDH-ES+A256KW for EC.
func (k *VaultKeys) SealResponse(c *Client, claims any) (string, error) {
	if c == nil || c.enc == nil {
		return "", vaulterr.New(vaulterr.Forbidden, "client has no encryption key")
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		// The marshalling error is not kept: it may describe the values.
		return "", vaulterr.New(vaulterr.Internal, "cannot encode response claims")
	}
	defer secret.Wipe(payload)

	signed, err := k.signer.Sign(payload)
	if err != nil {
		return "", vaulterr.Wrap(vaulterr.Internal, "cannot sign response", err)
	}
	compactJWS, err := signed.CompactSerialize()
	if err != nil {
		return "", vaulterr.Wrap(vaulterr.Internal, "cannot sign response", err)
	}

	encrypter, err := jose.NewEncrypter(
		jose.A256GCM,
		jose.Recipient{Algorithm: c.enc.alg, Key: c.enc.key, KeyID: c.enc.kid},
		(&jose.EncrypterOptions{}).WithContentType("JWT"),
	)
	if err != nil {
		return "", vaulterr.Wrap(vaulterr.Internal, "cannot encrypt response", err)
	}
	plaintext := []byte(compactJWS)
	defer secret.Wipe(plaintext)
	sealed, err := encrypter.Encrypt(plaintext)
	if err != nil {
		return "", vaulterr.Wrap(vaulterr.Internal, "cannot encrypt response", err)
	}
	out, err := sealed.CompactSerialize()
	if err != nil {
		return "", vaulterr.Wrap(vaulterr.Internal, "cannot encrypt response", err)
	}
	return out, nil
}
