package wire

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// minRSABits is the smallest RSA modulus the contract accepts.
const minRSABits = 2048

// The algorithms of the contract. Keeping them in one place keeps the
// request and response sides from drifting apart.
var (
	// requestSignatureAlgs are the JWS algorithms a client may sign with.
	requestSignatureAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.PS256, jose.RS256, jose.EdDSA}
	contentEncryption    = []jose.ContentEncryption{jose.A256GCM}
)

func acceptedRequestAlg(alg string) bool {
	for _, a := range requestSignatureAlgs {
		if string(a) == alg {
			return true
		}
	}
	return false
}

// privateMembers are the JWK members that carry secret key material.
// "priv" is the ML-DSA seed member go-jose also understands.
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth", "priv"}

// keyParamMembers are the members whose values are key material; they must
// be strings before go-jose sees them, so that a JSON type error, whose
// text would quote the offending value, can never carry key material.
var keyParamMembers = []string{"n", "e", "x", "y", "crv", "d", "p", "q", "dp", "dq", "qi", "k"}

// jwkHead is what the vault reads of a JWK before handing it to go-jose:
// the identifying members, and the names of all members present.
type jwkHead struct {
	kid, use, alg string
	members       map[string]json.RawMessage
}

func readJWKHead(raw json.RawMessage) (jwkHead, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil || members == nil {
		return jwkHead{}, errors.New("not a JSON object")
	}
	h := jwkHead{members: members}
	for name, dst := range map[string]*string{"kid": &h.kid, "use": &h.use, "alg": &h.alg} {
		v, ok := members[name]
		if !ok {
			continue
		}
		s, isString := jsonString(v)
		if !isString {
			return jwkHead{}, fmt.Errorf("member %q must be a string", name)
		}
		*dst = s
	}
	for _, name := range keyParamMembers {
		if v, ok := members[name]; ok {
			if _, isString := jsonString(v); !isString {
				return jwkHead{}, fmt.Errorf("member %q must be a string", name)
			}
		}
	}
	return h, nil
}

// privateMember returns the first private member present, or "".
func (h jwkHead) privateMember() string {
	for _, name := range privateMembers {
		if _, ok := h.members[name]; ok {
			return name
		}
	}
	return ""
}

// keyShape names what kind of key a JWK holds, public or private alike.
type keyShape int

const (
	shapeUnsupported keyShape = iota
	shapeRSA
	shapeP256
	shapeEd25519
)

func (s keyShape) String() string {
	switch s {
	case shapeRSA:
		return "RSA"
	case shapeP256:
		return "EC P-256"
	case shapeEd25519:
		return "Ed25519"
	}
	return "unsupported"
}

// shapeOf classifies key and checks its strength: RSA below minRSABits and
// EC curves other than P-256 are unsupported.
func shapeOf(key any) keyShape {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() >= minRSABits {
			return shapeRSA
		}
	case *rsa.PrivateKey:
		if k.N.BitLen() >= minRSABits {
			return shapeRSA
		}
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return shapeP256
		}
	case *ecdsa.PrivateKey:
		if k.Curve == elliptic.P256() {
			return shapeP256
		}
	case ed25519.PublicKey, ed25519.PrivateKey:
		return shapeEd25519
	}
	return shapeUnsupported
}

func isPrivate(key any) bool {
	switch key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		return true
	}
	return false
}

// encAlgFor is the JWE key management algorithm the contract pairs with a
// key shape.
func encAlgFor(s keyShape) (jose.KeyAlgorithm, bool) {
	switch s {
	case shapeRSA:
		return jose.RSA_OAEP_256, true
	case shapeP256:
		return jose.ECDH_ES_A256KW, true
	}
	return "", false
}

// sigAlgFits reports whether a JWS algorithm can be used with a key shape.
func sigAlgFits(alg string, s keyShape) bool {
	switch s {
	case shapeRSA:
		return alg == string(jose.RS256) || alg == string(jose.PS256)
	case shapeP256:
		return alg == string(jose.ES256)
	case shapeEd25519:
		return alg == string(jose.EdDSA)
	}
	return false
}
