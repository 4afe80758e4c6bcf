package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"hash"
	"strconv"

	"github.com/cardvault/vault/shared/secret"
)

// A merchant's key bundle holds, per version, two independent 256-bit
// keys wrapped together so that one unwrap serves both:
//
//	record key (DEK)   AES-256-GCM for the merchant's records
//	fingerprint key    HMAC-SHA256 for keyed card fingerprints
//
// The fingerprint key is carried unchanged from version to version, so a
// card's fingerprint survives DEK rotation; it dies with the merchant's
// last bundle when the merchant is shredded.
const (
	dekSize    = 32
	fpKeySize  = 32
	bundleSize = dekSize + fpKeySize
)

// MerchantKeys are one version of a merchant's unwrapped keys. They are
// safe for concurrent use and never leave the process.
type MerchantKeys struct {
	merchantID string
	version    uint32
	aead       cipher.AEAD
	// fingerprint is a keyed HMAC state that is cloned for every use and
	// never written to, so concurrent callers need no lock.
	fingerprint hash.Cloner
	// raw is the unwrapped bundle, kept only to be wiped when the cache
	// evicts these keys. The AES key schedule inside aead and the HMAC pads
	// are not reachable from here; they go with the garbage collector.
	raw []byte
}

func newMerchantKeys(merchantID string, version uint32, bundle []byte) (*MerchantKeys, error) {
	if len(bundle) != bundleSize {
		return nil, errors.New("envelope: merchant key bundle has the wrong size")
	}
	block, err := aes.NewCipher(bundle[:dekSize])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	fingerprint, ok := hmac.New(sha256.New, bundle[dekSize:]).(hash.Cloner)
	if !ok {
		return nil, errors.New("envelope: HMAC state cannot be cloned")
	}
	return &MerchantKeys{
		merchantID:  merchantID,
		version:     version,
		aead:        aead,
		fingerprint: fingerprint,
		raw:         bundle,
	}, nil
}

// newBundle makes a bundle with a fresh record key and the given
// fingerprint key (nil for a merchant's first version: a fresh one).
func newBundle(fingerprintKey []byte) ([]byte, error) {
	b := make([]byte, bundleSize)
	if _, err := rand.Read(b[:dekSize]); err != nil {
		return nil, err
	}
	if fingerprintKey == nil {
		if _, err := rand.Read(b[dekSize:]); err != nil {
			return nil, err
		}
	} else {
		copy(b[dekSize:], fingerprintKey)
	}
	return b, nil
}

// MerchantID is the merchant these keys belong to.
func (k *MerchantKeys) MerchantID() string { return k.merchantID }

// Version is the key version, recorded in every ciphertext sealed with it.
func (k *MerchantKeys) Version() uint32 { return k.version }

// Seal encrypts plaintext for the record ref, which must name this
// merchant, binding ref.Clear through the clear-field tag (format 2).
func (k *MerchantKeys) Seal(ref RecordRef, plaintext []byte) ([]byte, error) {
	if ref.MerchantID != k.merchantID {
		return nil, errors.New("envelope: record belongs to another merchant")
	}
	return seal(k.aead, k.version, k.clearTag(ref), ref, plaintext)
}

// Open decrypts a record sealed for ref with this key version. Any
// mismatch (another record, merchant, version, clear fields other than
// those it was sealed beside, or a modified byte) is ErrOpen. A format 1
// record binds no clear fields and opens whatever ref.Clear holds.
func (k *MerchantKeys) Open(ref RecordRef, sealed []byte) ([]byte, error) {
	if ref.MerchantID != k.merchantID {
		return nil, ErrOpen
	}
	p, err := parse(k.version, sealed)
	if err != nil {
		return nil, err
	}
	if len(p.clearTag) != 0 && !hmac.Equal(p.clearTag, k.clearTag(ref)) {
		return nil, ErrOpen
	}
	return open(k.aead, ref, p)
}

// Reseal moves a record of ref sealed with the keys from (an older
// version of this merchant's) to these keys, as format 2. A format 2
// record keeps its clear-field tag, which the fingerprint key shared by
// every version still checks, so ref.Clear is not needed; a format 1
// record is bound to ref.Clear, which the caller reads for it. The
// plaintext never leaves this function.
func (k *MerchantKeys) Reseal(from *MerchantKeys, ref RecordRef, sealed []byte) ([]byte, error) {
	if ref.MerchantID != k.merchantID || from.merchantID != k.merchantID {
		return nil, ErrOpen
	}
	p, err := parse(from.version, sealed)
	if err != nil {
		return nil, err
	}
	clearTag := p.clearTag
	if len(clearTag) == 0 {
		clearTag = k.clearTag(ref)
	}
	plaintext, err := open(from.aead, ref, p)
	if err != nil {
		return nil, err
	}
	defer secret.Wipe(plaintext)
	return seal(k.aead, k.version, clearTag, ref, plaintext)
}

// clearTag is the record's clear-field tag: the first clearTagSize bytes
// of the keyed fingerprint of its name and clear fields.
func (k *MerchantKeys) clearTag(ref RecordRef) []byte {
	var b []byte
	b = appendField(b, ref.Type)
	b = appendField(b, ref.MerchantID)
	b = appendField(b, ref.ID)
	b = appendField(b, ref.Clear)
	return k.Fingerprint(clearTagDomain, b)[:clearTagSize]
}

// clearTagDomain separates clear-field tags from card fingerprints made
// with the same key.
const clearTagDomain = "record-clear-fields"

// Fingerprint is HMAC-SHA256 under the merchant's fingerprint key of
// domain and data, length-prefixed so that domains cannot collide. Equal
// inputs of one merchant give equal fingerprints; nothing about data can
// be learned without the key.
func (k *MerchantKeys) Fingerprint(domain string, data []byte) []byte {
	c, err := k.fingerprint.Clone()
	if err != nil {
		// crypto/hmac over sha256 always clones; this is unreachable.
		panic("envelope: fingerprint state cannot be cloned: " + err.Error())
	}
	// A hash.Hash's Write never returns an error.
	_, _ = c.Write([]byte(strconv.Itoa(len(domain)) + ":" + domain))
	_, _ = c.Write(data)
	return c.Sum(nil)
}

// wipe zeroes the raw bundle; called by the cache on eviction.
func (k *MerchantKeys) wipe() { secret.Wipe(k.raw) }

// bundleContext is the encryption context of a merchant's key bundle.
func bundleContext(merchantID string, version uint32) EncryptionContext {
	return EncryptionContext{
		ContextMerchant:   merchantID,
		ContextPurpose:    PurposeMerchantKeys,
		ContextKeyVersion: strconv.FormatUint(uint64(version), 10),
	}
}
