package vaulttest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// Every operation of the contract.
var AllOps = []string{"vault_card", "get_masked", "reveal_card", "delete_card",
	"put_secret", "get_secret", "reveal_secret", "delete_secret",
	"rotate_keys", "get_keys", "shred_merchant",
	"list_cards", "forward", "import_cards", "export_cards", "get_job"}

// Key material is expensive to make (RSA especially); clients of one test
// binary share it under distinct key ids.
var keys struct {
	once sync.Once
	ec   *ecdsa.PrivateKey
	ec2  *ecdsa.PrivateKey
	rsa  *rsa.PrivateKey
	ed   ed25519.PrivateKey
}

func loadKeys() {
	keys.once.Do(func() {
		keys.ec, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		keys.ec2, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		keys.rsa, _ = rsa.GenerateKey(rand.Reader, 2048)
		_, keys.ed, _ = ed25519.GenerateKey(rand.Reader)
	})
}

// Client is a registered test client that speaks the contract with
// go-jose directly.
type Client struct {
	ID        string
	Merchants []string
	Ops       []string
	SigAlg    jose.SignatureAlgorithm
	SigKID    string
	EncKID    string
	// Destinations, when set, is the registry entry's destinations list.
	Destinations []string
	sigKey       crypto.Signer
	encKey       crypto.Signer
	encAlg       jose.KeyAlgorithm
	vault        *Vault
}

// NewClient makes a client signing with sigAlg (ES256, PS256, RS256 or
// EdDSA), allowed the given merchants ("*" for all) and operations (all
// when none are given). Its encryption key is EC P-256 unless rsaEnc.
func NewClient(id string, sigAlg jose.SignatureAlgorithm, merchants []string, ops ...string) *Client {
	loadKeys()
	if len(ops) == 0 {
		ops = AllOps
	}
	c := &Client{ID: id, Merchants: merchants, Ops: ops, SigAlg: sigAlg,
		SigKID: id + "-sig", EncKID: id + "-enc", encKey: keys.ec2, encAlg: jose.ECDH_ES_A256KW}
	switch sigAlg {
	case jose.ES256:
		c.sigKey = keys.ec
	case jose.PS256, jose.RS256:
		c.sigKey = keys.rsa
	case jose.EdDSA:
		c.sigKey = keys.ed
	default:
		panic("vaulttest: unsupported alg " + string(sigAlg))
	}
	return c
}

// WithRSAEncryption makes the client receive responses under RSA-OAEP-256.
func (c *Client) WithRSAEncryption() *Client {
	c.encKey, c.encAlg = keys.rsa, jose.RSA_OAEP_256
	return c
}

func (c *Client) registryEntry() json.RawMessage {
	sig := jose.JSONWebKey{Key: c.sigKey.Public(), KeyID: c.SigKID, Use: "sig", Algorithm: string(c.SigAlg)}
	enc := jose.JSONWebKey{Key: c.encKey.Public(), KeyID: c.EncKID, Use: "enc", Algorithm: string(c.encAlg)}
	doc := map[string]any{
		"id": c.ID, "merchants": c.Merchants, "operations": c.Ops,
		"keys": jose.JSONWebKeySet{Keys: []jose.JSONWebKey{sig, enc}},
	}
	if c.Destinations != nil {
		doc["destinations"] = c.Destinations
	}
	entry, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return entry
}

// Claims are fresh base claims for op and merchant, plus extra.
func (c *Client) Claims(op, merchant string, extra map[string]any) map[string]any {
	claims := map[string]any{
		"iss": c.ID, "aud": "card-vault", "iat": c.vault.Now().Unix(),
		"jti": randomHex(16), "op": op, "merchant_id": merchant,
	}
	for k, v := range extra {
		claims[k] = v
	}
	return claims
}

// Sign signs claims as a compact JWS with the client's key and kid.
func (c *Client) Sign(t testing.TB, claims any) string {
	t.Helper()
	return c.SignWith(t, claims, c.SigKID, nil)
}

// SignWith signs with a chosen kid and extra protected headers.
func (c *Client) SignWith(t testing.TB, claims any, kid string, extra map[jose.HeaderKey]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	for k, v := range extra {
		opts = opts.WithHeader(k, v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: c.SigAlg, Key: jose.JSONWebKey{Key: c.sigKey, KeyID: kid}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// VaultKey returns the vault's public encryption key for alg from its
// JWKS, as a client would find it.
func (v *Vault) VaultKey(t testing.TB, alg jose.KeyAlgorithm) jose.JSONWebKey {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(v.Env.VaultKeys.PublicJWKS(), &set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		if k.Use == "enc" && k.Algorithm == string(alg) {
			return k
		}
	}
	t.Fatalf("vault has no %s key", alg)
	return jose.JSONWebKey{}
}

// Encrypt wraps a JWS in a JWE to the vault's key for alg.
func (c *Client) Encrypt(t testing.TB, jws string, alg jose.KeyAlgorithm) string {
	t.Helper()
	return EncryptTo(t, c.vault.VaultKey(t, alg), alg, jws, nil)
}

// EncryptTo builds a compact JWE (A256GCM, cty JWT) to key, with extra
// protected headers.
func EncryptTo(t testing.TB, key jose.JSONWebKey, alg jose.KeyAlgorithm, plaintext string, extra map[jose.HeaderKey]any) string {
	t.Helper()
	opts := (&jose.EncrypterOptions{}).WithContentType("JWT")
	for k, v := range extra {
		opts = opts.WithHeader(k, v)
	}
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: alg, Key: key.Key, KeyID: key.KeyID}, opts)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := enc.Encrypt([]byte(plaintext))
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// PostJOSE sends a JWE body.
func (c *Client) PostJOSE(method, path, jwe string) *Response {
	return c.vault.Do(method, path, map[string]string{"Content-Type": "application/jose"}, jwe)
}

// Bearer sends a request authenticated by a bearer JWS.
func (c *Client) Bearer(method, path, jws string) *Response {
	return c.vault.Do(method, path, map[string]string{"Authorization": "Bearer " + jws}, "")
}

// VaultCard vaults a card with fresh claims.
func (c *Client) VaultCard(t testing.TB, merchant string, extra map[string]any, alg jose.KeyAlgorithm) *Response {
	t.Helper()
	return c.PostJOSE(http.MethodPost, "/v1/cards", c.Encrypt(t, c.Sign(t, c.Claims("vault_card", merchant, extra)), alg))
}

// GetMasked fetches a masked card view.
func (c *Client) GetMasked(t testing.TB, merchant, token string) *Response {
	t.Helper()
	return c.Bearer(http.MethodGet, "/v1/cards/"+url.PathEscape(token), c.Sign(t, c.Claims("get_masked", merchant, map[string]any{"token": token})))
}

// Call sends a bearer request for op on path with the route's claims.
func (c *Client) Call(t testing.TB, method, path, op, merchant string, extra map[string]any) *Response {
	t.Helper()
	return c.Bearer(method, path, c.Sign(t, c.Claims(op, merchant, extra)))
}

// OpenResponse decrypts a reveal response with the client's key and
// verifies the vault's signature with the key its JWKS publishes.
func (c *Client) OpenResponse(t testing.TB, body string) map[string]any {
	t.Helper()
	jwe, err := jose.ParseEncryptedCompact(body, []jose.KeyAlgorithm{c.encAlg}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		t.Fatalf("response is not a JWE: %v", err)
	}
	if jwe.Header.KeyID != c.EncKID {
		t.Fatalf("response JWE kid %q, want %q", jwe.Header.KeyID, c.EncKID)
	}
	if cty, _ := jwe.Header.ExtraHeaders["cty"].(string); cty != "JWT" {
		t.Fatalf("response JWE cty %q", cty)
	}
	inner, err := jwe.Decrypt(c.encKey)
	if err != nil {
		t.Fatalf("decrypt response: %v", err)
	}
	jws, err := jose.ParseSignedCompact(string(inner), []jose.SignatureAlgorithm{jose.ES256, jose.PS256})
	if err != nil {
		t.Fatalf("response payload is not a JWS: %v", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(c.vault.Env.VaultKeys.PublicJWKS(), &set); err != nil {
		t.Fatal(err)
	}
	keys := set.Key(jws.Signatures[0].Protected.KeyID)
	if len(keys) != 1 || keys[0].Use != "sig" {
		t.Fatalf("response signed by a key the JWKS does not publish for signing")
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("response signature: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// String keeps key material out of test failure output.
func (c *Client) String() string { return fmt.Sprintf("client %s (%s)", c.ID, c.SigAlg) }

// OtherECKey is a P-256 key no test client uses for encryption.
func OtherECKey() *ecdsa.PrivateKey {
	loadKeys()
	return keys.ec
}
