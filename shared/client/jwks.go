package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// vaultKeys are the usable public keys of one GET /v1/jwks answer.
type vaultKeys struct {
	enc     []vaultEncKey // in JWKS order
	sig     map[string]jose.JSONWebKey
	fetched time.Time
}

type vaultEncKey struct {
	key jose.JSONWebKey
	alg jose.KeyAlgorithm
}

// encryptionKey picks the key requests are sealed to: the first of the
// preferred algorithm, or, unless strict, the first usable one.
func (k *vaultKeys) encryptionKey(preferred jose.KeyAlgorithm, strict bool) (vaultEncKey, bool) {
	for _, e := range k.enc {
		if e.alg == preferred {
			return e, true
		}
	}
	if !strict && len(k.enc) > 0 {
		return k.enc[0], true
	}
	return vaultEncKey{}, false
}

// keyCache holds the last fetched vault keys. One fetch runs at a time, and
// callers that waited for it use its result instead of fetching again; the
// one-slot channel (rather than a mutex) lets a waiting caller give up when
// its context ends.
type keyCache struct {
	fetching chan struct{}

	mu         sync.Mutex
	current    *vaultKeys
	generation uint64 // counts successful fetches
}

func newKeyCache() keyCache {
	return keyCache{fetching: make(chan struct{}, 1)}
}

func (kc *keyCache) snapshot() (*vaultKeys, uint64) {
	kc.mu.Lock()
	defer kc.mu.Unlock()
	return kc.current, kc.generation
}

// vaultKeys returns the vault's keys, fetching them when none are cached,
// when they are older than the maximum age, or when refresh asks for keys
// newer than the ones the caller already saw.
func (c *Client) vaultKeys(ctx context.Context, refresh bool) (*vaultKeys, error) {
	cached, seen := c.keys.snapshot()
	if !refresh && cached != nil && c.now().Sub(cached.fetched) < c.jwksMaxAge {
		return cached, nil
	}
	select {
	case c.keys.fetching <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.keys.fetching }()

	// Someone else fetched while this caller waited: that answer is as new
	// as the one this caller would get.
	if latest, gen := c.keys.snapshot(); gen != seen && latest != nil {
		return latest, nil
	}
	raw, err := c.fetchJWKS(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := parseVaultJWKS(raw)
	if err != nil {
		return nil, err
	}
	keys.fetched = c.now()
	c.keys.mu.Lock()
	c.keys.current = keys
	c.keys.generation++
	c.keys.mu.Unlock()
	return keys, nil
}

// RefreshKeys fetches the vault's public keys now, for callers that know
// the vault rotated its keys.
func (c *Client) RefreshKeys(ctx context.Context) error {
	_, err := c.vaultKeys(ctx, true)
	return err
}

// vaultSigningKey is the vault's public signing key named kid. An unknown
// kid causes one fetch of the JWKS, so a vault that rotated its signing key
// is followed without trusting anything the answer itself carries.
func (c *Client) vaultSigningKey(ctx context.Context, kid string) (jose.JSONWebKey, error) {
	keys, err := c.vaultKeys(ctx, false)
	if err != nil {
		return jose.JSONWebKey{}, err
	}
	if k, ok := keys.sig[kid]; ok {
		return k, nil
	}
	keys, err = c.vaultKeys(ctx, true)
	if err != nil {
		return jose.JSONWebKey{}, err
	}
	if k, ok := keys.sig[kid]; ok {
		return k, nil
	}
	return jose.JSONWebKey{}, fmt.Errorf("%w: signed with a key the vault does not publish", ErrInvalidAnswer)
}

// JWKS returns the vault's public key set as published at GET /v1/jwks.
func (c *Client) JWKS(ctx context.Context) (json.RawMessage, error) {
	raw, err := c.fetchJWKS(ctx)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(raw), nil
}

// Health returns nil once the vault answers GET /v1/health with 200.
func (c *Client) Health(ctx context.Context) error {
	_, err := c.getUnauthenticated(ctx, "/v1/health")
	return err
}

func (c *Client) fetchJWKS(ctx context.Context) ([]byte, error) {
	body, err := c.getUnauthenticated(ctx, "/v1/jwks")
	if err != nil {
		return nil, err
	}
	if !json.Valid(body) {
		return nil, errors.New("vault client: jwks: answer is not JSON")
	}
	return body, nil
}

func (c *Client) getUnauthenticated(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.baseURL+path, nil)
	if err != nil {
		return nil, errors.New("vault client: bad vault URL")
	}
	req.Header.Set("Accept", "application/json")
	status, header, body, err := c.send(req)
	if err != nil {
		return nil, fmt.Errorf("vault client: GET %s: %w", path, err)
	}
	if status != http.StatusOK {
		return nil, parseAPIError(status, header, body)
	}
	return body, nil
}

// parseVaultJWKS keeps the vault keys this client can use. A key of a type
// go-jose does not know, without a kid, or with an unknown use is skipped
// (a newer vault may publish more); a private member anywhere refuses the
// whole set, because a vault that leaks its private keys must not be
// trusted with card data.
func parseVaultJWKS(raw []byte) (*vaultKeys, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, errors.New("vault client: jwks: not a JWK set")
	}
	keys := &vaultKeys{sig: map[string]jose.JSONWebKey{}}
	for i, rawKey := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(rawKey); err != nil {
			if errors.Is(err, jose.ErrUnsupportedKeyType) {
				continue
			}
			return nil, fmt.Errorf("vault client: jwks: key %d is not a valid JWK", i)
		}
		if !k.IsPublic() {
			return nil, fmt.Errorf("vault client: jwks: key %q holds private key material; refusing the key set", k.KeyID)
		}
		if k.KeyID == "" || !k.Valid() {
			continue
		}
		switch k.Use {
		case "enc":
			if alg, err := encryptionAlgorithm(&k); err == nil {
				keys.enc = append(keys.enc, vaultEncKey{key: k, alg: alg})
			}
		case "sig":
			if _, err := vaultSignatureAlgorithm(&k); err == nil {
				keys.sig[k.KeyID] = k
			}
		}
	}
	return keys, nil
}
