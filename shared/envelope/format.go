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

// Record format, version 2 (what Seal writes):
//
//	offset  size  field
//	0       1     format version (0x02)
//	1       4     key version, big endian
//	5       7     clear-field tag
//	12      12    random nonce
//	24      n+16  AES-256-GCM ciphertext and tag
//
// 40 bytes of overhead per record. The header (format, key version, clear
// tag) is authenticated as part of the AAD, which also names the record
// (type, merchant, id), so a ciphertext copied into another record, or
// relabelled with another key version, fails to open.
//
// The clear-field tag binds the fields the record keeps in the clear
// beside its ciphertext (its masked view, customer, fingerprint,
// expiry...; see ClearFields): it is the first 7 bytes of HMAC-SHA256,
// under the merchant's fingerprint key, of the record's name and clear
// fields. Open recomputes it from the clear fields it is given and
// refuses a record whose stored tag differs, so clear fields altered in
// the table fail like a moved ciphertext. The fingerprint key is carried
// unchanged from key version to version, so re-encryption (Reseal) keeps
// the tag as it is and needs no clear field. Without the key a forged
// set of clear fields passes one Open in 2^56; every try is a reveal that
// the vault refuses and audits.
//
// Version 1 is the same without the clear tag (0x01, 5-byte header, 33
// bytes of overhead). Open still opens it, so records written before
// version 2 keep working; they move to version 2 when they are next
// sealed (Reseal, as a key rotation does for every record). The format
// byte and the header length are in the AAD, so a version 2 record cannot
// be passed off as version 1.
const (
	formatV1 byte = 0x01
	formatV2 byte = 0x02
	// v1HeaderSize and headerSize are the headers of version 1 and 2.
	v1HeaderSize = 1 + 4
	clearTagSize = 7
	headerSize   = v1HeaderSize + clearTagSize
	nonceSize    = 12
	tagSize      = 16
	// Overhead is the size a sealed record adds to its plaintext.
	Overhead   = headerSize + nonceSize + tagSize
	v1Overhead = v1HeaderSize + nonceSize + tagSize
)

// Format versions, as FormatOf reports them.
const (
	// FormatUnbound is version 1: nothing binds the clear fields.
	FormatUnbound = int(formatV1)
	// FormatBound is version 2: the clear-field tag binds them.
	FormatBound = int(formatV2)
)

// Record types name what a ciphertext holds; they are part of its AAD.
const (
	RecordCard   = "card"
	RecordSecret = "secret"
)

// ErrOpen reports a ciphertext that failed authentication or is not in a
// known format. It deliberately says nothing more.
var ErrOpen = errors.New("envelope: record failed authentication")

// RecordRef names the record a ciphertext belongs to, and what it keeps
// in the clear beside it.
type RecordRef struct {
	Type       string
	MerchantID string
	ID         string
	// Clear is the record's clear fields (ClearFields.String), bound by
	// format 2's clear-field tag. Format 1 records are opened without it.
	Clear string
}

// ClearFields is the canonical encoding of the fields a record stores in
// the clear beside its ciphertext: each name and value length-prefixed,
// in the order they are added, which the record's owner keeps fixed per
// record type. A change to any value, or a value moved to another name,
// changes the encoding.
type ClearFields struct{ b []byte }

// Add appends one field.
func (c *ClearFields) Add(name, value string) {
	c.b = appendField(c.b, name)
	c.b = appendField(c.b, value)
}

// String is the encoding, for RecordRef.Clear.
func (c *ClearFields) String() string { return string(c.b) }

// KeyVersionOf reads the key version from a sealed record's header without
// opening it, so the caller can fetch the right key.
func KeyVersionOf(sealed []byte) (uint32, error) {
	if _, err := FormatOf(sealed); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(sealed[1:v1HeaderSize]), nil
}

// FormatOf reads a sealed record's format version (FormatUnbound or
// FormatBound) without opening it.
func FormatOf(sealed []byte) (int, error) {
	switch {
	case len(sealed) >= Overhead && sealed[0] == formatV2:
		return FormatBound, nil
	case len(sealed) >= v1Overhead && sealed[0] == formatV1:
		return FormatUnbound, nil
	}
	return 0, ErrOpen
}

// parsed is a sealed record split at its fields.
type parsed struct {
	header, clearTag, nonce, ciphertext []byte
}

// parse splits a record of a known format sealed with key version.
func parse(version uint32, sealed []byte) (parsed, error) {
	v, err := KeyVersionOf(sealed)
	if err != nil || v != version {
		return parsed{}, ErrOpen
	}
	h := v1HeaderSize
	if sealed[0] == formatV2 {
		h = headerSize
	}
	return parsed{
		header:     sealed[:h],
		clearTag:   sealed[v1HeaderSize:h],
		nonce:      sealed[h : h+nonceSize],
		ciphertext: sealed[h+nonceSize:],
	}, nil
}

// seal writes a version 2 record with the given clear-field tag.
func seal(aead cipher.AEAD, version uint32, clearTag []byte, ref RecordRef, plaintext []byte) ([]byte, error) {
	out := make([]byte, headerSize+nonceSize, Overhead+len(plaintext))
	out[0] = formatV2
	binary.BigEndian.PutUint32(out[1:v1HeaderSize], version)
	copy(out[v1HeaderSize:headerSize], clearTag)
	nonce := out[headerSize : headerSize+nonceSize]
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(out, nonce, plaintext, recordAAD(out[:headerSize], ref)), nil
}

// open decrypts a parsed record. It does not look at the clear-field tag
// beyond authenticating it as part of the header: the caller checks it.
func open(aead cipher.AEAD, ref RecordRef, p parsed) ([]byte, error) {
	pt, err := aead.Open(nil, p.nonce, p.ciphertext, recordAAD(p.header, ref))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// recordAAD is "cardvault-record" || header || len-prefixed type,
// merchant, id. Length prefixes keep ("a","bc") and ("ab","c") apart.
func recordAAD(header []byte, ref RecordRef) []byte {
	b := make([]byte, 0, 48+len(ref.Type)+len(ref.MerchantID)+len(ref.ID))
	b = append(b, "cardvault-record"...)
	b = append(b, header...)
	b = appendField(b, ref.Type)
	b = appendField(b, ref.MerchantID)
	b = appendField(b, ref.ID)
	return b
}

func appendField(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

func writeField(b *strings.Builder, s string) {
	b.WriteString(strconv.Itoa(len(s)))
	b.WriteByte(':')
	b.WriteString(s)
}
