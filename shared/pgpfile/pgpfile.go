// Package pgpfile reads and writes the OpenPGP files card data moves in
// between providers (github.com/ProtonMail/go-crypto, the maintained fork
// of x/crypto/openpgp). Everything streams: a file is decrypted and
// encrypted as it passes through, never held whole in memory, and its
// plaintext is never written anywhere by this package.
package pgpfile

import (
	"bufio"
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/cardvault/vault/shared/secret"
)

// ErrNotForVault: the file is not an OpenPGP message encrypted to one of
// the vault's import keys, or it failed its integrity check.
var ErrNotForVault = errors.New("pgpfile: not an integrity-protected OpenPGP message to the vault's import key")

// ErrRecipientKey: a recipient key is not fit to encrypt card data to.
var ErrRecipientKey = errors.New("pgpfile: recipient key refused")

// config is the OpenPGP configuration of every operation: modern
// defaults (AES-256, SHA-256), no unauthenticated (non-MDC) messages,
// which go-crypto refuses by default.
func config(now func() time.Time) *packet.Config {
	return &packet.Config{
		DefaultHash:            crypto.SHA256,
		DefaultCipher:          packet.CipherAES256,
		DefaultCompressionAlgo: packet.CompressionNone,
		Time:                   now,
	}
}

// GenerateKey makes a new import key pair (Ed25519 signing primary with
// an X25519 encryption subkey, which gpg and every provider's tooling
// read) and returns its armored private key block.
func GenerateKey(name string, now time.Time) (secret.Secret[[]byte], error) {
	cfg := config(func() time.Time { return now })
	cfg.Algorithm = packet.PubKeyAlgoEdDSA
	e, err := openpgp.NewEntity(name, "card import key", "", cfg)
	if err != nil {
		return secret.Secret[[]byte]{}, err
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PrivateKeyType, nil)
	if err != nil {
		return secret.Secret[[]byte]{}, err
	}
	if err := e.SerializePrivate(w, cfg); err != nil {
		return secret.Secret[[]byte]{}, err
	}
	if err := w.Close(); err != nil {
		return secret.Secret[[]byte]{}, err
	}
	return secret.New(buf.Bytes()), nil
}

// Rotate returns ring with a newly generated key in front: the new key is
// the one published and signing from now on, the old ones keep
// decrypting files made for them.
func Rotate(ring []byte, name string, now time.Time) (secret.Secret[[]byte], error) {
	if _, err := ParseKeyRing(ring, nil); err != nil {
		return secret.Secret[[]byte]{}, err
	}
	fresh, err := GenerateKey(name, now)
	if err != nil {
		return secret.Secret[[]byte]{}, err
	}
	out := append(append(append([]byte(nil), fresh.Reveal()...), '\n'), ring...)
	return secret.New(out), nil
}

// KeyRing is the vault's import key ring: the current key (first in the
// document) and the older ones still decrypting files made for them.
type KeyRing struct {
	entities openpgp.EntityList
	now      func() time.Time
}

// ParseKeyRing reads one or more armored private key blocks. A key that
// is only public, passphrase-protected, or lacks an encryption or signing
// key is refused: the vault must be able to use every key it holds.
func ParseKeyRing(doc []byte, now func() time.Time) (*KeyRing, error) {
	if now == nil {
		now = time.Now
	}
	var all openpgp.EntityList
	rest := doc
	for len(bytes.TrimSpace(rest)) > 0 {
		block, err := armor.Decode(bytes.NewReader(rest))
		if err != nil {
			if len(all) > 0 && errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("pgpfile: import key ring: %w", err)
		}
		if block.Type != openpgp.PrivateKeyType {
			return nil, fmt.Errorf("pgpfile: import key ring holds a %q block; want private keys", block.Type)
		}
		list, err := openpgp.ReadKeyRing(block.Body)
		if err != nil {
			return nil, fmt.Errorf("pgpfile: import key ring: %w", err)
		}
		all = append(all, list...)
		end := bytes.Index(rest, []byte("-----END PGP PRIVATE KEY BLOCK-----"))
		if end < 0 {
			break
		}
		rest = rest[end+len("-----END PGP PRIVATE KEY BLOCK-----"):]
	}
	if len(all) == 0 {
		return nil, errors.New("pgpfile: import key ring is empty")
	}
	for _, e := range all {
		if e.PrivateKey == nil || e.PrivateKey.Encrypted {
			return nil, fmt.Errorf("pgpfile: import key %X has no usable private key", e.PrimaryKey.Fingerprint)
		}
		for _, sk := range e.Subkeys {
			if sk.PrivateKey == nil || sk.PrivateKey.Encrypted {
				return nil, fmt.Errorf("pgpfile: import key %X has a subkey without a usable private key", e.PrimaryKey.Fingerprint)
			}
		}
	}
	if _, ok := all[0].EncryptionKey(now()); !ok {
		return nil, fmt.Errorf("pgpfile: import key %X has no live encryption key", all[0].PrimaryKey.Fingerprint)
	}
	if _, ok := all[0].SigningKey(now()); !ok {
		return nil, fmt.Errorf("pgpfile: import key %X has no live signing key", all[0].PrimaryKey.Fingerprint)
	}
	return &KeyRing{entities: all, now: now}, nil
}

// Fingerprint is the current key's fingerprint, in hex.
func (k *KeyRing) Fingerprint() string {
	return fmt.Sprintf("%X", k.entities[0].PrimaryKey.Fingerprint)
}

// Keys is how many keys the ring holds.
func (k *KeyRing) Keys() int { return len(k.entities) }

// PublicKey is the current key's public half, ASCII-armored: what
// GET /v1/import-key serves and what exports are signed with.
func (k *KeyRing) PublicKey() ([]byte, error) {
	return publicArmored(k.entities[0])
}

// PublicKeyOf returns the armored public half of a private key ring
// document's current key, for publishing it apart from the private ring.
func PublicKeyOf(doc []byte) ([]byte, error) {
	ring, err := ParseKeyRing(doc, nil)
	if err != nil {
		return nil, err
	}
	return ring.PublicKey()
}

func publicArmored(e *openpgp.Entity) ([]byte, error) {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, err
	}
	if err := e.Serialize(w); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// CheckPublicKey reports whether doc is one armored OpenPGP public key,
// for configuration that publishes it.
func CheckPublicKey(doc []byte) error {
	list, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("pgpfile: public key: %w", err)
	}
	if len(list) != 1 || list[0].PrivateKey != nil {
		return errors.New("pgpfile: want exactly one public key")
	}
	return nil
}

// armorPrefix starts an ASCII-armored message.
var armorPrefix = []byte("-----BEGIN PGP MESSAGE-----")

// Decrypt returns the plaintext of an OpenPGP message (binary or
// ASCII-armored, compressed or not) encrypted to one of the ring's keys.
// The plaintext streams: it is decrypted as it is read. The message's
// integrity check (MDC, or AEAD chunks) is verified as the reader reaches
// it; a failure comes back from Read as ErrNotForVault.
func (k *KeyRing) Decrypt(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(512)
	var in io.Reader = br
	if bytes.Contains(head, armorPrefix) {
		block, err := armor.Decode(br)
		if err != nil || block.Type != "PGP MESSAGE" {
			return nil, ErrNotForVault
		}
		in = block.Body
	}
	md, err := openpgp.ReadMessage(in, k.entities, nil, config(k.now))
	if err != nil {
		return nil, errors.Join(ErrNotForVault, err)
	}
	if !md.IsEncrypted || md.DecryptedWith.Entity == nil || md.IsSymmetricallyEncrypted {
		return nil, ErrNotForVault
	}
	return &checkedReader{r: md.UnverifiedBody}, nil
}

// checkedReader reports any failure of the message below (integrity,
// truncation, corrupt compression) as ErrNotForVault, so that callers
// tell a bad file from a failing dependency.
type checkedReader struct{ r io.Reader }

func (c *checkedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		return n, errors.Join(ErrNotForVault, err)
	}
	return n, err
}

// Recipient is a provider's public key that card data may be encrypted
// to: checked by ParseRecipient.
type Recipient struct {
	entity *openpgp.Entity
}

// Fingerprint is the recipient's primary key fingerprint, in hex (safe to
// log and audit).
func (r *Recipient) Fingerprint() string { return fmt.Sprintf("%X", r.entity.PrimaryKey.Fingerprint) }

// MinRSABits is the smallest RSA modulus card data is encrypted to.
const MinRSABits = 2048

// ParseRecipient reads one ASCII-armored public key and checks that card
// data may be sent to it: not revoked, not expired, with a live
// encryption key that is RSA of at least 2048 bits or a modern curve
// (X25519, X448, or ECDH on Curve25519, P-256/384/521 or Brainpool).
func ParseRecipient(armored string, now time.Time) (*Recipient, error) {
	list, err := openpgp.ReadArmoredKeyRing(bytes.NewReader([]byte(armored)))
	if err != nil {
		return nil, fmt.Errorf("%w: not an ASCII-armored OpenPGP public key", ErrRecipientKey)
	}
	if len(list) != 1 {
		return nil, fmt.Errorf("%w: want exactly one key, got %d", ErrRecipientKey, len(list))
	}
	e := list[0]
	if e.PrivateKey != nil {
		return nil, fmt.Errorf("%w: a private key was sent; send the public key only", ErrRecipientKey)
	}
	if e.Revoked(now) {
		return nil, fmt.Errorf("%w: the key is revoked", ErrRecipientKey)
	}
	key, ok := e.EncryptionKey(now)
	if !ok {
		return nil, fmt.Errorf("%w: no live (unexpired, unrevoked) encryption key", ErrRecipientKey)
	}
	if err := strongEnough(key.PublicKey); err != nil {
		return nil, err
	}
	return &Recipient{entity: e}, nil
}

func strongEnough(pk *packet.PublicKey) error {
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly:
		bits, err := pk.BitLength()
		if err != nil || bits < MinRSABits {
			return fmt.Errorf("%w: RSA encryption key under %d bits", ErrRecipientKey, MinRSABits)
		}
		return nil
	case packet.PubKeyAlgoX25519, packet.PubKeyAlgoX448:
		return nil
	case packet.PubKeyAlgoECDH:
		curve, err := pk.Curve()
		if err != nil {
			return fmt.Errorf("%w: unknown ECDH curve", ErrRecipientKey)
		}
		switch curve {
		case packet.Curve25519, packet.Curve448, packet.CurveNistP256, packet.CurveNistP384, packet.CurveNistP521,
			packet.CurveBrainpoolP256, packet.CurveBrainpoolP384, packet.CurveBrainpoolP512:
			return nil
		}
		return fmt.Errorf("%w: ECDH curve %s not accepted", ErrRecipientKey, curve)
	}
	return fmt.Errorf("%w: encryption algorithm %d not accepted", ErrRecipientKey, pk.PubKeyAlgo)
}

// EncryptTo returns a writer whose input becomes a binary OpenPGP message
// on w, encrypted to the recipient and signed with the ring's current
// key. Close it to finish the message (and its signature).
func (k *KeyRing) EncryptTo(w io.Writer, to *Recipient) (io.WriteCloser, error) {
	hints := &openpgp.FileHints{IsBinary: true, FileName: "cards.csv"}
	return openpgp.Encrypt(w, []*openpgp.Entity{to.entity}, k.entities[0], hints, config(k.now))
}
