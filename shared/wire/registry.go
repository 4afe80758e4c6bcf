package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
)

// AllMerchants in a client's merchant list allows every merchant.
const AllMerchants = "*"

// maxIDChars bounds client ids, as the contract bounds the other ids.
const maxIDChars = 128

// Client is one registered app server: who it is, which merchants it may
// act for, which operations it may call, and its public keys.
type Client struct {
	ID         string
	Merchants  []string
	Operations []Operation
	// Destinations are the ids of the operator's forward destinations the
	// client may send card data to (contract v1.1); none by default.
	Destinations []string

	allMerchants bool
	merchantSet  map[string]struct{}
	enc          *clientEncKey
}

// clientSigKey is a client's request-signing key, indexed by kid so that a
// request costs one map lookup and no key parsing.
type clientSigKey struct {
	client *Client
	kid    string
	shape  keyShape
	// alg, when the registered JWK names one, is the only algorithm the
	// key may be used with; otherwise any algorithm fitting shape.
	alg string
	key any // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// clientEncKey is where the client's reveal responses are encrypted to.
type clientEncKey struct {
	kid string
	alg jose.KeyAlgorithm
	key any // *rsa.PublicKey or *ecdsa.PublicKey
}

// AllowsMerchant reports whether the client may act for merchantID.
func (c *Client) AllowsMerchant(merchantID string) bool {
	if merchantID == "" {
		return false
	}
	if c.merchantSet == nil {
		// A Client built by hand rather than by ParseRegistry.
		for _, m := range c.Merchants {
			if m == AllMerchants || m == merchantID {
				return true
			}
		}
		return false
	}
	if c.allMerchants {
		return true
	}
	_, ok := c.merchantSet[merchantID]
	return ok
}

// AllowsOperation reports whether the client may call op.
func (c *Client) AllowsOperation(op Operation) bool {
	for _, o := range c.Operations {
		if o == op {
			return true
		}
	}
	return false
}

// AllowsDestination reports whether the client may forward to the
// destination with the given id.
func (c *Client) AllowsDestination(id string) bool {
	return id != "" && slices.Contains(c.Destinations, id)
}

// HasEncryptionKey reports whether reveal responses can be sealed to the
// client.
func (c *Client) HasEncryptionKey() bool { return c.enc != nil }

// Registry is a parsed client registry. It is immutable and safe for
// concurrent use.
type Registry struct {
	clients map[string]*Client
	sigKeys map[string]*clientSigKey
}

// Client returns the registered client with the given id.
func (r *Registry) Client(id string) (*Client, bool) {
	c, ok := r.clients[id]
	return c, ok
}

// Len is the number of registered clients. A registry of none lets nobody
// in (it is what a freshly created stack holds until the real one is
// loaded).
func (r *Registry) Len() int { return len(r.clients) }

type registryDoc struct {
	Clients []json.RawMessage `json:"clients"`
}

type clientDoc struct {
	ID           string   `json:"id"`
	Merchants    []string `json:"merchants"`
	Operations   []string `json:"operations"`
	Destinations []string `json:"destinations"`
	Keys         struct {
		Keys []json.RawMessage `json:"keys"`
	} `json:"keys"`
}

// ParseRegistry reads a client registry, {"clients": [...]}. It refuses the
// whole document, naming the entry at fault, when an entry has no id or a
// duplicate one, names an unknown operation, holds a private key member or
// a key the vault cannot use, reuses a kid anywhere in the registry, or has
// no signing key. Refusing at load, instead of skipping the entry, keeps a
// bad edit from silently locking a client out or letting it in.
func ParseRegistry(doc []byte) (*Registry, error) {
	if _, err := parseStrictObject(doc, nil); err != nil {
		return nil, fmt.Errorf("client registry: %w", err)
	}
	var rd registryDoc
	if err := decodeStrictStruct(doc, &rd); err != nil {
		return nil, fmt.Errorf("client registry: %w", err)
	}
	reg := &Registry{
		clients: make(map[string]*Client, len(rd.Clients)),
		sigKeys: make(map[string]*clientSigKey),
	}
	allKIDs := make(map[string]string) // kid -> owning client id
	for i, raw := range rd.Clients {
		if err := reg.addClient(i, raw, allKIDs); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

func (r *Registry) addClient(i int, raw json.RawMessage, allKIDs map[string]string) error {
	var cd clientDoc
	if err := decodeStrictStruct(raw, &cd); err != nil {
		return fmt.Errorf("client registry: client %d: %w", i, err)
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("client registry: client %d (id %q): %s", i, cd.ID, fmt.Sprintf(format, args...))
	}
	if cd.ID == "" {
		return fail("id is required")
	}
	if utf8.RuneCountInString(cd.ID) > maxIDChars {
		return fail("id longer than %d characters", maxIDChars)
	}
	if _, dup := r.clients[cd.ID]; dup {
		return fail("duplicate client id")
	}

	c := &Client{ID: cd.ID, Merchants: cd.Merchants, merchantSet: make(map[string]struct{})}
	for _, m := range cd.Merchants {
		switch m {
		case "":
			return fail("empty merchant id")
		case AllMerchants:
			c.allMerchants = true
		default:
			c.merchantSet[m] = struct{}{}
		}
	}
	for _, name := range cd.Operations {
		op := Operation(name)
		if !op.Valid() {
			return fail("unknown operation %q", name)
		}
		if !c.AllowsOperation(op) {
			c.Operations = append(c.Operations, op)
		}
	}

	for _, d := range cd.Destinations {
		if d == "" {
			return fail("empty destination id")
		}
		if !slices.Contains(c.Destinations, d) {
			c.Destinations = append(c.Destinations, d)
		}
	}

	var sigKeys []*clientSigKey
	for j, keyRaw := range cd.Keys.Keys {
		sig, enc, err := parseClientKey(keyRaw)
		if err != nil {
			return fail("key %d: %v", j, err)
		}
		var kid string
		if sig != nil {
			kid = sig.kid
		} else {
			kid = enc.kid
		}
		if owner, dup := allKIDs[kid]; dup {
			return fail("kid %q is already used by client %q", kid, owner)
		}
		allKIDs[kid] = c.ID
		if sig != nil {
			sig.client = c
			sigKeys = append(sigKeys, sig)
			continue
		}
		if c.enc != nil {
			return fail("more than one enc key: responses are encrypted to exactly one")
		}
		c.enc = enc
	}
	if len(sigKeys) == 0 {
		return fail(`no signing key (use "sig")`)
	}
	for _, k := range sigKeys {
		r.sigKeys[k.kid] = k
	}
	r.clients[c.ID] = c
	return nil
}

// CheckDestinations refuses a registry in which a client lists a
// destination id that known does not report, naming the client. The
// destinations document is loaded apart from the registry, so the check
// runs wherever both are at hand.
func (r *Registry) CheckDestinations(known func(id string) bool) error {
	ids := make([]string, 0, len(r.clients))
	for id := range r.clients {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		for _, d := range r.clients[id].Destinations {
			if !known(d) {
				return fmt.Errorf("client registry: client %q: unknown destination %q", id, d)
			}
		}
	}
	return nil
}

// parseClientKey reads one public JWK of a client: either a signing key
// (EC P-256, RSA >= 2048 bit or Ed25519) or an encryption key (RSA >= 2048
// bit or EC P-256).
func parseClientKey(raw json.RawMessage) (*clientSigKey, *clientEncKey, error) {
	head, err := readJWKHead(raw)
	if err != nil {
		return nil, nil, err
	}
	// Checked before go-jose sees the key, so a private value never
	// reaches a parser whose error might describe it.
	if name := head.privateMember(); name != "" {
		return nil, nil, fmt.Errorf("kid %q: private key member %q is not allowed in the registry", head.kid, name)
	}
	if head.kid == "" {
		return nil, nil, errors.New("kid is required")
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return nil, nil, fmt.Errorf("kid %q: invalid JWK: %v", head.kid, err)
	}
	if !jwk.Valid() || !jwk.IsPublic() {
		return nil, nil, fmt.Errorf("kid %q: not a valid public key", head.kid)
	}
	shape := shapeOf(jwk.Key)

	switch head.use {
	case "sig":
		if shape == shapeUnsupported {
			return nil, nil, fmt.Errorf("kid %q: signing keys must be EC P-256, RSA >= %d bit or Ed25519", head.kid, minRSABits)
		}
		if head.alg != "" && (!acceptedRequestAlg(head.alg) || !sigAlgFits(head.alg, shape)) {
			return nil, nil, fmt.Errorf("kid %q: alg %q does not fit this %s signing key", head.kid, head.alg, shape)
		}
		return &clientSigKey{kid: head.kid, shape: shape, alg: head.alg, key: jwk.Key}, nil, nil
	case "enc":
		alg, ok := encAlgFor(shape)
		if !ok {
			return nil, nil, fmt.Errorf("kid %q: encryption keys must be RSA >= %d bit or EC P-256", head.kid, minRSABits)
		}
		if head.alg != "" && head.alg != string(alg) {
			return nil, nil, fmt.Errorf("kid %q: this %s encryption key needs alg %s", head.kid, shape, alg)
		}
		return nil, &clientEncKey{kid: head.kid, alg: alg, key: jwk.Key}, nil
	}
	return nil, nil, fmt.Errorf(`kid %q: use must be "sig" or "enc"`, head.kid)
}
