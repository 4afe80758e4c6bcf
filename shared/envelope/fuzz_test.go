package envelope

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"testing"
)

// fuzzBundle is a fixed key bundle, so that records sealed by the process
// that builds the seed corpus open in every fuzz worker process too.
func fuzzBundle() []byte {
	dek := sha256.Sum256([]byte("cardvault fuzz dek"))
	fp := sha256.Sum256([]byte("cardvault fuzz fingerprint key"))
	return append(dek[:], fp[:]...)
}

const fuzzKeyVersion = 7

// FuzzRecordOpen feeds arbitrary bytes and record names to KeyVersionOf
// and MerchantKeys.Open. Neither may panic, and Open must accept exactly
// what an independent open under the documented record formats accepts:
// a version 2 header naming this key version whose clear-field tag is the
// HMAC-SHA256 (fingerprint key) of the record's name and clear fields,
// and an AES-256-GCM tag over the header and the record's type, merchant
// and id; or a version 1 header and a GCM tag over it and the name. Any
// modified byte, or a record opened under another name or beside other
// clear fields (version 2), is refused.
func FuzzRecordOpen(f *testing.F) {
	keys, err := newMerchantKeys("m_1", fuzzKeyVersion, fuzzBundle())
	if err != nil {
		f.Fatal(err)
	}
	ref := referenceGCM(f)
	for _, seed := range []struct {
		ref       RecordRef
		plaintext string
	}{
		{RecordRef{Type: RecordCard, MerchantID: "m_1", ID: "tok_a", Clear: "6:first4|4:4242"}, `{"n":"4242424242424242","m":12,"y":2030}`},
		{RecordRef{Type: RecordSecret, MerchantID: "m_1", ID: "api-key#3"}, "sk_live_0123456789"},
		{RecordRef{Type: RecordCard, MerchantID: "m_1", ID: ""}, ""},
	} {
		sealed, err := keys.Seal(seed.ref, []byte(seed.plaintext))
		if err != nil {
			f.Fatal(err)
		}
		legacy := ref.sealFormat1(f, seed.ref, []byte(seed.plaintext))
		for _, s := range [][]byte{sealed, legacy} {
			r := seed.ref
			f.Add(s, r.Type, r.MerchantID, r.ID, r.Clear)
			flipped := bytes.Clone(s)
			flipped[len(flipped)-1] ^= 1
			f.Add(flipped, r.Type, r.MerchantID, r.ID, r.Clear)
			f.Add(s, r.Type, r.MerchantID, r.ID+"x", r.Clear)
			f.Add(s, r.Type, r.MerchantID, r.ID, r.Clear+"x")
		}
	}
	f.Add([]byte{}, RecordCard, "m_1", "tok_a", "")
	f.Add(bytes.Repeat([]byte{formatV1}, Overhead), RecordCard, "m_1", "tok_a", "")
	f.Add(bytes.Repeat([]byte{formatV2}, Overhead), RecordCard, "m_1", "tok_a", "")

	f.Fuzz(func(t *testing.T, sealed []byte, typ, merchant, id, clear string) {
		input := bytes.Clone(sealed)
		version, verr := KeyVersionOf(sealed)
		if verr == nil && (len(sealed) < 5+12+16 || (sealed[0] != 0x01 && sealed[0] != 0x02) ||
			(sealed[0] == 0x02 && len(sealed) < 12+12+16) || version != binary.BigEndian.Uint32(sealed[1:5])) {
			t.Fatalf("KeyVersionOf accepted a record that is not version 1 or 2, or too short")
		}
		r := RecordRef{Type: typ, MerchantID: merchant, ID: id, Clear: clear}
		got, err := keys.Open(r, sealed)
		want, ok := ref.open(r, sealed)
		if !bytes.Equal(sealed, input) {
			t.Fatal("Open modified its input")
		}
		switch {
		case err == nil && !ok:
			t.Fatalf("Open accepted a record the reference refuses")
		case err != nil && ok:
			t.Fatalf("Open refused a record the reference accepts: %v", err)
		case err != nil && err != ErrOpen:
			t.Fatalf("Open refused with %v, want ErrOpen", err)
		case err == nil && !bytes.Equal(got, want):
			t.Fatal("Open returned another plaintext than the reference")
		}
	})
}

// gcmReference opens records by the formats written down in format.go,
// without the package's own code, and seals format 1 records as the vault
// wrote them before format 2.
type gcmReference struct{ aead cipher.AEAD }

func referenceGCM(tb testing.TB) gcmReference {
	block, err := aes.NewCipher(fuzzBundle()[:32])
	if err != nil {
		tb.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		tb.Fatal(err)
	}
	return gcmReference{aead}
}

func lenPrefixed(fields ...string) []byte {
	var b []byte
	for _, f := range fields {
		b = append(b, strconv.Itoa(len(f))+":"+f...)
	}
	return b
}

// aad is the documented AAD of a record with header h.
func (g gcmReference) aad(h []byte, r RecordRef) []byte {
	return append(append([]byte("cardvault-record"), h...), lenPrefixed(r.Type, r.MerchantID, r.ID)...)
}

// clearTag is the documented clear-field tag.
func (g gcmReference) clearTag(r RecordRef) []byte {
	mac := hmac.New(sha256.New, fuzzBundle()[32:])
	mac.Write(lenPrefixed("record-clear-fields"))
	mac.Write(lenPrefixed(r.Type, r.MerchantID, r.ID, r.Clear))
	return mac.Sum(nil)[:7]
}

func (g gcmReference) open(r RecordRef, sealed []byte) ([]byte, bool) {
	if r.MerchantID != "m_1" || len(sealed) < 5 || binary.BigEndian.Uint32(sealed[1:5]) != fuzzKeyVersion {
		return nil, false
	}
	var h int
	switch {
	case sealed[0] == 0x01 && len(sealed) >= 5+12+16:
		h = 5
	case sealed[0] == 0x02 && len(sealed) >= 12+12+16:
		h = 12
		if !bytes.Equal(sealed[5:12], g.clearTag(r)) {
			return nil, false
		}
	default:
		return nil, false
	}
	pt, err := g.aead.Open(nil, sealed[h:h+12], sealed[h+12:], g.aad(sealed[:h], r))
	return pt, err == nil
}

// sealFormat1 seals a version 1 record (fixed nonce: a test fixture).
func (g gcmReference) sealFormat1(tb testing.TB, r RecordRef, plaintext []byte) []byte {
	tb.Helper()
	h := []byte{0x01, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(h[1:], fuzzKeyVersion)
	nonce := bytes.Repeat([]byte{9}, 12)
	return g.aead.Seal(append(append([]byte{}, h...), nonce...), nonce, plaintext, g.aad(h, r))
}
