package wire

import (
	"encoding/json"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// TestVaultKeyRotationSteps walks the documented procedure: add keys,
// switch the signing key, retire the old ones, checking after each step
// that what clients hold keeps working.
func TestVaultKeyRotationSteps(t *testing.T) {
	doc, err := GenerateVaultKeys()
	if err != nil {
		t.Fatal(err)
	}
	before, _ := ParseVaultKeys(doc)
	oldSigner := before.SigningKeyID()
	oldEC := kidOf(t, doc, "ECDH-ES+A256KW")

	doc, newEC, err := AddVaultKey(doc, KindEncryptionEC)
	if err != nil {
		t.Fatal(err)
	}
	doc, newSig, err := AddVaultKey(doc, KindSigning)
	if err != nil {
		t.Fatal(err)
	}
	mid, err := ParseVaultKeys(doc)
	if err != nil {
		t.Fatal(err)
	}
	if mid.SigningKeyID() != oldSigner {
		t.Fatal("adding a signing key switched signing before clients could learn it")
	}
	for _, kid := range []string{oldEC, newEC, newSig} {
		if !strings.Contains(string(mid.PublicJWKS()), kid) {
			t.Fatalf("%s is not published", kid)
		}
	}
	if _, err := RetireVaultKey(doc, oldSigner); err == nil {
		t.Fatal("retired the key that signs")
	}
	doc, err = SetSigningKey(doc, newSig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SetSigningKey(doc, newEC); err == nil {
		t.Fatal("an encryption key was made the signing key")
	}
	doc, err = RetireVaultKey(doc, oldSigner)
	if err != nil {
		t.Fatal(err)
	}
	doc, err = RetireVaultKey(doc, oldEC)
	if err != nil {
		t.Fatal(err)
	}
	after, err := ParseVaultKeys(doc)
	if err != nil {
		t.Fatal(err)
	}
	if after.SigningKeyID() != newSig || strings.Contains(string(after.PublicJWKS()), oldEC) || strings.Contains(string(after.PublicJWKS()), `"d"`) {
		t.Fatalf("after rotation: signer %s, jwks %s", after.SigningKeyID(), after.PublicJWKS())
	}
	rsa := kidOf(t, doc, "RSA-OAEP-256")
	doc, err = RetireVaultKey(doc, rsa)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RetireVaultKey(doc, newEC); err == nil {
		t.Fatal("retired the last encryption key")
	}
	if _, _, err := AddVaultKey(doc, "dir"); err == nil {
		t.Fatal("added a key of an unknown kind")
	}
}

// TestRequestToAnOldKeyStillOpensWhileItIsLive: several encryption keys
// may be live at once, so clients that still encrypt to the old kid keep
// working during a rotation.
func TestRequestToAnOldKeyStillOpensWhileItIsLive(t *testing.T) {
	f := mustFixture(t)
	doc, err := GenerateVaultKeys()
	if err != nil {
		t.Fatal(err)
	}
	original, _ := ParseVaultKeys(doc)
	var published jose.JSONWebKeySet
	if err := json.Unmarshal(original.PublicJWKS(), &published); err != nil {
		t.Fatal(err)
	}
	oldKey := published.Key(kidOf(t, doc, "ECDH-ES+A256KW"))[0]
	doc, _, err = AddVaultKey(doc, KindEncryptionEC)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := ParseVaultKeys(doc)
	if err != nil {
		t.Fatal(err)
	}
	o := &Opener{Keys: rotated, Clients: StaticRegistry(f.registry), Now: f.opener.Now}
	jws := signJWS(t, jose.ES256, f.ecSig, "app-sig-es", mustJSON(claims()), nil)
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.ECDH_ES_A256KW, Key: oldKey.Key, KeyID: oldKey.KeyID},
		(&jose.EncrypterOptions{}).WithContentType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := enc.Encrypt([]byte(jws))
	if err != nil {
		t.Fatal(err)
	}
	jwe, _ := obj.CompactSerialize()
	if _, err := o.OpenJWE(jwe, Expect{Op: OpVaultCard}); err != nil {
		t.Fatalf("request to the old key after adding a new one: %v", err)
	}
}

func kidOf(t *testing.T, doc []byte, alg string) string {
	t.Helper()
	infos, err := ListVaultKeys(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range infos {
		if i.Algorithm == alg {
			return i.KeyID
		}
	}
	var pretty any
	_ = json.Unmarshal(doc, &pretty)
	t.Fatalf("no %s key", alg)
	return ""
}
