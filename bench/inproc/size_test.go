package inproc

import (
	"testing"

	"github.com/cardvault/vault/shared/envelope"
)

// BenchmarkCiphertextSize reports the stored size of one card record's
// ciphertext for the same plaintext (the vault's sealed card, read back
// from a real record): this vault's record format against Tink's KMS
// envelope AEAD with AES256_GCM DEKs. The Tink figure is a lower bound:
// its encrypted DEK here comes from kmssim.RemoteAEAD (nonce + key +
// tag), while a real AWS KMS ciphertext blob is larger. Sizes do not
// vary, so the loop only keeps the benchmark framework's shape.
func BenchmarkCiphertextSize(b *testing.B) {
	plaintext, sealed := cardRecord(b)
	if len(sealed) != len(plaintext)+envelope.Overhead {
		b.Fatalf("record is %d bytes for %d of plaintext; the format says %d of overhead", len(sealed), len(plaintext), envelope.Overhead)
	}
	b.Run("vault", func(b *testing.B) {
		for b.Loop() {
		}
		reportSize(b, len(plaintext), len(sealed))
	})
	b.Run("tink", func(b *testing.B) {
		env, _ := newTinkEnvelope(b, 0)
		var n int
		for b.Loop() {
			ct, err := env.Encrypt(plaintext, tinkAAD(0))
			if err != nil {
				b.Fatal(err)
			}
			n = len(ct)
		}
		reportSize(b, len(plaintext), n)
	})
}

func reportSize(b *testing.B, plaintext, total int) {
	b.ReportMetric(float64(plaintext), "plaintext-bytes")
	b.ReportMetric(float64(total), "record-bytes")
	b.ReportMetric(float64(total-plaintext), "overhead-bytes")
	b.ReportMetric(0, "ns/op")
}
