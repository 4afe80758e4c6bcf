package awsfake

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"maps"
	"slices"
)

// Ciphertext blobs carry the id of the key that made them, as real KMS
// blobs do, so that Decrypt without a KeyId finds its key:
//
//	version (1) | len(key id) (1) | key id | nonce (12) | AES-256-GCM sealed
//
// The encryption context is the AAD, so a blob opens only under the
// context it was sealed with.
const blobVersion = 1

var errMalformedBlob = errors.New("malformed ciphertext blob")

type fakeKey struct {
	id       string
	arn      string
	aead     cipher.AEAD
	disabled bool
}

func newFakeKey() *fakeKey {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	block, err := aes.NewCipher(secret)
	if err != nil {
		panic("awsfake: AES-256 key rejected: " + err.Error())
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("awsfake: GCM unavailable: " + err.Error())
	}
	id := newUUID()
	return &fakeKey{id: id, arn: keyARN(id), aead: aead}
}

func keyARN(id string) string {
	return "arn:aws:kms:" + Region + ":" + Account + ":key/" + id
}

func (k *fakeKey) seal(plaintext []byte, ec map[string]string) []byte {
	nonce := make([]byte, k.aead.NonceSize())
	_, _ = rand.Read(nonce)
	blob := []byte{blobVersion, byte(len(k.id))} // #nosec G115 -- key ids are 36-character UUIDs
	blob = append(blob, k.id...)
	blob = append(blob, nonce...)
	return k.aead.Seal(blob, nonce, plaintext, canonicalContext(ec))
}

func (k *fakeKey) open(blob []byte, ec map[string]string) ([]byte, error) {
	_, body, err := splitBlob(blob)
	if err != nil {
		return nil, err
	}
	ns := k.aead.NonceSize()
	if len(body) < ns+k.aead.Overhead() {
		return nil, errMalformedBlob
	}
	return k.aead.Open(nil, body[:ns], body[ns:], canonicalContext(ec))
}

// splitBlob returns the key id a blob names and the rest of it.
func splitBlob(blob []byte) (keyID string, rest []byte, err error) {
	if len(blob) < 2 || blob[0] != blobVersion || len(blob) < 2+int(blob[1]) {
		return "", nil, errMalformedBlob
	}
	n := int(blob[1])
	return string(blob[2 : 2+n]), blob[2+n:], nil
}

// canonicalContext encodes an encryption context unambiguously: members
// sorted by name, each name and value length-prefixed. A nil and an empty
// context encode alike, as in KMS.
func canonicalContext(ec map[string]string) []byte {
	var out []byte
	for _, name := range slices.Sorted(maps.Keys(ec)) {
		out = binary.BigEndian.AppendUint32(out, uint32(len(name))) // #nosec G115 -- KMS bounds an encryption context to 8 KiB
		out = append(out, name...)
		out = binary.BigEndian.AppendUint32(out, uint32(len(ec[name]))) // #nosec G115 -- KMS bounds an encryption context to 8 KiB
		out = append(out, ec[name]...)
	}
	return out
}
