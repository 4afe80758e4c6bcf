package invoke

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/secret"
)

// audience is the contract's aud claim.
const audience = "card-vault"

// sealer makes requests as one registered client: it signs claims with the
// client's private key and encrypts sensitive requests to the vault's
// public encryption key, exactly as a client would over HTTP.
type sealer struct {
	clientID string
	signer   jose.Signer
	vaultKey jose.JSONWebKey
	vaultAlg jose.KeyAlgorithm
}

// credentialsFile is the credentials format of local mode's demo client
// and `vaultctl keys generate`.
type credentialsFile struct {
	ClientID string `json:"client_id"`
	Keys     struct {
		Keys []json.RawMessage `json:"keys"`
	} `json:"keys"`
}

// newSealer loads the client's credentials and picks the vault key to
// encrypt to from its public JWKS.
func newSealer(credentialsPath string, vaultPublicJWKS []byte) (*sealer, error) {
	doc, err := os.ReadFile(credentialsPath) // #nosec G304 -- the credentials file the operator names
	if err != nil {
		return nil, fmt.Errorf("client credentials: %w", err)
	}
	defer secret.Wipe(doc)
	var file credentialsFile
	if err := json.Unmarshal(doc, &file); err != nil {
		// A JSON error may quote key material: say where, not what.
		return nil, fmt.Errorf("client credentials %s: not a credentials document", credentialsPath)
	}
	if file.ClientID == "" {
		return nil, fmt.Errorf("client credentials %s: no client_id", credentialsPath)
	}
	s := &sealer{clientID: file.ClientID}
	for _, raw := range file.Keys.Keys {
		var key jose.JSONWebKey
		if err := key.UnmarshalJSON(raw); err != nil || key.Use != "sig" {
			continue
		}
		alg, err := signatureAlgorithm(key.Key)
		if err != nil {
			return nil, fmt.Errorf("client credentials %s: key %q: %w", credentialsPath, key.KeyID, err)
		}
		// A JSONWebKey as the signing key puts its kid in the header.
		s.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, nil)
		if err != nil {
			return nil, fmt.Errorf("client credentials %s: key %q cannot sign", credentialsPath, key.KeyID)
		}
		break
	}
	if s.signer == nil {
		return nil, fmt.Errorf("client credentials %s: no private signing key", credentialsPath)
	}
	if s.vaultKey, s.vaultAlg, err = vaultEncryptionKey(vaultPublicJWKS); err != nil {
		return nil, err
	}
	return s, nil
}

func signatureAlgorithm(key any) (jose.SignatureAlgorithm, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve.Params().BitSize == 256 {
			return jose.ES256, nil
		}
	case *rsa.PrivateKey:
		return jose.PS256, nil
	case ed25519.PrivateKey:
		return jose.EdDSA, nil
	}
	return "", errors.New("not a private signing key the vault accepts")
}

// vaultEncryptionKey picks the vault key requests are encrypted to:
// ECDH-ES+A256KW when the vault offers it (cheapest to open), else
// RSA-OAEP-256.
func vaultEncryptionKey(publicJWKS []byte) (jose.JSONWebKey, jose.KeyAlgorithm, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(publicJWKS, &set); err != nil {
		return jose.JSONWebKey{}, "", errors.New("vault JWKS: not a JWKS document")
	}
	var rsaKey *jose.JSONWebKey
	for i := range set.Keys {
		k := &set.Keys[i]
		if k.Use != "enc" || !k.IsPublic() {
			continue
		}
		switch k.Key.(type) {
		case *ecdsa.PublicKey:
			return *k, jose.ECDH_ES_A256KW, nil
		case *rsa.PublicKey:
			if rsaKey == nil {
				rsaKey = k
			}
		}
	}
	if rsaKey != nil {
		return *rsaKey, jose.RSA_OAEP_256, nil
	}
	return jose.JSONWebKey{}, "", errors.New("vault JWKS: no public encryption key")
}

// sign returns the compact JWS of claims, completed with the contract's
// fresh members: iss, aud, a current iat and a new jti.
func (s *sealer) sign(claims map[string]any, iat int64) (string, error) {
	for _, fixed := range []string{"iss", "aud", "iat", "jti"} {
		if _, set := claims[fixed]; set {
			return "", fmt.Errorf("request template sets %q; it is made fresh for every invocation", fixed)
		}
	}
	jti, err := newJTI()
	if err != nil {
		return "", err
	}
	all := make(map[string]any, len(claims)+4)
	for k, v := range claims {
		all[k] = v
	}
	all["iss"], all["aud"], all["iat"], all["jti"] = s.clientID, audience, iat, jti
	payload, err := json.Marshal(all)
	if err != nil {
		return "", errors.New("request claims cannot be encoded")
	}
	// The payload may hold a card number or a secret value.
	defer secret.Wipe(payload)
	obj, err := s.signer.Sign(payload)
	if err != nil {
		return "", errors.New("cannot sign the request")
	}
	return obj.CompactSerialize()
}

// encrypt seals a compact JWS to the vault: compact JWE, enc A256GCM, the
// vault key's kid, cty JWT.
func (s *sealer) encrypt(compactJWS string) (string, error) {
	enc, err := jose.NewEncrypter(jose.A256GCM,
		jose.Recipient{Algorithm: s.vaultAlg, Key: s.vaultKey.Key, KeyID: s.vaultKey.KeyID},
		(&jose.EncrypterOptions{}).WithContentType("JWT"))
	if err != nil {
		return "", errors.New("cannot use the vault's encryption key")
	}
	plaintext := []byte(compactJWS)
	defer secret.Wipe(plaintext)
	obj, err := enc.Encrypt(plaintext)
	if err != nil {
		return "", errors.New("cannot encrypt the request")
	}
	return obj.CompactSerialize()
}

// newJTI is a random 128-bit request id, base64url.
func newJTI() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
