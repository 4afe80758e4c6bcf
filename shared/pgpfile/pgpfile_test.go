package pgpfile_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/cardvault/vault/shared/pgpfile"
)

func newRing(t *testing.T) ([]byte, *pgpfile.KeyRing) {
	t.Helper()
	doc, err := pgpfile.GenerateKey("card vault test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ring, err := pgpfile.ParseKeyRing(doc.Reveal(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return doc.Reveal(), ring
}

func publicEntity(t *testing.T, ring *pgpfile.KeyRing) *openpgp.Entity {
	t.Helper()
	pub, err := ring.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	list, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(pub))
	if err != nil || len(list) != 1 || list[0].PrivateKey != nil {
		t.Fatalf("public key: %v %d", err, len(list))
	}
	return list[0]
}

// encrypt makes a file the way a provider would: to the vault's public
// key, optionally armored and compressed.
func encrypt(t *testing.T, to *openpgp.Entity, plaintext string, armored bool, compression packet.CompressionAlgo) []byte {
	t.Helper()
	var out bytes.Buffer
	var dst io.Writer = &out
	var arm io.WriteCloser
	if armored {
		var err error
		if arm, err = armor.Encode(&out, "PGP MESSAGE", nil); err != nil {
			t.Fatal(err)
		}
		dst = arm
	}
	cfg := &packet.Config{DefaultCompressionAlgo: compression}
	w, err := openpgp.Encrypt(dst, []*openpgp.Entity{to}, nil, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, plaintext); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if arm != nil {
		if err := arm.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

func decrypt(ring *pgpfile.KeyRing, file []byte) (string, error) {
	r, err := ring.Decrypt(bytes.NewReader(file))
	if err != nil {
		return "", err
	}
	b, err := io.ReadAll(r)
	return string(b), err
}

func TestDecryptBinaryArmoredCompressed(t *testing.T) {
	_, ring := newRing(t)
	to := publicEntity(t, ring)
	const csv = "number,exp_month,exp_year\n4242424242424242,12,2030\n"
	for _, tc := range []struct {
		name        string
		armored     bool
		compression packet.CompressionAlgo
	}{
		{"binary", false, packet.CompressionNone},
		{"armored", true, packet.CompressionNone},
		{"binary zlib", false, packet.CompressionZLIB},
		{"armored zip", true, packet.CompressionZIP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decrypt(ring, encrypt(t, to, csv, tc.armored, tc.compression))
			if err != nil || got != csv {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func TestOldKeyStillDecryptsAfterRotation(t *testing.T) {
	doc, old := newRing(t)
	file := encrypt(t, publicEntity(t, old), "a,b\n", false, packet.CompressionNone)
	rotated, err := pgpfile.Rotate(doc, "card vault test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ring, err := pgpfile.ParseKeyRing(rotated.Reveal(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ring.Keys() != 2 || ring.Fingerprint() == old.Fingerprint() {
		t.Fatalf("rotation: %d keys, current %s (old %s)", ring.Keys(), ring.Fingerprint(), old.Fingerprint())
	}
	if got, err := decrypt(ring, file); err != nil || got != "a,b\n" {
		t.Fatalf("old file after rotation: %q, %v", got, err)
	}
	// The published key is the new one.
	pub := publicEntity(t, ring)
	if pub.PrimaryKey.KeyIdString() == publicEntity(t, old).PrimaryKey.KeyIdString() {
		t.Fatal("rotation still publishes the old key")
	}
	if got, err := decrypt(ring, encrypt(t, pub, "c\n", true, packet.CompressionNone)); err != nil || got != "c\n" {
		t.Fatalf("new file: %q, %v", got, err)
	}
}

func TestDecryptRefusesWhatIsNotForTheVault(t *testing.T) {
	_, ring := newRing(t)
	_, other := newRing(t)
	toOther := encrypt(t, publicEntity(t, other), "x\n", false, packet.CompressionNone)
	if _, err := decrypt(ring, toOther); !errors.Is(err, pgpfile.ErrNotForVault) {
		t.Fatalf("file for another key: %v", err)
	}
	if _, err := decrypt(ring, []byte("number,exp_month\n4242,1\n")); !errors.Is(err, pgpfile.ErrNotForVault) {
		t.Fatalf("plaintext file: %v", err)
	}
	var sym bytes.Buffer
	w, err := openpgp.SymmetricallyEncrypt(&sym, []byte("passphrase"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(w, "x\n")
	_ = w.Close()
	if _, err := decrypt(ring, sym.Bytes()); !errors.Is(err, pgpfile.ErrNotForVault) {
		t.Fatalf("passphrase file: %v", err)
	}
	// A flipped byte in the encrypted data fails the integrity check,
	// at the latest when the reader reaches it.
	file := encrypt(t, publicEntity(t, ring), strings.Repeat("4242424242424242,12,2030\n", 200), false, packet.CompressionNone)
	file[len(file)-30] ^= 0x01
	if _, err := decrypt(ring, file); !errors.Is(err, pgpfile.ErrNotForVault) {
		t.Fatalf("tampered file: %v", err)
	}
}

func TestParseKeyRingRefusesUnusableKeys(t *testing.T) {
	_, ring := newRing(t)
	pub, _ := ring.PublicKey()
	if _, err := pgpfile.ParseKeyRing(pub, nil); err == nil {
		t.Fatal("public-only ring accepted")
	}
	if _, err := pgpfile.ParseKeyRing([]byte("not a key"), nil); err == nil {
		t.Fatal("garbage accepted")
	}
	if err := pgpfile.CheckPublicKey(pub); err != nil {
		t.Fatal(err)
	}
}

func rsaEntity(t *testing.T, bits int, lifetime uint32) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity("provider", "", "", &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: bits, KeyLifetimeSecs: lifetime})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func armoredPublic(t *testing.T, e *openpgp.Entity) string {
	t.Helper()
	var buf bytes.Buffer
	w, _ := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	return buf.String()
}

func TestParseRecipientChecksTheKey(t *testing.T) {
	now := time.Now()
	strong := rsaEntity(t, 2048, 0)
	if _, err := pgpfile.ParseRecipient(armoredPublic(t, strong), now); err != nil {
		t.Fatalf("RSA 2048: %v", err)
	}
	curve, err := openpgp.NewEntity("provider", "", "", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pgpfile.ParseRecipient(armoredPublic(t, curve), time.Now()); err != nil {
		t.Fatalf("Curve25519: %v", err)
	}
	weak := rsaEntity(t, 1024, 0)
	if _, err := pgpfile.ParseRecipient(armoredPublic(t, weak), now); !errors.Is(err, pgpfile.ErrRecipientKey) {
		t.Fatalf("RSA 1024: %v", err)
	}
	expiring := rsaEntity(t, 2048, 3600)
	if _, err := pgpfile.ParseRecipient(armoredPublic(t, expiring), now.Add(2*time.Hour)); !errors.Is(err, pgpfile.ErrRecipientKey) {
		t.Fatalf("expired key: %v", err)
	}
	revoked := rsaEntity(t, 2048, 0)
	if err := revoked.RevokeKey(packet.KeyCompromised, "test", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := pgpfile.ParseRecipient(armoredPublic(t, revoked), now); !errors.Is(err, pgpfile.ErrRecipientKey) {
		t.Fatalf("revoked key: %v", err)
	}
	var private bytes.Buffer
	w, _ := armor.Encode(&private, openpgp.PrivateKeyType, nil)
	_ = strong.SerializePrivate(w, nil)
	_ = w.Close()
	if _, err := pgpfile.ParseRecipient(private.String(), now); !errors.Is(err, pgpfile.ErrRecipientKey) {
		t.Fatalf("private key: %v", err)
	}
	if _, err := pgpfile.ParseRecipient("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n", now); !errors.Is(err, pgpfile.ErrRecipientKey) {
		t.Fatalf("garbage: %v", err)
	}
}

func TestEncryptToIsSignedByTheImportKey(t *testing.T) {
	_, ring := newRing(t)
	provider := rsaEntity(t, 2048, 0)
	to, err := pgpfile.ParseRecipient(armoredPublic(t, provider), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w, err := ring.EncryptTo(&out, to)
	if err != nil {
		t.Fatal(err)
	}
	const csv = "token,customer_id,number,exp_month,exp_year,holder_name\n"
	_, _ = io.WriteString(w, csv)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(out.Bytes(), []byte("-----")) {
		t.Fatal("export is armored; the contract wants a binary message")
	}
	keyring := openpgp.EntityList{provider, publicEntity(t, ring)}
	md, err := openpgp.ReadMessage(bytes.NewReader(out.Bytes()), keyring, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(md.UnverifiedBody)
	if err != nil || string(body) != csv {
		t.Fatalf("body %q, %v", body, err)
	}
	if !md.IsSigned || md.SignatureError != nil || md.SignedBy == nil || md.SignedBy.Entity.PrimaryKey.KeyId != publicEntity(t, ring).PrimaryKey.KeyId {
		t.Fatalf("signature: signed %v, err %v", md.IsSigned, md.SignatureError)
	}
}
