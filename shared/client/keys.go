package client

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// Key algorithms the contract allows for the encryption of a request or a
// reveal answer.
const (
	KeyAlgECDH = string(jose.ECDH_ES_A256KW)
	KeyAlgRSA  = string(jose.RSA_OAEP_256)
)

// minRSABits is the contract's floor for RSA keys.
const minRSABits = 2048

// signatureAlgorithm is the JWS algorithm a signing key is used with: the
// key's own "alg" when it names one the contract allows for it, otherwise
// the one its type implies. An RSA key must say whether it is PS256 or RS256.
func signatureAlgorithm(k *jose.JSONWebKey) (jose.SignatureAlgorithm, error) {
	var implied jose.SignatureAlgorithm
	var allowed []jose.SignatureAlgorithm
	switch key := k.Key.(type) {
	case *ecdsa.PrivateKey:
		if key.Curve != elliptic.P256() {
			return "", fmt.Errorf("signing key %q: EC key must be on P-256", k.KeyID)
		}
		implied, allowed = jose.ES256, []jose.SignatureAlgorithm{jose.ES256}
	case *ecdsa.PublicKey:
		if key.Curve != elliptic.P256() {
			return "", fmt.Errorf("signing key %q: EC key must be on P-256", k.KeyID)
		}
		implied, allowed = jose.ES256, []jose.SignatureAlgorithm{jose.ES256}
	case *rsa.PrivateKey:
		if key.N.BitLen() < minRSABits {
			return "", fmt.Errorf("signing key %q: RSA key shorter than %d bits", k.KeyID, minRSABits)
		}
		allowed = []jose.SignatureAlgorithm{jose.PS256, jose.RS256}
	case *rsa.PublicKey:
		if key.N.BitLen() < minRSABits {
			return "", fmt.Errorf("signing key %q: RSA key shorter than %d bits", k.KeyID, minRSABits)
		}
		allowed = []jose.SignatureAlgorithm{jose.PS256, jose.RS256}
	case ed25519.PrivateKey, ed25519.PublicKey:
		implied, allowed = jose.EdDSA, []jose.SignatureAlgorithm{jose.EdDSA}
	default:
		return "", fmt.Errorf("signing key %q: unsupported key type", k.KeyID)
	}
	if k.Algorithm == "" {
		if implied == "" {
			return "", fmt.Errorf("signing key %q: RSA key must name its alg (PS256 or RS256)", k.KeyID)
		}
		return implied, nil
	}
	for _, alg := range allowed {
		if k.Algorithm == string(alg) {
			return alg, nil
		}
	}
	return "", fmt.Errorf("signing key %q: alg %q does not fit the key", k.KeyID, k.Algorithm)
}

// encryptionAlgorithm is the JWE key algorithm an encryption key is used
// with: EC P-256 keys use ECDH-ES+A256KW, RSA keys RSA-OAEP-256. A key whose
// "alg" says otherwise is refused rather than guessed at.
func encryptionAlgorithm(k *jose.JSONWebKey) (jose.KeyAlgorithm, error) {
	var implied jose.KeyAlgorithm
	switch key := k.Key.(type) {
	case *ecdsa.PrivateKey:
		if key.Curve != elliptic.P256() {
			return "", fmt.Errorf("encryption key %q: EC key must be on P-256", k.KeyID)
		}
		implied = jose.ECDH_ES_A256KW
	case *ecdsa.PublicKey:
		if key.Curve != elliptic.P256() {
			return "", fmt.Errorf("encryption key %q: EC key must be on P-256", k.KeyID)
		}
		implied = jose.ECDH_ES_A256KW
	case *rsa.PrivateKey:
		if key.N.BitLen() < minRSABits {
			return "", fmt.Errorf("encryption key %q: RSA key shorter than %d bits", k.KeyID, minRSABits)
		}
		implied = jose.RSA_OAEP_256
	case *rsa.PublicKey:
		if key.N.BitLen() < minRSABits {
			return "", fmt.Errorf("encryption key %q: RSA key shorter than %d bits", k.KeyID, minRSABits)
		}
		implied = jose.RSA_OAEP_256
	default:
		return "", fmt.Errorf("encryption key %q: unsupported key type", k.KeyID)
	}
	if k.Algorithm != "" && k.Algorithm != string(implied) {
		return "", fmt.Errorf("encryption key %q: alg %q does not fit the key", k.KeyID, k.Algorithm)
	}
	return implied, nil
}

// vaultSignatureAlgorithm is the algorithm the vault signs answers with
// under key k: the contract allows ES256 (EC P-256) and PS256 (RSA), so the
// key's type decides, and an "alg" member must agree.
func vaultSignatureAlgorithm(k *jose.JSONWebKey) (jose.SignatureAlgorithm, error) {
	var implied jose.SignatureAlgorithm
	switch key := k.Key.(type) {
	case *ecdsa.PublicKey:
		if key.Curve != elliptic.P256() {
			return "", fmt.Errorf("vault signing key %q: EC key must be on P-256", k.KeyID)
		}
		implied = jose.ES256
	case *rsa.PublicKey:
		if key.N.BitLen() < minRSABits {
			return "", fmt.Errorf("vault signing key %q: RSA key shorter than %d bits", k.KeyID, minRSABits)
		}
		implied = jose.PS256
	default:
		return "", fmt.Errorf("vault signing key %q: unsupported key type", k.KeyID)
	}
	if k.Algorithm != "" && k.Algorithm != string(implied) {
		return "", fmt.Errorf("vault signing key %q: alg %q is not allowed", k.KeyID, k.Algorithm)
	}
	return implied, nil
}
