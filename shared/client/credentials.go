package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/secret"
)

// maxClientIDLen bounds a client id; the contract's jti and ids use the
// same 128-character ceiling.
const maxClientIDLen = 128

// Credentials are a client's identity: its registry id and its two private
// keys, one to sign requests and one to receive reveal answers.
//
// The keys are unexported and held in secret.Secret, and Credentials
// formats itself without them, so printing or logging credentials shows the
// client id and key ids only. MarshalPrivate is the one way to the key
// material.
type Credentials struct {
	ClientID string

	sigKey secret.Secret[jose.JSONWebKey]
	sigAlg jose.SignatureAlgorithm
	encKey secret.Secret[jose.JSONWebKey]
	encAlg jose.KeyAlgorithm
}

// credentialsFile is the on-disk form shared by the vault's local mode (its
// demo client) and `vaultctl keys generate`.
type credentialsFile struct {
	ClientID string `json:"client_id"`
	Keys     struct {
		Keys []json.RawMessage `json:"keys"`
	} `json:"keys"`
}

// LoadCredentials reads a credentials file. The file holds private keys and
// should be readable by its owner only (mode 0600).
func LoadCredentials(path string) (*Credentials, error) {
	doc, err := os.ReadFile(path) // #nosec G304 -- the client's own credentials file, named by its operator
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	defer secret.Wipe(doc)
	return ParseCredentials(doc)
}

// ParseCredentials reads the credentials file format:
// {"client_id": "...", "keys": {"keys": [private sig JWK, private enc JWK]}}.
// Exactly one private key must have "use" "sig" and one "use" "enc".
func ParseCredentials(doc []byte) (*Credentials, error) {
	var file credentialsFile
	if err := json.Unmarshal(doc, &file); err != nil {
		// A JSON error can quote a fragment of the input, which here is key
		// material: report where, never what.
		return nil, errors.New("credentials: not a valid credentials JSON document")
	}
	if file.ClientID == "" || len(file.ClientID) > maxClientIDLen {
		return nil, fmt.Errorf("credentials: client_id must be 1..%d characters", maxClientIDLen)
	}
	creds := &Credentials{ClientID: file.ClientID}
	var haveSig, haveEnc bool
	for i, raw := range file.Keys.Keys {
		var key jose.JSONWebKey
		if err := key.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("credentials: key %d is not a usable JWK", i)
		}
		if key.IsPublic() || !key.Valid() {
			return nil, fmt.Errorf("credentials: key %q is not a private key", key.KeyID)
		}
		if key.KeyID == "" {
			return nil, fmt.Errorf("credentials: key %d has no kid", i)
		}
		switch key.Use {
		case "sig":
			if haveSig {
				return nil, errors.New("credentials: more than one signing key")
			}
			alg, err := signatureAlgorithm(&key)
			if err != nil {
				return nil, fmt.Errorf("credentials: %w", err)
			}
			creds.sigKey, creds.sigAlg, haveSig = secret.New(key), alg, true
		case "enc":
			if haveEnc {
				return nil, errors.New("credentials: more than one encryption key")
			}
			alg, err := encryptionAlgorithm(&key)
			if err != nil {
				return nil, fmt.Errorf("credentials: %w", err)
			}
			creds.encKey, creds.encAlg, haveEnc = secret.New(key), alg, true
		default:
			return nil, fmt.Errorf("credentials: key %q must have use \"sig\" or \"enc\"", key.KeyID)
		}
	}
	if !haveSig || !haveEnc {
		return nil, errors.New("credentials: need one private signing key and one private encryption key")
	}
	return creds, nil
}

// GenerateCredentials makes a new client: an ES256 signing key and an
// encryption key for encAlg, KeyAlgECDH (EC P-256) or KeyAlgRSA (RSA 2048).
// The kids are "<clientID>-sig-<6 hex>" and "<clientID>-enc-<6 hex>"; the
// random suffix keeps kids unique across re-generations, which the registry
// requires.
func GenerateCredentials(clientID, encAlg string) (*Credentials, error) {
	if clientID == "" || len(clientID) > maxClientIDLen {
		return nil, fmt.Errorf("credentials: client id must be 1..%d characters", maxClientIDLen)
	}
	sigPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("credentials: generate signing key: %w", err)
	}
	var encPriv any
	switch encAlg {
	case KeyAlgECDH:
		encPriv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyAlgRSA:
		encPriv, err = rsa.GenerateKey(rand.Reader, minRSABits)
	default:
		return nil, fmt.Errorf("credentials: encryption algorithm must be %s or %s", KeyAlgECDH, KeyAlgRSA)
	}
	if err != nil {
		return nil, fmt.Errorf("credentials: generate encryption key: %w", err)
	}
	sigKID, err := newKeyID(clientID, "sig")
	if err != nil {
		return nil, err
	}
	encKID, err := newKeyID(clientID, "enc")
	if err != nil {
		return nil, err
	}
	return &Credentials{
		ClientID: clientID,
		sigKey:   secret.New(jose.JSONWebKey{Key: sigPriv, KeyID: sigKID, Algorithm: string(jose.ES256), Use: "sig"}),
		sigAlg:   jose.ES256,
		encKey:   secret.New(jose.JSONWebKey{Key: encPriv, KeyID: encKID, Algorithm: encAlg, Use: "enc"}),
		encAlg:   jose.KeyAlgorithm(encAlg),
	}, nil
}

func newKeyID(clientID, use string) (string, error) {
	var suffix [3]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return "", fmt.Errorf("credentials: key id: %w", err)
	}
	return clientID + "-" + use + "-" + hex.EncodeToString(suffix[:]), nil
}

// SigningKeyID is the kid of the client's signing key (the JWS "kid").
func (c *Credentials) SigningKeyID() string { return c.sigKey.Reveal().KeyID }

// EncryptionKeyID is the kid of the client's encryption key.
func (c *Credentials) EncryptionKeyID() string { return c.encKey.Reveal().KeyID }

// EncryptionAlgorithm is the JWE algorithm reveal answers to this client use.
func (c *Credentials) EncryptionAlgorithm() string { return string(c.encAlg) }

// MarshalPrivate is the credentials file content, private keys included.
// Write it with mode 0600.
func (c *Credentials) MarshalPrivate() ([]byte, error) {
	doc := struct {
		ClientID string             `json:"client_id"`
		Keys     jose.JSONWebKeySet `json:"keys"`
	}{
		ClientID: c.ClientID,
		Keys:     jose.JSONWebKeySet{Keys: []jose.JSONWebKey{c.sigKey.Reveal(), c.encKey.Reveal()}},
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, errors.New("credentials: cannot encode keys")
	}
	return append(out, '\n'), nil
}

// RegistryEntry is the client's entry for the vault's client registry:
// {"id", "merchants", "operations", "keys": {"keys": [public sig, public
// enc]}}. It holds public keys only. merchants lists merchant ids or "*";
// ops are contract operation names, checked here because the registry
// refuses an entry with an unknown one.
func (c *Credentials) RegistryEntry(merchants []string, ops []string) ([]byte, error) {
	if len(merchants) == 0 {
		return nil, errors.New("registry entry: at least one merchant (or \"*\") is needed")
	}
	for _, m := range merchants {
		if m == "" {
			return nil, errors.New("registry entry: empty merchant id")
		}
	}
	if len(ops) == 0 {
		return nil, errors.New("registry entry: at least one operation is needed")
	}
	for _, op := range ops {
		if !IsOperation(op) {
			return nil, fmt.Errorf("registry entry: unknown operation %q", op)
		}
	}
	sig, enc := c.sigKey.Reveal(), c.encKey.Reveal()
	entry := struct {
		ID         string             `json:"id"`
		Merchants  []string           `json:"merchants"`
		Operations []string           `json:"operations"`
		Keys       jose.JSONWebKeySet `json:"keys"`
	}{
		ID:         c.ClientID,
		Merchants:  merchants,
		Operations: ops,
		Keys:       jose.JSONWebKeySet{Keys: []jose.JSONWebKey{sig.Public(), enc.Public()}},
	}
	for _, k := range entry.Keys.Keys {
		if !k.Valid() || !k.IsPublic() {
			return nil, errors.New("registry entry: cannot derive public keys")
		}
	}
	out, err := json.MarshalIndent(entry, "", "  ")
	if err != nil {
		return nil, errors.New("registry entry: cannot encode keys")
	}
	return out, nil
}

// String shows the client id and key ids, never key material.
func (c Credentials) String() string {
	return fmt.Sprintf("client.Credentials{ClientID: %q, sig: %q, enc: %q}",
		c.ClientID, c.sigKey.Reveal().KeyID, c.encKey.Reveal().KeyID)
}

// GoString keeps %#v from dumping the keys.
func (c Credentials) GoString() string { return c.String() }

// Format makes every verb and flag print String, so %+v and %#v cannot
// reach the unexported key fields.
func (c Credentials) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }
