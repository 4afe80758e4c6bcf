package wire

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vaulterr"
)

// MaxCompactLen bounds a compact JWE or JWS. Callers cap request bodies at
// the same 64 KiB; checking again here refuses an oversized credential
// before any decoding work.
const MaxCompactLen = 64 << 10

// Opener opens client requests. Its fields are read-only once in use; it
// is safe for concurrent use.
type Opener struct {
	// Keys decrypts JWE requests; only OpenJWE needs it.
	Keys *VaultKeys
	// Clients yields the registry consulted on every request.
	Clients RegistrySource
	// Now is the clock for iat/exp; nil means time.Now.
	Now func() time.Time
}

// Expect is what the route demands of the claims.
type Expect struct {
	Op         Operation
	MerchantID string // the route's {merchant_id}, "" when the route has none
	Token      string // the route's {token}, "" when none
	Name       string // the route's {name}, "" when none
	JobID      string // the route's {job_id}, "" when none
}

// Request is an opened, authenticated, authorised request. The replay check
// on (Issuer, JTI) is still the caller's to make.
type Request struct {
	Client       *Client
	Op           Operation
	Issuer       string
	JTI          string
	IssuedAt     time.Time
	ExpiresAt    time.Time // zero if no exp claim
	MerchantID   string
	SigningKeyID string // kid of the client key that signed
	// Payload is the full, verified claims JSON object (it may hold a card
	// number or a secret value).
	Payload secret.Secret[[]byte]

	// members are the payload's top-level members found by that scan
	// (slices of the payload), so operations read their claims without
	// decoding the whole object again.
	members []member
}

// Claim returns the raw JSON value of a top-level claim of the verified
// payload, and whether it is present (exactly so named, null included).
// The payload passed the strict scan: the value is valid JSON with no
// duplicate member names. Operations read their typed claims through
// Claims, which also refuses a name that differs only in case; there is
// no other way to read them (no encoding/json decoding of the payload).
func (r *Request) Claim(name string) (json.RawMessage, bool) {
	return lookup(r.members, name)
}

// OpenJWE opens the body of a sensitive route: a compact JWE to one of the
// vault's encryption keys whose plaintext is the client's compact JWS.
func (o *Opener) OpenJWE(compactJWE string, want Expect) (*Request, error) {
	if err := checkCompact(compactJWE, 4); err != nil {
		return nil, err
	}
	if o.Keys == nil {
		return nil, vaulterr.New(vaulterr.Internal, "internal error")
	}
	header, err := readProtectedHeader(compactJWE[:strings.IndexByte(compactJWE, '.')])
	if err != nil {
		return nil, vaulterr.Wrap(vaulterr.Malformed, "invalid JWE header", err)
	}
	key, err := o.encryptionKeyFor(header)
	if err != nil {
		return nil, err
	}
	jwe, err := jose.ParseEncryptedCompact(compactJWE, []jose.KeyAlgorithm{key.alg}, contentEncryption)
	if err != nil {
		return nil, vaulterr.Wrap(vaulterr.Malformed, "invalid JWE encoding", err)
	}
	plaintext, err := jwe.Decrypt(key.private)
	if err != nil {
		return nil, vaulterr.Wrap(vaulterr.Malformed, "JWE decryption failed", err)
	}
	jws := string(plaintext)
	secret.Wipe(plaintext)
	if err := checkCompact(jws, 2); err != nil {
		return nil, err
	}
	return o.openJWS(jws, want)
}

// encryptionKeyFor checks the JWE header against the contract and returns
// the vault key it names; all of it before any expensive key operation.
func (o *Opener) encryptionKeyFor(h protectedHeader) (*vaultEncKey, error) {
	alg, _ := h.str("alg")
	if alg != string(jose.RSA_OAEP_256) && alg != string(jose.ECDH_ES_A256KW) {
		return nil, vaulterr.New(vaulterr.Malformed, "JWE alg not accepted")
	}
	if enc, _ := h.str("enc"); enc != string(jose.A256GCM) {
		return nil, vaulterr.New(vaulterr.Malformed, "JWE enc not accepted")
	}
	if h.has("zip") {
		return nil, vaulterr.New(vaulterr.Malformed, "compressed JWE not accepted")
	}
	if h.has("crit") {
		return nil, vaulterr.New(vaulterr.Malformed, "JWE crit not accepted")
	}
	if cty, _ := h.str("cty"); !strings.EqualFold(cty, "JWT") {
		return nil, vaulterr.New(vaulterr.Malformed, "JWE cty must be JWT")
	}
	kid, ok := h.str("kid")
	if !ok || kid == "" {
		return nil, vaulterr.New(vaulterr.Unauthenticated, "JWE kid required")
	}
	key := o.Keys.enc[kid]
	if key == nil {
		return nil, vaulterr.New(vaulterr.Unauthenticated, "unknown vault key id")
	}
	if string(key.alg) != alg {
		return nil, vaulterr.New(vaulterr.Malformed, "JWE alg does not fit the key")
	}
	return key, nil
}

// OpenBearer opens the credential of a route without a sensitive body: the
// client's compact JWS from "Authorization: Bearer".
func (o *Opener) OpenBearer(compactJWS string, want Expect) (*Request, error) {
	if err := checkCompact(compactJWS, 2); err != nil {
		return nil, err
	}
	return o.openJWS(compactJWS, want)
}

func (o *Opener) openJWS(compactJWS string, want Expect) (*Request, error) {
	if !want.Op.Valid() || o.Clients == nil {
		return nil, vaulterr.New(vaulterr.Internal, "internal error")
	}
	header, err := readProtectedHeader(compactJWS[:strings.IndexByte(compactJWS, '.')])
	if err != nil {
		return nil, vaulterr.Wrap(vaulterr.Malformed, "invalid JWS header", err)
	}
	alg, _ := header.str("alg")
	if !acceptedRequestAlg(alg) {
		return nil, vaulterr.New(vaulterr.Unauthenticated, "JWS alg not accepted")
	}
	if header.has("crit") {
		return nil, vaulterr.New(vaulterr.Unauthenticated, "JWS crit not accepted")
	}
	// An unencoded payload (RFC 7797) must be declared critical, which is
	// refused above; a bare "b64" would still change what go-jose verifies.
	if header.has("b64") {
		return nil, vaulterr.New(vaulterr.Unauthenticated, "JWS b64 not accepted")
	}
	kid, ok := header.str("kid")
	if !ok || kid == "" {
		return nil, vaulterr.New(vaulterr.Unauthenticated, "JWS kid required")
	}

	registry, err := o.Clients.Registry()
	if err != nil {
		if vaulterr.CodeOf(err) == vaulterr.Internal {
			err = vaulterr.Wrap(vaulterr.Unavailable, "client registry unavailable", err)
		}
		return nil, err
	}
	// The key comes from the registry, by kid, and from nowhere else: jwk,
	// jku, x5u and x5c headers are never consulted.
	key := registry.sigKeys[kid]
	if key == nil {
		return nil, vaulterr.New(vaulterr.Unauthenticated, "unknown client key id")
	}
	if !sigAlgFits(alg, key.shape) || (key.alg != "" && key.alg != alg) {
		return nil, vaulterr.New(vaulterr.Unauthenticated, "JWS alg does not fit the key")
	}
	jws, err := jose.ParseSignedCompact(compactJWS, requestSignatureAlgs)
	if err != nil {
		return nil, vaulterr.Wrap(vaulterr.Malformed, "invalid JWS encoding", err)
	}
	payload, err := jws.Verify(key.key)
	if err != nil {
		return nil, vaulterr.Wrap(vaulterr.Unauthenticated, "signature verification failed", err)
	}

	var buf [16]member
	members, err := parseStrictObject(payload, buf[:0])
	if err != nil {
		return nil, vaulterr.Wrap(vaulterr.Malformed, "claims must be a JSON object without duplicate members", err)
	}
	claims, err := readClaims(members)
	if err != nil {
		return nil, err
	}
	if err := claims.check(key.client, want, o.now()); err != nil {
		return nil, err
	}
	req := &Request{
		Client:       key.client,
		Op:           want.Op,
		Issuer:       claims.iss,
		JTI:          claims.jti,
		IssuedAt:     time.Unix(claims.iat, 0),
		MerchantID:   claims.merchantID,
		SigningKeyID: kid,
		Payload:      secret.New(payload),
		members:      append([]member(nil), members...),
	}
	if claims.hasExp {
		req.ExpiresAt = time.Unix(claims.exp, 0)
	}
	return req, nil
}

func (o *Opener) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// checkCompact refuses, before any decoding, an absent or oversized
// credential and one without the dots of a compact serialisation.
func checkCompact(s string, dots int) error {
	switch {
	case s == "":
		return vaulterr.New(vaulterr.Unauthenticated, "no credential")
	case len(s) > MaxCompactLen:
		return vaulterr.New(vaulterr.PayloadTooLarge, "credential too large")
	case strings.Count(s, ".") != dots:
		if dots == 4 {
			return vaulterr.New(vaulterr.Malformed, "not a compact JWE")
		}
		return vaulterr.New(vaulterr.Malformed, "not a compact JWS")
	}
	return nil
}

// protectedHeader is a JOSE protected header read by the vault itself, so
// that alg, kid and crit are judged before go-jose is asked to do anything,
// and judged on the same strictly parsed bytes go-jose will see.
type protectedHeader []member

func readProtectedHeader(part string) (protectedHeader, error) {
	raw, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return nil, err
	}
	var buf [8]member
	members, err := parseStrictObject(raw, buf[:0])
	if err != nil {
		return nil, err
	}
	return members, nil
}

func (h protectedHeader) has(name string) bool {
	_, ok := lookup(h, name)
	return ok
}

// str returns a string member; ok is false when it is absent or not a
// string.
func (h protectedHeader) str(name string) (string, bool) {
	raw, ok := lookup(h, name)
	if !ok {
		return "", false
	}
	return jsonString(raw)
}
