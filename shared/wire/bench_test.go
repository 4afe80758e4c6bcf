package wire

import (
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// The benchmarks pair the vault's request path with the bare go-jose floor
// (parse + decrypt + parse + verify, same keys, same message) so the ratio
// of OpenJWE to Floor is the cost of the vault's own checks. The design's
// target is a ratio of at most 1.15.

func benchMessage(b *testing.B, alg jose.KeyAlgorithm) (*testFixture, string) {
	f := mustFixture(b)
	jws := signJWS(b, jose.ES256, f.ecSig, "app-sig-es", mustJSON(claims()), nil)
	return f, encryptJWE(b, f, jws, jweOptions{alg: alg})
}

func benchOpen(b *testing.B, alg jose.KeyAlgorithm) {
	f, jwe := benchMessage(b, alg)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.opener.OpenJWE(jwe, wantVault); err != nil {
			b.Fatal(err)
		}
	}
}

// floorOpen is the bare go-jose work every request needs.
func floorOpen(b *testing.B, f *testFixture, alg jose.KeyAlgorithm, jwe string) {
	key := f.vault.enc[f.vaultRSAKid].private
	if alg == jose.ECDH_ES_A256KW {
		key = f.vault.enc[f.vaultECKid].private
	}
	obj, err := jose.ParseEncryptedCompact(jwe, []jose.KeyAlgorithm{alg}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		b.Fatal(err)
	}
	inner, err := obj.Decrypt(key)
	if err != nil {
		b.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(string(inner), []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := jws.Verify(&f.ecSig.PublicKey); err != nil {
		b.Fatal(err)
	}
}

func benchFloor(b *testing.B, alg jose.KeyAlgorithm) {
	f, jwe := benchMessage(b, alg)
	b.ReportAllocs()
	for b.Loop() {
		floorOpen(b, f, alg, jwe)
	}
}

// benchRatio alternates OpenJWE and the floor call by call and reports
// their time ratio, which stays meaningful when other work on the machine
// makes separate runs incomparable.
func benchRatio(b *testing.B, alg jose.KeyAlgorithm) {
	f, jwe := benchMessage(b, alg)
	var open, floor time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := f.opener.OpenJWE(jwe, wantVault); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		floorOpen(b, f, alg, jwe)
		open += mid.Sub(start)
		floor += time.Since(mid)
	}
	b.ReportMetric(float64(open)/float64(floor), "open/floor")
}

func BenchmarkOpenVsFloor_RSA(b *testing.B) { benchRatio(b, jose.RSA_OAEP_256) }
func BenchmarkOpenVsFloor_EC(b *testing.B)  { benchRatio(b, jose.ECDH_ES_A256KW) }

func BenchmarkOpenJWE_RSA(b *testing.B) { benchOpen(b, jose.RSA_OAEP_256) }
func BenchmarkFloor_RSA(b *testing.B)   { benchFloor(b, jose.RSA_OAEP_256) }
func BenchmarkOpenJWE_EC(b *testing.B)  { benchOpen(b, jose.ECDH_ES_A256KW) }
func BenchmarkFloor_EC(b *testing.B)    { benchFloor(b, jose.ECDH_ES_A256KW) }

// BenchmarkOwnWork is the part of OpenJWE that is the vault's and not
// go-jose's: both protected headers, the strict claims scan and the claim
// checks. It is a noise-free view of the overhead on a busy machine, where
// the Open/Floor pairs above swing with the load.
func BenchmarkOwnWork(b *testing.B) {
	f, jwe := benchMessage(b, jose.ECDH_ES_A256KW)
	obj, err := jose.ParseEncryptedCompact(jwe, []jose.KeyAlgorithm{jose.ECDH_ES_A256KW}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		b.Fatal(err)
	}
	inner, err := obj.Decrypt(f.vault.enc[f.vaultECKid].private)
	if err != nil {
		b.Fatal(err)
	}
	jws := string(inner)
	parsed, err := jose.ParseSignedCompact(jws, requestSignatureAlgs)
	if err != nil {
		b.Fatal(err)
	}
	payload := parsed.UnsafePayloadWithoutVerification()
	client, _ := f.registry.Client("app-server")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := readProtectedHeader(jwe[:strings.IndexByte(jwe, '.')]); err != nil {
			b.Fatal(err)
		}
		if _, err := readProtectedHeader(jws[:strings.IndexByte(jws, '.')]); err != nil {
			b.Fatal(err)
		}
		var buf [16]member
		members, err := parseStrictObject(payload, buf[:0])
		if err != nil {
			b.Fatal(err)
		}
		c, err := readClaims(members)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.check(client, wantVault, fixedNow); err != nil {
			b.Fatal(err)
		}
	}
}
