package wire

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf16"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/vaulterr"
)

// Fuzz targets for every parser of bytes a client controls: the JWE and
// bearer JWS openers, the strict claims reader, and the two configuration
// documents (registry, vault keyset).
//
// The fuzz engine runs the target in several worker processes and hands
// them the seed corpus built by the coordinating process. Seeds signed
// with per-process random keys would fail verification in every worker,
// so the fuzz fixture derives its keys from fixed labels: every process
// has the same vault and client keys, and the signed seeds reach the
// claims checks behind the signature.

// fuzzFixture is a vault keyset (EC only: RSA keys cannot be derived
// deterministically) and a registry of two clients.
type fuzzFixture struct {
	opener  *Opener
	vaultEC *ecdsa.PublicKey
	encKID  string
	appSig  *ecdsa.PrivateKey
	appEd   ed25519.PrivateKey
	limited *ecdsa.PrivateKey

	mu     sync.Mutex
	signed map[string]bool // kid + "\x00" + payload, for every payload a registered key signed
}

var (
	fuzzOnce sync.Once
	fuzzFix  *fuzzFixture
	fuzzErr  error
)

// derivedP256 is a P-256 key whose scalar is SHA-256(label): the same in
// every process, and a test key only.
func derivedP256(label string) (*ecdsa.PrivateKey, error) {
	d := sha256.Sum256([]byte("cardvault fuzz key " + label))
	return ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
}

func mustFuzzFixture(tb testing.TB) *fuzzFixture {
	tb.Helper()
	fuzzOnce.Do(func() { fuzzFix, fuzzErr = buildFuzzFixture() })
	if fuzzErr != nil {
		tb.Fatalf("fuzz fixture: %v", fuzzErr)
	}
	return fuzzFix
}

func buildFuzzFixture() (*fuzzFixture, error) {
	f := &fuzzFixture{encKID: "vault-enc-ec", signed: map[string]bool{}}
	vaultEnc, err := derivedP256("vault-enc")
	if err != nil {
		return nil, err
	}
	vaultSig, err := derivedP256("vault-sig")
	if err != nil {
		return nil, err
	}
	if f.appSig, err = derivedP256("app-sig"); err != nil {
		return nil, err
	}
	if f.limited, err = derivedP256("limited-sig"); err != nil {
		return nil, err
	}
	appEnc, err := derivedP256("app-enc")
	if err != nil {
		return nil, err
	}
	seed := sha256.Sum256([]byte("cardvault fuzz key app-ed"))
	f.appEd = ed25519.NewKeyFromSeed(seed[:])
	f.vaultEC = &vaultEnc.PublicKey

	keyset := mustJSON(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: vaultEnc, KeyID: f.encKID, Use: "enc", Algorithm: string(jose.ECDH_ES_A256KW)},
		{Key: vaultSig, KeyID: "vault-sig", Use: "sig", Algorithm: string(jose.ES256)},
	}})
	vaultKeys, err := ParseVaultKeys(keyset)
	if err != nil {
		return nil, err
	}
	registry, err := ParseRegistry(mustJSON(map[string]any{"clients": []any{
		map[string]any{
			"id": "app-server", "merchants": []string{"*"}, "operations": fuzzOperations(),
			"keys": map[string]any{"keys": []any{
				publicJWK(f.appSig, "app-sig-es", "sig", "ES256"),
				publicJWK(f.appEd, "app-sig-ed", "sig", "EdDSA"),
				publicJWK(appEnc, "app-enc", "enc", ""),
			}},
		},
		map[string]any{
			"id": "limited", "merchants": []string{"m_1"}, "operations": []string{"get_masked"},
			"keys": map[string]any{"keys": []any{publicJWK(f.limited, "limited-sig", "sig", "ES256")}},
		},
	}}))
	if err != nil {
		return nil, err
	}
	f.opener = &Opener{Keys: vaultKeys, Clients: StaticRegistry(registry), Now: func() time.Time { return fixedNow }}
	return f, nil
}

func fuzzOperations() []string {
	var ops []string
	for _, op := range allOps() {
		ops = append(ops, string(op))
	}
	return ops
}

// sign signs payload with a registered key and remembers that it did, so
// the property "accepted only if a registered key signed these claims"
// can be checked against the record.
func (f *fuzzFixture) sign(tb testing.TB, alg jose.SignatureAlgorithm, key any, kid string, payload []byte, extra map[jose.HeaderKey]any) string {
	tb.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	for k, v := range extra {
		opts = opts.WithHeader(k, v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	f.mu.Lock()
	f.signed[kid+"\x00"+string(payload)] = true
	f.mu.Unlock()
	return s
}

// encrypt wraps plaintext in a JWE to the vault's EC key.
func (f *fuzzFixture) encrypt(tb testing.TB, plaintext string, zip bool) string {
	tb.Helper()
	opts := (&jose.EncrypterOptions{}).WithContentType("JWT")
	if zip {
		opts.Compression = jose.DEFLATE
	}
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.ECDH_ES_A256KW, Key: f.vaultEC, KeyID: f.encKID}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	obj, err := enc.Encrypt([]byte(plaintext))
	if err != nil {
		tb.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// fuzzExpects are the routes a fuzzed credential is opened for, picked by
// one input byte.
var fuzzExpects = []Expect{
	{Op: OpVaultCard},
	{Op: OpGetMasked, Token: "tok_1"},
	{Op: OpPutSecret, MerchantID: "m_1", Name: "api-key"},
	{Op: OpGetKeys, MerchantID: "m_1"},
}

// seedClaims are claim sets for the routes above, valid and slightly off.
func seedClaims() []map[string]any {
	base := func(op, merchant string, kv ...any) map[string]any {
		c := map[string]any{"iss": "app-server", "aud": Audience, "iat": fixedNow.Unix(), "jti": "j-" + op,
			"op": op, "merchant_id": merchant}
		return with(c, kv...)
	}
	card := map[string]any{"number": cardNumber, "exp_month": 12, "exp_year": 2030}
	return []map[string]any{
		base("vault_card", "m_1", "card", card),
		base("get_masked", "m_1", "token", "tok_1"),
		base("put_secret", "m_1", "name", "api-key", "value", "sk_live_x"),
		base("get_keys", "m_1"),
		base("vault_card", "m_1", "card", card, "exp", fixedNow.Unix()+60),
		base("vault_card", "m_1", "aud", []string{"x", Audience}),
		base("vault_card", "m_1", "iat", fixedNow.Unix()-301),
		base("get_masked", "m_1", "token", "tok_2"),
		base("get_masked", "m_1", "iss", "limited"),
	}
}

// FuzzOpenBearer: no panic; every refusal a *vaulterr.Error with a
// contract code; every acceptance carries claims a registered key signed.
func FuzzOpenBearer(f *testing.F) {
	fx := mustFuzzFixture(f)
	for i, c := range seedClaims() {
		payload := mustJSON(c)
		f.Add(fx.sign(f, jose.ES256, fx.appSig, "app-sig-es", payload, nil), uint8(i))
		f.Add(fx.sign(f, jose.EdDSA, fx.appEd, "app-sig-ed", payload, nil), uint8(i))
	}
	limitedClaims := with(seedClaims()[1], "iss", "limited")
	f.Add(fx.sign(f, jose.ES256, fx.limited, "limited-sig", mustJSON(limitedClaims), nil), uint8(1))
	f.Add(fx.sign(f, jose.ES256, fx.appSig, "app-sig-es", mustJSON(seedClaims()[0]),
		map[jose.HeaderKey]any{"jku": "http://127.0.0.1:1/jwks", "crit": []string{"jku"}}), uint8(0))
	f.Add(rawES256(f, fx.appSig, `{"alg":"none","kid":"app-sig-es"}`, string(mustJSON(seedClaims()[0]))), uint8(0))
	f.Add(rawES256(f, fx.appSig, `{"alg":"ES256","kid":"app-sig-es","kid":"limited-sig"}`, string(mustJSON(seedClaims()[0]))), uint8(0))
	f.Add("", uint8(0))
	f.Add("a.b.c", uint8(0))
	f.Fuzz(func(t *testing.T, compact string, route uint8) {
		want := fuzzExpects[int(route)%len(fuzzExpects)]
		req, err := fx.opener.OpenBearer(compact, want)
		checkOpened(t, fx, req, err, want)
	})
}

// FuzzOpenJWE: as FuzzOpenBearer, for a JWE body whose plaintext is the
// JWS. Headers that must be refused before any key work (PBES2 with a
// huge p2c, zip) are among the seeds.
func FuzzOpenJWE(f *testing.F) {
	fx := mustFuzzFixture(f)
	for i, c := range seedClaims() {
		jws := fx.sign(f, jose.ES256, fx.appSig, "app-sig-es", mustJSON(c), nil)
		f.Add(fx.encrypt(f, jws, false), uint8(i))
	}
	jws := fx.sign(f, jose.ES256, fx.appSig, "app-sig-es", mustJSON(seedClaims()[0]), nil)
	f.Add(fx.encrypt(f, jws, true), uint8(0))
	f.Add(fx.encrypt(f, "not a JWS", false), uint8(0))
	f.Add(fx.encrypt(f, jws+"."+jws, false), uint8(0))
	pbes2 := b64(`{"alg":"PBES2-HS256+A128KW","enc":"A256GCM","cty":"JWT","kid":"` + fx.encKID + `","p2c":2147483647,"p2s":"c2FsdHNhbHRzYWx0c2FsdA"}`)
	f.Add(pbes2+".AAAA.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA", uint8(0))
	f.Add("", uint8(0))
	f.Add("a.b.c.d.e", uint8(0))
	f.Fuzz(func(t *testing.T, compact string, route uint8) {
		want := fuzzExpects[int(route)%len(fuzzExpects)]
		req, err := fx.opener.OpenJWE(compact, want)
		checkOpened(t, fx, req, err, want)
	})
}

// contractCodes are the codes the contract lets an opener answer with.
var contractCodes = map[vaulterr.Code]bool{
	vaulterr.Malformed: true, vaulterr.Unauthenticated: true, vaulterr.Stale: true,
	vaulterr.Forbidden: true, vaulterr.PayloadTooLarge: true,
}

func checkOpened(t *testing.T, fx *fuzzFixture, req *Request, err error, want Expect) {
	t.Helper()
	if err != nil {
		var ve *vaulterr.Error
		if !errors.As(err, &ve) || ve != err {
			t.Fatalf("refusal is %T, not a *vaulterr.Error", err)
		}
		if !contractCodes[ve.Code] {
			t.Fatalf("refusal code %q is not one an opener may answer", ve.Code)
		}
		if req != nil {
			t.Fatal("refusal with a request")
		}
		return
	}
	payload := req.Payload.Reveal()
	fx.mu.Lock()
	signed := fx.signed[req.SigningKeyID+"\x00"+string(payload)]
	fx.mu.Unlock()
	if !signed {
		t.Fatalf("accepted claims that no registered key signed (kid %q)", req.SigningKeyID)
	}
	if req.Op != want.Op || req.MerchantID == "" || req.JTI == "" || !req.Client.AllowsOperation(want.Op) ||
		!req.Client.AllowsMerchant(req.MerchantID) || req.Issuer != req.Client.ID {
		t.Fatalf("accepted a request that breaks the route's rules: op %q merchant %q client %q", req.Op, req.MerchantID, req.Client.ID)
	}
}

// FuzzStrictClaims holds the strict reader to a reference built on
// encoding/json's tokenizer: it accepts exactly the UTF-8 JSON objects,
// nested at most maxJSONDepth deep, without two member names of one
// object that encoding/json would confuse; and the claims and route
// decoders behind it never panic and refuse only with contract codes.
func FuzzStrictClaims(f *testing.F) {
	for _, s := range []string{
		`{"iss":"app-server","aud":"card-vault","iat":1790000000,"jti":"j","op":"vault_card","merchant_id":"m_1","card":{"number":"4242424242424242","exp_month":12,"exp_year":2030}}`,
		`{"merchant_id":"a","merchant_id":"b"}`, `{"merchant_id":"a","Merchant_ID":"b"}`, `{"a":{"k":1,"\u212a":2}}`,
		`{"a":"\ud800","a\udbff":1,"a\ufffd":2}`, `{"iat":1e3,"exp":-0,"aud":["card-vault",1]}`,
		`{"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`, `[]`, `"s"`, ` {"a" : [ 1 , {"b":null} ] } `,
		`{"a":"\ud83d\ude00","b":"\ufffd\udc00","c":"\\ud800","d":"\ud800\u0041"}`, `{"v":"sk_live_abc\ud800def"}`,
		"{\"a\":\"\xff\"}", `{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"A":18}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		members, err := parseStrictObject(data, nil)
		names, refErr := referenceStrict(data)
		if (err == nil) != (refErr == nil) {
			t.Fatalf("strict reader says %v, reference says %v", err, refErr)
		}
		if err != nil {
			return
		}
		if len(members) != len(names) {
			t.Fatalf("%d members, reference has %d", len(members), len(names))
		}
		for i, m := range members {
			if string(m.name) != names[i] || !json.Valid(m.raw) {
				t.Fatalf("member %d: name or value boundary wrong", i)
			}
		}
		if _, err := readClaims(members); err != nil {
			if ve, ok := err.(*vaulterr.Error); !ok || ve.Code != vaulterr.Malformed {
				t.Fatalf("readClaims refused with %v", err)
			}
		}
		checkObjectAgainstEncodingJSON(t, Object{members: members})
		checkCaseVariantsRefused(t, Object{members: members})
	})
}

// checkCaseVariantsRefused holds the rule that a name differing from the
// one read only in case is refused: reading each member under its name
// with the case of every letter flipped is an error, never a value.
func checkCaseVariantsRefused(t *testing.T, o Object) {
	t.Helper()
	for _, m := range o.members {
		flipped := strings.Map(func(r rune) rune {
			if unicode.IsUpper(r) {
				return unicode.ToLower(r)
			}
			return unicode.ToUpper(r)
		}, string(m.name))
		if flipped == string(m.name) || !strings.EqualFold(flipped, string(m.name)) {
			continue
		}
		if _, present, err := o.String(flipped); !present || err != errCaseVariant {
			t.Fatalf("String of a case variant = %v, %v", present, err)
		}
	}
}

// checkObjectAgainstEncodingJSON holds Object's typed reads of every
// member (and of the members of object members, one level down) to what
// encoding/json makes of the same value in a pointer field: the same
// value, nil for null, an error for anything else.
func checkObjectAgainstEncodingJSON(t *testing.T, o Object) {
	t.Helper()
	for _, m := range o.members {
		name := string(m.name)
		var wantS *string
		errS := json.Unmarshal(m.raw, &wantS)
		gotS, present, err := o.String(name)
		if (err == nil) != (errS == nil) || (err == nil && present != (wantS != nil)) || (present && err == nil && gotS != *wantS) {
			t.Fatalf("String(%q) = %q, %v, %v; encoding/json: %v, %v", name, gotS, present, err, wantS, errS)
		}
		var wantI *int
		errI := json.Unmarshal(m.raw, &wantI)
		gotI, present, err := o.Int(name)
		if (err == nil) != (errI == nil) || (err == nil && present != (wantI != nil)) || (present && err == nil && gotI != *wantI) {
			t.Fatalf("Int(%q) = %d, %v, %v; encoding/json: %v, %v", name, gotI, present, err, wantI, errI)
		}
		inner, present, err := o.Object(name)
		switch {
		case string(m.raw) == "null":
			if present || err != nil {
				t.Fatalf("Object(%q) of null = %v, %v", name, present, err)
			}
		case m.raw[0] == '{':
			if !present || err != nil {
				t.Fatalf("Object(%q) of an object = %v, %v", name, present, err)
			}
			checkObjectAgainstEncodingJSON(t, inner)
		default:
			if !present || err == nil {
				t.Fatalf("Object(%q) of a non-object = %v, %v", name, present, err)
			}
		}
	}
}

// hasLoneSurrogate reports whether a valid JSON document has a string
// whose \u escapes are not valid UTF-16, the slow, obvious way: gather the
// code units of each run of consecutive \u escapes and decode them with
// unicode/utf16, which turns every unpaired surrogate into U+FFFD: more
// U+FFFD out than \ufffd escapes in means a lone surrogate.
func hasLoneSurrogate(doc []byte) bool {
	var units []uint16
	lone := func() bool {
		want, got := 0, 0
		for _, u := range units {
			if u == 0xFFFD {
				want++
			}
		}
		for _, r := range utf16.Decode(units) {
			if r == unicode.ReplacementChar {
				got++
			}
		}
		return got != want
	}
	inString := false
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		if !inString {
			inString = c == '"'
			continue
		}
		if c == '\\' && doc[i+1] == 'u' {
			u, _ := strconv.ParseUint(string(doc[i+2:i+6]), 16, 16)
			units = append(units, uint16(u))
			i += 5
			continue
		}
		if lone() {
			return true
		}
		units = units[:0]
		switch c {
		case '\\':
			i++ // the escaped character
		case '"':
			inString = false
		}
	}
	return lone()
}

// referenceStrict is the strict reader's rule written the slow, obvious
// way; it returns the top-level member names.
func referenceStrict(data []byte) ([]string, error) {
	if !json.Valid(data) || !bytes.Equal(bytes.ToValidUTF8(data, nil), data) {
		return nil, errors.New("invalid")
	}
	if hasLoneSurrogate(data) {
		return nil, errors.New("lone surrogate")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	first, err := dec.Token()
	if err != nil || first != json.Delim('{') {
		return nil, errors.New("not an object")
	}
	var top []string
	var walk func(depth int, open json.Delim, names *[]string) error
	walk = func(depth int, open json.Delim, names *[]string) error {
		if depth > maxJSONDepth {
			return errors.New("too deep")
		}
		var seen []string
		for dec.More() {
			if open == '{' {
				tok, err := dec.Token()
				if err != nil {
					return err
				}
				name := tok.(string)
				for _, s := range seen {
					if strings.EqualFold(s, name) {
						return errors.New("duplicate")
					}
				}
				seen = append(seen, name)
				if names != nil {
					*names = append(*names, name)
				}
			}
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			if d, ok := tok.(json.Delim); ok {
				if err := walk(depth+1, d, nil); err != nil {
					return err
				}
			}
		}
		_, err := dec.Token() // closing delimiter
		return err
	}
	if err := walk(1, '{', &top); err != nil {
		return nil, err
	}
	return top, nil
}

// FuzzParseRegistry: no panic, and a refusal never quotes a private key
// member's value (the registry must not hold one, but if an operator
// pastes a private JWK, the error must not echo it into the logs).
func FuzzParseRegistry(f *testing.F) {
	fx := mustFuzzFixture(f)
	priv := jose.JSONWebKey{Key: fx.appSig, KeyID: "leaky", Use: "sig", Algorithm: "ES256"}
	f.Add(mustJSON(map[string]any{"clients": []any{map[string]any{
		"id": "app", "merchants": []string{"*"}, "operations": []string{"vault_card"},
		"keys": map[string]any{"keys": []any{publicJWK(fx.appSig, "k1", "sig", "ES256"), publicJWK(fx.appEd, "k2", "sig", "")}},
	}}}))
	f.Add(mustJSON(map[string]any{"clients": []any{map[string]any{
		"id": "app", "merchants": []string{"m_1"}, "operations": []string{"get_masked"},
		"keys": map[string]any{"keys": []any{priv}},
	}}}))
	f.Add([]byte(`{"clients":[{"id":"a","merchants":["*"],"operations":["nope"],"keys":{"keys":[{"kty":"EC","crv":"P-256","x":7,"y":"AA","use":"sig","kid":"k"}]}}]}`))
	f.Add([]byte(`{"clients":[{"id":"a"},{"id":"a"}]}`))
	f.Add([]byte(`{"clients":null}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		reg, err := ParseRegistry(doc)
		if err != nil {
			assertNoPrivateValue(t, doc, err)
			return
		}
		for id, c := range reg.clients {
			if c.ID != id || id == "" {
				t.Fatalf("client indexed under %q has id %q", id, c.ID)
			}
		}
		for kid, k := range reg.sigKeys {
			if k.kid != kid || k.client == nil || isPrivate(k.key) {
				t.Fatalf("signing key %q is inconsistent or private", kid)
			}
		}
	})
}

// FuzzParseVaultKeys: no panic, errors never quote key material, and an
// accepted keyset publishes no private member.
func FuzzParseVaultKeys(f *testing.F) {
	fx := mustFuzzFixture(f)
	f.Add(mustJSON(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: fx.limited, KeyID: "enc", Use: "enc", Algorithm: string(jose.ECDH_ES_A256KW)},
		{Key: fx.appSig, KeyID: "sig", Use: "sig", Algorithm: string(jose.ES256)},
	}}))
	f.Add(mustJSON(map[string]any{"signing_kid": "sig", "keys": []any{
		jose.JSONWebKey{Key: fx.limited, KeyID: "enc", Use: "enc", Algorithm: string(jose.ECDH_ES_A256KW)},
		jose.JSONWebKey{Key: fx.appSig, KeyID: "sig", Use: "sig", Algorithm: string(jose.ES256)},
		jose.JSONWebKey{Key: fx.appEd, KeyID: "ed", Use: "sig", Algorithm: string(jose.EdDSA)},
	}}))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":["secret"],"use":"enc","alg":"ECDH-ES+A256KW","kid":"k"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0","use":"enc","alg":"A256KW","kid":"k"}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		keys, err := ParseVaultKeys(doc)
		if err != nil {
			assertNoPrivateValue(t, doc, err)
			return
		}
		var published map[string][]map[string]any
		if err := json.Unmarshal(keys.PublicJWKS(), &published); err != nil {
			t.Fatalf("public JWKS is not JSON: %v", err)
		}
		for _, k := range published["keys"] {
			for _, name := range privateMembers {
				if _, ok := k[name]; ok {
					t.Fatalf("public JWKS publishes private member %q", name)
				}
			}
		}
		if len(keys.enc) == 0 || keys.signer == nil {
			t.Fatal("accepted a keyset that cannot decrypt or sign")
		}
	})
}

// assertNoPrivateValue fails if err's text contains the value of any
// key-material member of doc (long enough to be recognisable).
func assertNoPrivateValue(t *testing.T, doc []byte, err error) {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return
	}
	msg := err.Error()
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for name, member := range v {
				for _, p := range keyParamMembers {
					if name == p && name != "crv" && name != "e" {
						if s := fmt.Sprint(member); len(s) >= 6 && strings.Contains(msg, s) {
							t.Fatalf("error quotes the value of member %q", name)
						}
					}
				}
				walk(member)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
}
