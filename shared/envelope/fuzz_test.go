package envelope

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
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
// what an independent AES-256-GCM open under the documented record format
// accepts: a version 1 header naming this key version, and a tag that
// authenticates the header and the record's type, merchant and id. Any
// modified byte, or a record opened under another name, is refused.
func FuzzRecordOpen(f *testing.F) {
	keys, err := newMerchantKeys("m_1", fuzzKeyVersion, fuzzBundle())
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []struct {
		ref       RecordRef
		plaintext string
	}{
		{RecordRef{RecordCard, "m_1", "tok_a"}, `{"n":"4242424242424242","m":12,"y":2030}`},
		{RecordRef{RecordSecret, "m_1", "api-key#3"}, "sk_live_0123456789"},
		{RecordRef{RecordCard, "m_1", ""}, ""},
	} {
		sealed, err := keys.Seal(seed.ref, []byte(seed.plaintext))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(sealed, seed.ref.Type, seed.ref.MerchantID, seed.ref.ID)
		flipped := bytes.Clone(sealed)
		flipped[len(flipped)-1] ^= 1
		f.Add(flipped, seed.ref.Type, seed.ref.MerchantID, seed.ref.ID)
		f.Add(sealed, seed.ref.Type, seed.ref.MerchantID, seed.ref.ID+"x")
	}
	f.Add([]byte{}, RecordCard, "m_1", "tok_a")
	f.Add(bytes.Repeat([]byte{formatV1}, Overhead), RecordCard, "m_1", "tok_a")

	ref := referenceGCM(f)
	f.Fuzz(func(t *testing.T, sealed []byte, typ, merchant, id string) {
		input := bytes.Clone(sealed)
		version, verr := KeyVersionOf(sealed)
		if verr == nil && (len(sealed) < Overhead || sealed[0] != formatV1 || version != binary.BigEndian.Uint32(sealed[1:5])) {
			t.Fatalf("KeyVersionOf accepted a record that is not version 1 or too short")
		}
		r := RecordRef{Type: typ, MerchantID: merchant, ID: id}
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

// gcmReference opens records by the format written down in format.go,
// without the package's own code.
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

func (g gcmReference) open(r RecordRef, sealed []byte) ([]byte, bool) {
	if r.MerchantID != "m_1" || len(sealed) < 1+4+12+16 || sealed[0] != 0x01 ||
		binary.BigEndian.Uint32(sealed[1:5]) != fuzzKeyVersion {
		return nil, false
	}
	aad := []byte("cardvault-record")
	aad = append(aad, sealed[:5]...)
	for _, field := range []string{r.Type, r.MerchantID, r.ID} {
		aad = append(aad, strconv.Itoa(len(field))+":"+field...)
	}
	pt, err := g.aead.Open(nil, sealed[5:17], sealed[17:], aad)
	return pt, err == nil
}
