// Package envelope is the vault's envelope encryption: per-merchant,
// versioned data keys that exist at rest only wrapped by a keyring (AWS
// KMS or a local master key), a bounded in-memory cache of unwrapped keys,
// and the compact record format that binds each ciphertext to its record.
package envelope

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
)

// Record format, version 1:
//
//	offset  size  field
//	0       1     format version (0x01)
//	1       4     key version, big endian
//	5       12    random nonce
//	17      n+16  AES-256-GCM ciphertext and tag
//
// 33 bytes of overhead per record. The header is authenticated as part of
// the AAD, which also names the record (type, merchant, id), so a
// ciphertext copied into another record, or relabelled with another key
// version, fails to open.
const (
	formatV1   byte = 0x01
	headerSize      = 1 + 4
	nonceSize       = 12
	tagSize         = 16
	// Overhead is the size a sealed record adds to its plaintext.
	Overhead = headerSize + nonceSize + tagSize
)

// Record types name what a ciphertext holds; they are part of its AAD.
const (
	RecordCard   = "card"
	RecordSecret = "secret"
)

// ErrOpen reports a ciphertext that failed authentication or is not in a
// known format. It deliberately says nothing more.
var ErrOpen = errors.New("envelope: record failed authentication")

// RecordRef names the record a ciphertext belongs to.
type RecordRef struct {
	Type       string
	MerchantID string
	ID         string
}

// KeyVersionOf reads the key version from a sealed record's header without
// opening it, so the caller can fetch the right key.
func KeyVersionOf(sealed []byte) (uint32, error) {
	if len(sealed) < Overhead || sealed[0] != formatV1 {
		return 0, ErrOpen
	}
	return binary.BigEndian.Uint32(sealed[1:headerSize]), nil
}

func seal(aead cipher.AEAD, version uint32, ref RecordRef, plaintext []byte) ([]byte, error) {
	out := make([]byte, headerSize+nonceSize, Overhead+len(plaintext))
	out[0] = formatV1
	binary.BigEndian.PutUint32(out[1:headerSize], version)
	nonce := out[headerSize : headerSize+nonceSize]
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(out, nonce, plaintext, recordAAD(out[:headerSize], ref)), nil
}

func open(aead cipher.AEAD, version uint32, ref RecordRef, sealed []byte) ([]byte, error) {
	v, err := KeyVersionOf(sealed)
	if err != nil || v != version {
		return nil, ErrOpen
	}
	nonce := sealed[headerSize : headerSize+nonceSize]
	pt, err := aead.Open(nil, nonce, sealed[headerSize+nonceSize:], recordAAD(sealed[:headerSize], ref))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// recordAAD is "cardvault-record" || header || len-prefixed type, merchant,
// id. Length prefixes keep ("a","bc") and ("ab","c") apart.
func recordAAD(header []byte, ref RecordRef) []byte {
	var b strings.Builder
	b.Grow(32 + len(ref.Type) + len(ref.MerchantID) + len(ref.ID))
	b.WriteString("cardvault-record")
	b.Write(header)
	writeField(&b, ref.Type)
	writeField(&b, ref.MerchantID)
	writeField(&b, ref.ID)
	return []byte(b.String())
}

func writeField(b *strings.Builder, s string) {
	b.WriteString(strconv.Itoa(len(s)))
	b.WriteByte(':')
	b.WriteString(s)
}
