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

// keyFamily is the kind of key a JWK holds, public or private alike.
type keyFamily int

const (
	familyEC keyFamily = iota + 1
	familyRSA
	familyEd25519
)

// keyFamilyOf classifies k and checks the contract's floor for its family
// (EC on P-256, RSA of at least minRSABits), so every use of a key applies
// the same floor. role prefixes the errors ("signing key", "encryption
// key", "vault signing key"); a key of no known family is "unsupported".
func keyFamilyOf(role string, k *jose.JSONWebKey) (keyFamily, error) {
	var family keyFamily
	var curve elliptic.Curve
	var rsaBits int
	switch key := k.Key.(type) {
	case *ecdsa.PrivateKey:
		family, curve = familyEC, key.Curve
	case *ecdsa.PublicKey:
		family, curve = familyEC, key.Curve
	case *rsa.PrivateKey:
		family, rsaBits = familyRSA, key.N.BitLen()
	case *rsa.PublicKey:
		family, rsaBits = familyRSA, key.N.BitLen()
	case ed25519.PrivateKey, ed25519.PublicKey:
		family = familyEd25519
	default:
		return 0, unsupportedKey(role, k)
	}
	switch {
	case family == familyEC && curve != elliptic.P256():
		return 0, fmt.Errorf("%s %q: EC key must be on P-256", role, k.KeyID)
	case family == familyRSA && rsaBits < minRSABits:
		return 0, fmt.Errorf("%s %q: RSA key shorter than %d bits", role, k.KeyID, minRSABits)
	}
	return family, nil
}

func unsupportedKey(role string, k *jose.JSONWebKey) error {
	return fmt.Errorf("%s %q: unsupported key type", role, k.KeyID)
}

// signatureAlgorithm is the JWS algorithm a signing key is used with: the
// key's own "alg" when it names one the contract allows for it, otherwise
// the one its type implies. An RSA key must say whether it is PS256 or RS256.
func signatureAlgorithm(k *jose.JSONWebKey) (jose.SignatureAlgorithm, error) {
	family, err := keyFamilyOf("signing key", k)
	if err != nil {
		return "", err
	}
	var implied jose.SignatureAlgorithm
	var allowed []jose.SignatureAlgorithm
	switch family {
	case familyEC:
		implied, allowed = jose.ES256, []jose.SignatureAlgorithm{jose.ES256}
	case familyRSA:
		allowed = []jose.SignatureAlgorithm{jose.PS256, jose.RS256}
	case familyEd25519:
		implied, allowed = jose.EdDSA, []jose.SignatureAlgorithm{jose.EdDSA}
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
	const role = "encryption key"
	family, err := keyFamilyOf(role, k)
	if err != nil {
		return "", err
	}
	var implied jose.KeyAlgorithm
	switch family {
	case familyEC:
		implied = jose.ECDH_ES_A256KW
	case familyRSA:
		implied = jose.RSA_OAEP_256
	default:
		return "", unsupportedKey(role, k)
	}
	if k.Algorithm != "" && k.Algorithm != string(implied) {
		return "", fmt.Errorf("encryption key %q: alg %q does not fit the key", k.KeyID, k.Algorithm)
	}
	return implied, nil
}

// vaultSignatureAlgorithm is the algorithm the vault signs answers with
// under key k: the contract allows ES256 (EC P-256) and PS256 (RSA), so the
// key's type decides, and an "alg" member must agree. Only a public key is
// a vault key here: the client never holds the vault's private keys.
func vaultSignatureAlgorithm(k *jose.JSONWebKey) (jose.SignatureAlgorithm, error) {
	const role = "vault signing key"
	if !k.IsPublic() {
		return "", unsupportedKey(role, k)
	}
	family, err := keyFamilyOf(role, k)
	if err != nil {
		return "", err
	}
	var implied jose.SignatureAlgorithm
	switch family {
	case familyEC:
		implied = jose.ES256
	case familyRSA:
		implied = jose.PS256
	default:
		return "", unsupportedKey(role, k)
	}
	if k.Algorithm != "" && k.Algorithm != string(implied) {
		return "", fmt.Errorf("vault signing key %q: alg %q is not allowed", k.KeyID, k.Algorithm)
	}
	return implied, nil
}
