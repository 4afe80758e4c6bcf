package client

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func TestCredentialsRoundTrip(t *testing.T) {
	for _, encAlg := range []string{KeyAlgECDH, KeyAlgRSA} {
		t.Run(encAlg, func(t *testing.T) {
			creds, err := GenerateCredentials("demo-app", encAlg)
			if err != nil {
				t.Fatal(err)
			}
			kidPattern := regexp.MustCompile(`^demo-app-(sig|enc)-[0-9a-f]{6}$`)
			if !kidPattern.MatchString(creds.SigningKeyID()) || !kidPattern.MatchString(creds.EncryptionKeyID()) ||
				!strings.Contains(creds.SigningKeyID(), "-sig-") || !strings.Contains(creds.EncryptionKeyID(), "-enc-") {
				t.Errorf("kids = %q, %q", creds.SigningKeyID(), creds.EncryptionKeyID())
			}
			doc, err := creds.MarshalPrivate()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "creds.json")
			if err := os.WriteFile(path, doc, 0o600); err != nil {
				t.Fatal(err)
			}
			back, err := LoadCredentials(path)
			if err != nil {
				t.Fatalf("LoadCredentials: %v", err)
			}
			if back.ClientID != "demo-app" || back.SigningKeyID() != creds.SigningKeyID() ||
				back.EncryptionKeyID() != creds.EncryptionKeyID() || back.EncryptionAlgorithm() != encAlg || back.sigAlg != jose.ES256 {
				t.Errorf("round trip changed the credentials: %v", back)
			}
			// The parsed signing key must be the same key: a request signed by
			// it verifies with the original public key.
			signer, err := newRequestSigner(back)
			if err != nil {
				t.Fatal(err)
			}
			jws, err := signer.Sign([]byte("{}"))
			if err != nil {
				t.Fatal(err)
			}
			orig := creds.sigKey.Reveal()
			if _, err := jws.Verify(orig.Public().Key); err != nil {
				t.Errorf("parsed signing key differs: %v", err)
			}
			switch encAlg {
			case KeyAlgECDH:
				if !back.encKey.Reveal().Key.(*ecdsa.PrivateKey).Equal(creds.encKey.Reveal().Key) {
					t.Error("parsed encryption key differs")
				}
			case KeyAlgRSA:
				if !back.encKey.Reveal().Key.(*rsa.PrivateKey).Equal(creds.encKey.Reveal().Key) {
					t.Error("parsed encryption key differs")
				}
			}
		})
	}
}

func TestGenerateCredentialsRefusesBadInput(t *testing.T) {
	if _, err := GenerateCredentials("", KeyAlgECDH); err == nil {
		t.Error("empty client id accepted")
	}
	if _, err := GenerateCredentials("app", "A256KW"); err == nil {
		t.Error("symmetric key algorithm accepted")
	}
}

func TestParseCredentialsInLocalModeFormat(t *testing.T) {
	creds := newTestCreds(t, KeyAlgRSA)
	sig, enc := creds.sigKey.Reveal(), creds.encKey.Reveal()
	sigJSON, _ := json.Marshal(sig)
	encJSON, _ := json.Marshal(enc)
	doc := `{"client_id": "demo-app", "keys": {"keys": [` + string(encJSON) + `, ` + string(sigJSON) + `]}}`
	got, err := ParseCredentials([]byte(doc))
	if err != nil {
		t.Fatalf("ParseCredentials: %v", err)
	}
	if got.ClientID != "demo-app" || got.EncryptionAlgorithm() != KeyAlgRSA {
		t.Errorf("got %v", got)
	}
}

func TestParseCredentialsRefusals(t *testing.T) {
	creds := newTestCreds(t, KeyAlgECDH)
	sig, enc := creds.sigKey.Reveal(), creds.encKey.Reveal()
	private := func(k jose.JSONWebKey) string { b, _ := json.Marshal(k); return string(b) }
	public := func(k jose.JSONWebKey) string { b, _ := json.Marshal(k.Public()); return string(b) }
	secretD := jsonMember(t, private(sig), "d")
	tests := map[string]string{
		"not JSON":            `{"client_id": "x", "keys": ` + secretD,
		"no client id":        `{"keys": {"keys": [` + private(sig) + `,` + private(enc) + `]}}`,
		"public signing key":  `{"client_id": "x", "keys": {"keys": [` + public(sig) + `,` + private(enc) + `]}}`,
		"no encryption key":   `{"client_id": "x", "keys": {"keys": [` + private(sig) + `]}}`,
		"two signing keys":    `{"client_id": "x", "keys": {"keys": [` + private(sig) + `,` + private(sig) + `,` + private(enc) + `]}}`,
		"enc key used as sig": `{"client_id": "x", "keys": {"keys": [` + strings.Replace(private(enc), `"use":"enc"`, `"use":"sig"`, 1) + `,` + private(enc) + `]}}`,
	}
	for name, doc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseCredentials([]byte(doc))
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), secretD) {
				t.Errorf("error quotes key material: %v", err)
			}
		})
	}
}

func TestRegistryEntryHoldsPublicKeysOnly(t *testing.T) {
	for _, encAlg := range []string{KeyAlgECDH, KeyAlgRSA} {
		creds := newTestCreds(t, encAlg)
		raw, err := creds.RegistryEntry([]string{"*"}, Operations())
		if err != nil {
			t.Fatal(err)
		}
		var entry struct {
			ID         string                          `json:"id"`
			Merchants  []string                        `json:"merchants"`
			Operations []string                        `json:"operations"`
			Keys       struct{ Keys []map[string]any } `json:"keys"`
		}
		if err := json.Unmarshal(raw, &entry); err != nil {
			t.Fatal(err)
		}
		if entry.ID != "app-server" || len(entry.Merchants) != 1 || entry.Merchants[0] != "*" || len(entry.Operations) != len(Operations()) || len(entry.Keys.Keys) != 2 {
			t.Errorf("entry = %s", raw)
		}
		uses := map[any]any{}
		for _, k := range entry.Keys.Keys {
			for _, member := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
				if _, has := k[member]; has {
					t.Errorf("%s: registry key %v holds private member %q", encAlg, k["kid"], member)
				}
			}
			uses[k["use"]] = k["kid"]
		}
		if uses["sig"] != creds.SigningKeyID() || uses["enc"] != creds.EncryptionKeyID() {
			t.Errorf("keys by use = %v", uses)
		}
	}
}

func TestRegistryEntryRefusals(t *testing.T) {
	creds := newTestCreds(t, KeyAlgECDH)
	if _, err := creds.RegistryEntry([]string{"m_1"}, []string{"vault_card", "steal_cards"}); err == nil {
		t.Error("unknown operation accepted")
	}
	if _, err := creds.RegistryEntry(nil, Operations()); err == nil {
		t.Error("no merchants accepted")
	}
	if _, err := creds.RegistryEntry([]string{"m_1"}, nil); err == nil {
		t.Error("no operations accepted")
	}
}

func TestPrintingShowsNoKeyMaterialOrCardData(t *testing.T) {
	for _, encAlg := range []string{KeyAlgECDH, KeyAlgRSA} {
		creds := newTestCreds(t, encAlg)
		card := testCard()
		req := VaultCardRequest{MerchantID: testMerchant, Card: card}
		revealed := RevealedCard{MerchantID: testMerchant, Token: "tok_1", Card: card}
		out := fmt.Sprintf("%v %+v", creds, card) +
			fmt.Sprintf("%v %+v %#v %s %v %+v %#v %+v %+v", *creds, creds, creds, creds, req, req, card, revealed, &revealed)
		cardJSON, _ := json.Marshal(revealed)
		out += string(cardJSON)
		credsJSON, _ := json.Marshal(creds)
		out += string(credsJSON)

		for _, leak := range append(privateMembers(t, creds), testPAN, testHolder, "424242424242") {
			if strings.Contains(out, leak) {
				t.Errorf("%s: printed output holds %q:\n%s", encAlg, leak, out)
			}
		}
		if !strings.Contains(out, creds.SigningKeyID()) || !strings.Contains(out, "app-server") {
			t.Errorf("printed credentials lose the ids: %s", out)
		}
	}
}

// privateMembers are the base64url private key members of creds, plus the
// decimal form of the EC scalar, as strings a leak would contain.
func privateMembers(t *testing.T, creds *Credentials) []string {
	t.Helper()
	var out []string
	for _, k := range []jose.JSONWebKey{creds.sigKey.Reveal(), creds.encKey.Reveal()} {
		raw, _ := json.Marshal(k)
		for _, member := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if v := jsonMember(t, string(raw), member); v != "" {
				out = append(out, v)
				if b, err := base64.RawURLEncoding.DecodeString(v); err == nil && len(b) >= 8 {
					out = append(out, fmt.Sprintf("%x", b[:8]))
				}
			}
		}
		if ec, ok := k.Key.(*ecdsa.PrivateKey); ok {
			if d, err := ec.Bytes(); err == nil {
				out = append(out, new(big.Int).SetBytes(d).String()[:16])
			}
		}
		if r, ok := k.Key.(*rsa.PrivateKey); ok {
			out = append(out, r.D.String()[:16])
		}
	}
	return out
}

func jsonMember(t *testing.T, doc, member string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	s, _ := m[member].(string)
	return s
}
