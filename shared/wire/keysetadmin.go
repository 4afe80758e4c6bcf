package wire

import (
	"encoding/json"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// Vault key rotation works on the private JWKS document, one step at a
// time, so that no client ever meets a key it does not know:
//
//  1. AddVaultKey: a new encryption or signing key joins the set and is
//     published in /v1/jwks; requests may use new encryption keys at once,
//     responses are still signed by the old signing key.
//  2. SetSigningKey: once clients have refreshed their copy of the JWKS,
//     responses are signed by the new key.
//  3. RetireVaultKey: once no client encrypts to an old key (or verifies
//     with it), it leaves the set.
//
// Each step returns a new document that ParseVaultKeys accepts; the old
// document is left as it was.

// VaultKeyKinds are the kinds AddVaultKey makes.
const (
	KindEncryptionRSA = "enc-rsa"
	KindEncryptionEC  = "enc-ec"
	KindSigning       = "sig"
)

// VaultKeyInfo describes one key of the set, without key material.
type VaultKeyInfo struct {
	KeyID     string `json:"kid"`
	Use       string `json:"use"`
	Algorithm string `json:"alg"`
	Signing   bool   `json:"signing,omitempty"`
}

// ListVaultKeys describes the keys of a private JWKS document.
func ListVaultKeys(doc []byte) ([]VaultKeyInfo, error) {
	d, keys, err := openDoc(doc)
	if err != nil {
		return nil, err
	}
	infos := make([]VaultKeyInfo, 0, len(keys))
	for _, k := range keys {
		infos = append(infos, VaultKeyInfo{KeyID: k.KeyID, Use: k.Use, Algorithm: k.Algorithm, Signing: k.KeyID == d.signing})
	}
	return infos, nil
}

// AddVaultKey adds a fresh key of the given kind and returns the new
// document and the key's kid. A new signing key does not sign until
// SetSigningKey names it.
func AddVaultKey(doc []byte, kind string) ([]byte, string, error) {
	d, keys, err := openDoc(doc)
	if err != nil {
		return nil, "", err
	}
	key, prefix, err := newVaultKey(kind)
	if err != nil {
		return nil, "", err
	}
	kids, err := distinctKeyIDs(keys, prefix)
	if err != nil {
		return nil, "", err
	}
	key.KeyID = kids[0]
	out, err := d.with(append(keys, key))
	return out, key.KeyID, err
}

// SetSigningKey makes kid, a signing key of the set, the one responses
// are signed with.
func SetSigningKey(doc []byte, kid string) ([]byte, error) {
	d, keys, err := openDoc(doc)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.KeyID == kid {
			if k.Use != "sig" {
				return nil, fmt.Errorf("%s is not a signing key", kid)
			}
			if !isPrivate(k.Key) {
				return nil, fmt.Errorf("%s has no private part: it can verify, not sign", kid)
			}
			d.signing = kid
			return d.with(keys)
		}
	}
	return nil, fmt.Errorf("no key %s in the set", kid)
}

// RetireVaultKey removes kid from the set. The signing key and the last
// encryption key cannot be retired.
func RetireVaultKey(doc []byte, kid string) ([]byte, error) {
	d, keys, err := openDoc(doc)
	if err != nil {
		return nil, err
	}
	if kid == d.signing {
		return nil, fmt.Errorf("%s signs responses: name another signing key first", kid)
	}
	kept := make([]jose.JSONWebKey, 0, len(keys))
	enc := 0
	for _, k := range keys {
		if k.KeyID == kid {
			continue
		}
		if k.Use == "enc" {
			enc++
		}
		kept = append(kept, k)
	}
	if len(kept) == len(keys) {
		return nil, fmt.Errorf("no key %s in the set", kid)
	}
	if enc == 0 {
		return nil, errors.New("the last encryption key cannot be retired")
	}
	return d.with(kept)
}

type openedDoc struct {
	signing string
}

// openDoc parses and validates a document and returns its keys.
func openDoc(doc []byte) (openedDoc, []jose.JSONWebKey, error) {
	parsed, err := ParseVaultKeys(doc)
	if err != nil {
		return openedDoc{}, nil, err
	}
	var raw vaultKeysDoc
	if err := json.Unmarshal(doc, &raw); err != nil {
		return openedDoc{}, nil, err
	}
	keys := make([]jose.JSONWebKey, 0, len(raw.Keys))
	for _, r := range raw.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(r); err != nil {
			return openedDoc{}, nil, errors.New("vault keyset: a key does not parse")
		}
		keys = append(keys, k)
	}
	return openedDoc{signing: parsed.SigningKeyID()}, keys, nil
}

// with encodes keys as a document signed by d.signing, and checks that
// the result is a valid keyset.
func (d openedDoc) with(keys []jose.JSONWebKey) ([]byte, error) {
	out := vaultKeysDoc{SigningKID: d.signing}
	for _, k := range keys {
		raw, err := k.MarshalJSON()
		if err != nil {
			return nil, errors.New("vault keyset: a key does not encode")
		}
		out.Keys = append(out.Keys, raw)
	}
	doc, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	if _, err := ParseVaultKeys(doc); err != nil {
		return nil, err
	}
	return doc, nil
}
