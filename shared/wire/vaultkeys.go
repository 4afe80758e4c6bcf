package wire

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// VaultKeys is the vault's own keyset: the private keys that decrypt
// requests and the key that signs responses. It is immutable after
// ParseVaultKeys and safe for concurrent use.
type VaultKeys struct {
	enc        map[string]*vaultEncKey
	signer     jose.Signer
	signingKID string
	public     []byte
}

// vaultEncKey is one live decryption key. Several can be live at once so
// that the vault's keys rotate without breaking clients that still hold the
// previous public key.
type vaultEncKey struct {
	kid     string
	alg     jose.KeyAlgorithm
	private any // *rsa.PrivateKey or *ecdsa.PrivateKey
}

// vaultKeysDoc is the stored form: a JWKS plus the kid that signs. The
// choice is explicit so a new signing key can be published (and cached by
// clients) before it is put to use, and an old one kept for verification
// while it is retired.
type vaultKeysDoc struct {
	Keys       []json.RawMessage `json:"keys"`
	SigningKID string            `json:"signing_kid,omitempty"`
}

// SigningKeyID is the kid of the key that signs responses.
func (k *VaultKeys) SigningKeyID() string { return k.signingKID }

// PublicJWKS is the public half of the keyset, as served by GET /v1/jwks.
// The returned slice is shared; callers must not modify it.
func (k *VaultKeys) PublicJWKS() []byte { return k.public }

// GenerateVaultKeys makes a fresh private keyset: an RSA 2048 and an EC
// P-256 encryption key (so clients can use either JWE algorithm) and an EC
// P-256 ES256 signing key. The result is key material: store it only where
// the vault's secrets live.
func GenerateVaultKeys() ([]byte, error) {
	kinds := []string{KindEncryptionRSA, KindEncryptionEC, KindSigning}
	keys := make([]jose.JSONWebKey, len(kinds))
	prefixes := make([]string, len(kinds))
	for i, kind := range kinds {
		var err error
		if keys[i], prefixes[i], err = newVaultKey(kind); err != nil {
			return nil, err
		}
	}
	kids, err := distinctKeyIDs(nil, prefixes...)
	if err != nil {
		return nil, err
	}
	for i := range keys {
		keys[i].KeyID = kids[i]
	}
	doc := vaultKeysDoc{SigningKID: kids[2]}
	for _, key := range keys {
		raw, err := key.MarshalJSON()
		if err != nil {
			return nil, errors.New("encode generated key")
		}
		doc.Keys = append(doc.Keys, raw)
	}
	return json.Marshal(doc)
}

// distinctKeyIDs gives each prefix a random 8-hex-digit suffix, all
// different: kids must never collide, even across rotations.
func distinctKeyIDs(inUse []jose.JSONWebKey, prefixes ...string) ([]string, error) {
	seen := make(map[string]bool, len(inUse)+len(prefixes))
	for _, k := range inUse {
		seen[k.KeyID] = true
	}
	kids := make([]string, 0, len(prefixes))
	for _, prefix := range prefixes {
		for {
			var b [4]byte
			if _, err := rand.Read(b[:]); err != nil {
				return nil, fmt.Errorf("generate key id: %w", err)
			}
			kid := prefix + hex.EncodeToString(b[:])
			if !seen[kid] {
				seen[kid] = true
				kids = append(kids, kid)
				break
			}
		}
	}
	return kids, nil
}

// newVaultKey makes a fresh key of kind (KindEncryptionRSA,
// KindEncryptionEC or KindSigning), without its kid, and returns the
// prefix its kid takes.
func newVaultKey(kind string) (key jose.JSONWebKey, kidPrefix string, err error) {
	switch kind {
	case KindEncryptionRSA:
		k, err := rsa.GenerateKey(rand.Reader, minRSABits)
		if err != nil {
			return jose.JSONWebKey{}, "", fmt.Errorf("generate RSA encryption key: %w", err)
		}
		return jose.JSONWebKey{Key: k, Use: "enc", Algorithm: string(jose.RSA_OAEP_256)}, "vault-enc-rsa-", nil
	case KindEncryptionEC:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return jose.JSONWebKey{}, "", fmt.Errorf("generate EC encryption key: %w", err)
		}
		return jose.JSONWebKey{Key: k, Use: "enc", Algorithm: string(jose.ECDH_ES_A256KW)}, "vault-enc-ec-", nil
	case KindSigning:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return jose.JSONWebKey{}, "", fmt.Errorf("generate signing key: %w", err)
		}
		return jose.JSONWebKey{Key: k, Use: "sig", Algorithm: string(jose.ES256)}, "vault-sig-", nil
	}
	return jose.JSONWebKey{}, "", fmt.Errorf("unknown key kind %q (want %s, %s or %s)", kind, KindEncryptionRSA, KindEncryptionEC, KindSigning)
}

// ParseVaultKeys reads a private keyset. Every key needs kid, use and alg;
// encryption keys are private RSA >= 2048 bit (RSA-OAEP-256) or EC P-256
// (ECDH-ES+A256KW); signing keys are ES256 (EC P-256) or PS256 (RSA >= 2048
// bit). The signing key is the one named by "signing_kid", or the only
// signing key; other signing keys are published for verification only and
// may be public. Errors name keys by index and kid, never by content.
func ParseVaultKeys(privateJWKS []byte) (*VaultKeys, error) {
	if _, err := parseStrictObject(privateJWKS, nil); err != nil {
		return nil, fmt.Errorf("vault keyset: %w", err)
	}
	var doc vaultKeysDoc
	if err := decodeStrictStruct(privateJWKS, &doc); err != nil {
		return nil, fmt.Errorf("vault keyset: %w", err)
	}

	keys := &VaultKeys{enc: make(map[string]*vaultEncKey)}
	var public []jose.JSONWebKey
	sigKeys := make(map[string]jose.JSONWebKey)
	var sigOrder []string
	for i, raw := range doc.Keys {
		jwk, err := parseVaultKey(i, raw)
		if err != nil {
			return nil, err
		}
		if _, dup := sigKeys[jwk.KeyID]; dup || keys.enc[jwk.KeyID] != nil {
			return nil, fmt.Errorf("vault keyset: key %d (kid %q): duplicate kid", i, jwk.KeyID)
		}
		if jwk.Use == "enc" {
			keys.enc[jwk.KeyID] = &vaultEncKey{kid: jwk.KeyID, alg: jose.KeyAlgorithm(jwk.Algorithm), private: jwk.Key}
		} else {
			sigKeys[jwk.KeyID] = jwk
			sigOrder = append(sigOrder, jwk.KeyID)
		}
		public = append(public, jwk.Public())
	}
	if len(keys.enc) == 0 {
		return nil, errors.New("vault keyset: no encryption key (use enc)")
	}

	signingKID, err := chooseSigningKey(doc.SigningKID, sigOrder)
	if err != nil {
		return nil, err
	}
	sigKey := sigKeys[signingKID]
	if !isPrivate(sigKey.Key) {
		return nil, fmt.Errorf("vault keyset: signing key %q has no private part", signingKID)
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.SignatureAlgorithm(sigKey.Algorithm), Key: sigKey},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return nil, fmt.Errorf("vault keyset: signing key %q cannot sign", signingKID)
	}
	keys.signer = signer
	keys.signingKID = signingKID

	keys.public, err = json.Marshal(jose.JSONWebKeySet{Keys: public})
	if err != nil {
		return nil, errors.New("vault keyset: cannot encode public keys")
	}
	return keys, nil
}

func chooseSigningKey(named string, sigKIDs []string) (string, error) {
	if named != "" {
		for _, kid := range sigKIDs {
			if kid == named {
				return kid, nil
			}
		}
		return "", fmt.Errorf("vault keyset: signing_kid %q is not a signing key of the set", named)
	}
	switch len(sigKIDs) {
	case 0:
		return "", errors.New("vault keyset: no signing key (use sig)")
	case 1:
		return sigKIDs[0], nil
	}
	return "", errors.New("vault keyset: several signing keys and no signing_kid to choose one")
}

// parseVaultKey reads and checks one key of the vault's keyset.
func parseVaultKey(i int, raw json.RawMessage) (jose.JSONWebKey, error) {
	fail := func(kid, format string, args ...any) error {
		return fmt.Errorf("vault keyset: key %d (kid %q): %s", i, kid, fmt.Sprintf(format, args...))
	}
	head, err := readJWKHead(raw)
	if err != nil {
		return jose.JSONWebKey{}, fail("", "%v", err)
	}
	if head.kid == "" {
		return jose.JSONWebKey{}, fail("", "kid is required")
	}
	if head.use != "enc" && head.use != "sig" {
		return jose.JSONWebKey{}, fail(head.kid, `use must be "enc" or "sig"`)
	}
	if head.alg == "" {
		return jose.JSONWebKey{}, fail(head.kid, "alg is required")
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		// go-jose's messages name the problem, never the values: the
		// members that hold key material were checked to be strings.
		return jose.JSONWebKey{}, fail(head.kid, "invalid JWK: %v", err)
	}
	if !jwk.Valid() {
		return jose.JSONWebKey{}, fail(head.kid, "invalid JWK")
	}
	if k, ok := jwk.Key.(*rsa.PrivateKey); ok {
		// Decryption without the CRT values is several times slower.
		k.Precompute()
	}
	shape := shapeOf(jwk.Key)

	if head.use == "enc" {
		want, ok := encAlgFor(shape)
		if !ok {
			return jose.JSONWebKey{}, fail(head.kid, "encryption keys must be RSA >= %d bit or EC P-256", minRSABits)
		}
		if head.alg != string(want) {
			return jose.JSONWebKey{}, fail(head.kid, "this %s encryption key needs alg %s", shape, want)
		}
		if !isPrivate(jwk.Key) {
			return jose.JSONWebKey{}, fail(head.kid, "encryption key has no private part")
		}
		return jwk, nil
	}
	switch {
	case head.alg == string(jose.ES256) && shape == shapeP256:
	case head.alg == string(jose.PS256) && shape == shapeRSA:
	default:
		return jose.JSONWebKey{}, fail(head.kid, "signing keys must be ES256 (EC P-256) or PS256 (RSA >= %d bit)", minRSABits)
	}
	return jwk, nil
}

// decodeStrictStruct decodes a configuration document, refusing members
// the vault does not know: a misspelt member in a key or registry document
// should stop the vault at start-up, not be ignored.
func decodeStrictStruct(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return describeDecodeError(err)
	}
	return nil
}
