package wire

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Test fixtures: one vault keyset and a small client registry, generated
// once per test binary because RSA key generation is slow.

const cardNumber = "4242424242424242"

var fixedNow = time.Unix(1790000000, 0)

type testFixture struct {
	vault         *VaultKeys
	vaultPublic   jose.JSONWebKeySet
	vaultRSAKid   string
	vaultECKid    string
	vaultRSAPub   any
	vaultECPub    any
	registry      *Registry
	registryJSON  []byte
	ecSig         *ecdsa.PrivateKey // app-server, kid app-sig-es
	rsaSig        *rsa.PrivateKey   // app-server, kid app-sig-rsa (PS256 and RS256)
	edSig         ed25519.PrivateKey
	appEnc        *rsa.PrivateKey   // app-server's RSA encryption key
	ecClientSig   *ecdsa.PrivateKey // ec-client, kid ec-sig
	ecClientEnc   *ecdsa.PrivateKey // ec-client's EC encryption key
	limitedSig    *ecdsa.PrivateKey // limited, kid limited-sig
	otherSig      *ecdsa.PrivateKey // other, kid other-sig
	attackerSig   *ecdsa.PrivateKey // in no registry
	opener        *Opener
	allOperations []string
}

var (
	fixtureOnce sync.Once
	fixture     *testFixture
	fixtureErr  error
)

func mustFixture(t testing.TB) *testFixture {
	t.Helper()
	fixtureOnce.Do(func() { fixture, fixtureErr = buildFixture() })
	if fixtureErr != nil {
		t.Fatalf("build fixture: %v", fixtureErr)
	}
	return fixture
}

func buildFixture() (*testFixture, error) {
	f := &testFixture{}
	doc, err := GenerateVaultKeys()
	if err != nil {
		return nil, err
	}
	if f.vault, err = ParseVaultKeys(doc); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(f.vault.PublicJWKS(), &f.vaultPublic); err != nil {
		return nil, err
	}
	for _, k := range f.vaultPublic.Keys {
		switch {
		case k.Use == "enc" && k.Algorithm == string(jose.RSA_OAEP_256):
			f.vaultRSAKid, f.vaultRSAPub = k.KeyID, k.Key
		case k.Use == "enc" && k.Algorithm == string(jose.ECDH_ES_A256KW):
			f.vaultECKid, f.vaultECPub = k.KeyID, k.Key
		}
	}

	ec := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	}
	f.ecSig, f.ecClientSig, f.ecClientEnc, f.limitedSig, f.otherSig, f.attackerSig = ec(), ec(), ec(), ec(), ec(), ec()
	if f.rsaSig, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if f.appEnc, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if _, f.edSig, err = ed25519.GenerateKey(rand.Reader); err != nil {
		return nil, err
	}

	for _, op := range allOps() {
		f.allOperations = append(f.allOperations, string(op))
	}
	f.registryJSON = mustJSON(map[string]any{"clients": []any{
		map[string]any{
			"id": "app-server", "merchants": []string{"*"}, "operations": f.allOperations,
			"keys": map[string]any{"keys": []any{
				publicJWK(f.ecSig, "app-sig-es", "sig", "ES256"),
				publicJWK(f.rsaSig, "app-sig-rsa", "sig", ""),
				publicJWK(f.edSig, "app-sig-ed", "sig", "EdDSA"),
				publicJWK(f.appEnc, "app-enc-rsa", "enc", "RSA-OAEP-256"),
			}},
		},
		map[string]any{
			"id": "ec-client", "merchants": []string{"m_123"}, "operations": f.allOperations,
			"keys": map[string]any{"keys": []any{
				publicJWK(f.ecClientSig, "ec-sig", "sig", "ES256"),
				publicJWK(f.ecClientEnc, "ec-enc", "enc", ""),
			}},
		},
		map[string]any{
			"id": "limited", "merchants": []string{"m_1"}, "operations": []string{"get_masked", "vault_card"},
			"keys": map[string]any{"keys": []any{publicJWK(f.limitedSig, "limited-sig", "sig", "ES256")}},
		},
		map[string]any{
			"id": "other", "merchants": []string{"*"}, "operations": f.allOperations,
			"keys": map[string]any{"keys": []any{publicJWK(f.otherSig, "other-sig", "sig", "ES256")}},
		},
	}})
	if f.registry, err = ParseRegistry(f.registryJSON); err != nil {
		return nil, err
	}
	f.opener = &Opener{Keys: f.vault, Clients: StaticRegistry(f.registry), Now: func() time.Time { return fixedNow }}
	return f, nil
}

func allOps() []Operation {
	return []Operation{OpVaultCard, OpGetMasked, OpRevealCard, OpDeleteCard, OpPutSecret, OpGetSecret,
		OpRevealSecret, OpDeleteSecret, OpRotateKeys, OpGetKeys, OpShredMerchant}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// publicJWK is the registry form of the public half of key.
func publicJWK(key crypto.Signer, kid, use, alg string) json.RawMessage {
	jwk := jose.JSONWebKey{Key: key.Public(), KeyID: kid, Use: use, Algorithm: alg}
	b, err := jwk.MarshalJSON()
	if err != nil {
		panic(err)
	}
	return b
}

// claims returns a valid vault_card claim set for app-server.
func claims() map[string]any {
	var jti [8]byte
	_, _ = rand.Read(jti[:])
	return map[string]any{
		"iss": "app-server", "aud": Audience, "iat": fixedNow.Unix(), "jti": hex.EncodeToString(jti[:]),
		"op": string(OpVaultCard), "merchant_id": "m_123", "customer_id": "c_9",
		"card": map[string]any{"number": cardNumber, "exp_month": 12, "exp_year": 2030, "holder_name": "Jane Doe"},
	}
}

func with(c map[string]any, kv ...any) map[string]any {
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
			continue
		}
		c[kv[i].(string)] = kv[i+1]
	}
	return c
}

// signJWS signs payload as a client would, with go-jose.
func signJWS(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, payload []byte, opts *jose.SignerOptions) string {
	t.Helper()
	if opts == nil {
		opts = &jose.SignerOptions{}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, opts.WithType("JWT"))
	if err != nil {
		t.Fatalf("signer: %v", err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return s
}

// rawES256 signs an arbitrary protected header and payload, for headers
// go-jose would not produce.
func rawES256(t testing.TB, key *ecdsa.PrivateKey, header, payload string) string {
	t.Helper()
	input := b64(header) + "." + b64(payload)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// jweOptions shape the JWE a test client sends.
type jweOptions struct {
	alg jose.KeyAlgorithm
	enc jose.ContentEncryption
	cty string
	kid string
	zip bool
}

func encryptJWE(t testing.TB, f *testFixture, plaintext string, o jweOptions) string {
	t.Helper()
	if o.alg == "" {
		o.alg = jose.RSA_OAEP_256
	}
	if o.enc == "" {
		o.enc = jose.A256GCM
	}
	if o.cty == "" {
		o.cty = "JWT"
	}
	key := f.vaultRSAPub
	if o.alg == jose.ECDH_ES_A256KW {
		key = f.vaultECPub
	}
	if o.kid == "" {
		o.kid = f.vaultRSAKid
		if o.alg == jose.ECDH_ES_A256KW {
			o.kid = f.vaultECKid
		}
	}
	opts := (&jose.EncrypterOptions{}).WithContentType(jose.ContentType(o.cty))
	if o.zip {
		opts.Compression = jose.DEFLATE
	}
	enc, err := jose.NewEncrypter(o.enc, jose.Recipient{Algorithm: o.alg, Key: key, KeyID: o.kid}, opts)
	if err != nil {
		t.Fatalf("encrypter: %v", err)
	}
	obj, err := enc.Encrypt([]byte(plaintext))
	if err != nil {
		t.Fatalf("encrypt: %v", err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return s
}
