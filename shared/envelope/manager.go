package envelope

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vaulterr"
)

// Options tune the key cache.
type Options struct {
	// KeyTTL bounds how long an unwrapped key stays in memory (default 5
	// minutes): it is evicted and wiped when its TTL ends, looked up again
	// or not, within ExpiryBound.
	KeyTTL time.Duration
	// PrimaryTTL bounds how long a container keeps using a primary version
	// after a rotation made a newer one (default 1 minute; never more than
	// KeyTTL).
	PrimaryTTL time.Duration
	// MaxKeys bounds the number of unwrapped key versions held (default
	// 1024).
	MaxKeys int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// UnwrapTimeout bounds one coalesced unwrap, which runs detached from
	// the request that started it so that one caller giving up does not
	// fail the others waiting on it (default 10 seconds).
	UnwrapTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.KeyTTL <= 0 {
		o.KeyTTL = 5 * time.Minute
	}
	if o.PrimaryTTL <= 0 {
		o.PrimaryTTL = time.Minute
	}
	if o.PrimaryTTL > o.KeyTTL {
		o.PrimaryTTL = o.KeyTTL
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 1024
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.UnwrapTimeout <= 0 {
		o.UnwrapTimeout = 10 * time.Second
	}
	return o
}

// Usage reports the keyring calls an operation caused, for the audit
// trail. It is empty on a cache hit.
type Usage struct {
	Calls []Call
}

// RequestIDs lists the keyring request ids (KMS request ids in AWS).
func (u Usage) RequestIDs() []string {
	var ids []string
	for _, c := range u.Calls {
		if c.RequestID != "" {
			ids = append(ids, c.RequestID)
		}
	}
	return ids
}

// Manager hands out merchant keys: it creates a merchant's first version
// on first use, unwraps versions through the keyring, and caches them.
// Concurrent misses for the same key are coalesced into one unwrap.
type Manager struct {
	keyring Keyring
	store   KeyStore
	opts    Options
	keys    *keyCache
	primary *primaryCache
	flights singleflight.Group
}

// NewManager builds a Manager.
func NewManager(keyring Keyring, store KeyStore, opts Options) *Manager {
	opts = opts.withDefaults()
	return &Manager{
		keyring: keyring,
		store:   store,
		opts:    opts,
		keys:    newKeyCache(opts.KeyTTL, opts.MaxKeys, opts.Now),
		primary: newPrimaryCache(opts.PrimaryTTL, 16*opts.MaxKeys, opts.Now),
	}
}

type flightResult struct {
	keys  *MerchantKeys
	usage Usage
}

// flight is a result shared by coalesced callers; the first to take it
// reports its keyring calls, so a call is audited once.
type flight struct {
	flightResult
	reported atomic.Bool
}

// Primary returns the keys new records of the merchant are sealed with,
// creating the merchant's first version if it has none.
func (m *Manager) Primary(ctx context.Context, merchantID string) (*MerchantKeys, Usage, error) {
	if k, ok := m.CachedPrimary(merchantID); ok {
		return k, Usage{}, nil
	}
	return m.coalesce(ctx, "p\x00"+merchantID, func(ctx context.Context) (flightResult, error) {
		return m.loadPrimary(ctx, merchantID)
	})
}

// CachedPrimary returns the merchant's primary keys if this process holds
// them, and makes no call at all otherwise: nothing is read, created or
// unwrapped, so a request may use it before it is admitted (a warm
// vault_card fingerprints the card to look for a duplicate while it reads
// the merchant's state).
func (m *Manager) CachedPrimary(merchantID string) (*MerchantKeys, bool) {
	v, ok := m.primary.get(merchantID)
	if !ok {
		return nil, false
	}
	return m.keys.get(cacheKey{merchantID, v})
}

// Version returns the keys of one version, to open a record sealed with
// it. A version that does not exist (destroyed, or never made) is
// ErrNoKey.
func (m *Manager) Version(ctx context.Context, merchantID string, version uint32) (*MerchantKeys, Usage, error) {
	if k, ok := m.keys.get(cacheKey{merchantID, version}); ok {
		return k, Usage{}, nil
	}
	return m.coalesce(ctx, "v\x00"+merchantID+"\x00"+strconv.FormatUint(uint64(version), 10), func(ctx context.Context) (flightResult, error) {
		stored, err := m.store.KeyVersion(ctx, merchantID, version)
		if err != nil {
			return flightResult{}, err
		}
		return m.unwrapAndCache(ctx, stored)
	})
}

// Forget drops the merchant's cached keys from this process.
func (m *Manager) Forget(merchantID string) {
	m.primary.forget(merchantID)
	m.keys.forget(merchantID)
}

// install caches keys this process just made and makes them the primary.
func (m *Manager) install(keys *MerchantKeys) {
	m.keys.put(cacheKey{keys.merchantID, keys.version}, keys)
	m.primary.put(keys.merchantID, keys.version)
}

// forgetVersion drops one cached version.
func (m *Manager) forgetVersion(merchantID string, version uint32) {
	m.keys.remove(cacheKey{merchantID, version})
}

// CacheTTLs are how long a process may keep using an older primary
// version after a rotation, and how long it may hold any unwrapped key.
func (m *Manager) CacheTTLs() (primary, key time.Duration) {
	return m.opts.PrimaryTTL, m.opts.KeyTTL
}

// Close wipes every cached key and stops the cache's timers, for a
// process (or a test) that is done with the Manager. Keys loaded after
// Close are cached, and expire, as before.
func (m *Manager) Close() {
	m.keys.clear()
}

// CachedKeys is the number of unwrapped key versions held.
func (m *Manager) CachedKeys() int { return m.keys.len() }

// coalesce runs load once for all concurrent callers with the same key.
// The load runs detached from any one caller's cancellation, bounded by
// UnwrapTimeout; each caller still returns when its own ctx ends.
func (m *Manager) coalesce(ctx context.Context, key string, load func(context.Context) (flightResult, error)) (*MerchantKeys, Usage, error) {
	ch := m.flights.DoChan(key, func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opts.UnwrapTimeout)
		defer cancel()
		r, err := load(lctx)
		return &flight{flightResult: r}, err
	})
	select {
	case <-ctx.Done():
		return nil, Usage{}, vaulterr.Wrap(vaulterr.Unavailable, "key service did not answer in time", ctx.Err())
	case r := <-ch:
		if r.Err != nil {
			return nil, Usage{}, r.Err
		}
		f := r.Val.(*flight)
		if f.reported.Swap(true) {
			return f.keys, Usage{}, nil
		}
		return f.keys, f.usage, nil
	}
}

func (m *Manager) loadPrimary(ctx context.Context, merchantID string) (flightResult, error) {
	stored, err := m.store.LatestKey(ctx, merchantID)
	if errors.Is(err, ErrNoKey) {
		return m.createFirst(ctx, merchantID)
	}
	if err != nil {
		return flightResult{}, err
	}
	m.primary.put(merchantID, stored.Version)
	if k, ok := m.keys.get(cacheKey{merchantID, stored.Version}); ok {
		return flightResult{keys: k}, nil
	}
	return m.unwrapAndCache(ctx, stored)
}

// createFirst makes version 1 of a merchant's keys. Two containers may
// race here; the conditional create lets exactly one win and the other
// reads the winner's key.
func (m *Manager) createFirst(ctx context.Context, merchantID string) (flightResult, error) {
	const version = 1
	bundle, err := newBundle(nil)
	if err != nil {
		return flightResult{}, err
	}
	wrapped, call, err := m.keyring.Wrap(ctx, bundle, bundleContext(merchantID, version))
	if err != nil {
		secret.Wipe(bundle)
		return flightResult{}, err
	}
	err = m.store.CreateKey(ctx, StoredKey{
		MerchantID: merchantID,
		Version:    version,
		Wrapped:    wrapped,
		State:      KeyPrimary,
		CreatedAt:  m.opts.Now().UTC(),
	})
	if errors.Is(err, ErrKeyExists) {
		secret.Wipe(bundle)
		return m.loadPrimary(ctx, merchantID)
	}
	if err != nil {
		secret.Wipe(bundle)
		return flightResult{}, err
	}
	keys, err := newMerchantKeys(merchantID, version, bundle)
	if err != nil {
		secret.Wipe(bundle)
		return flightResult{}, err
	}
	m.install(keys)
	return flightResult{keys: keys, usage: Usage{Calls: []Call{call}}}, nil
}

func (m *Manager) unwrapAndCache(ctx context.Context, stored StoredKey) (flightResult, error) {
	bundle, call, err := m.keyring.Unwrap(ctx, stored.Wrapped, bundleContext(stored.MerchantID, stored.Version))
	if err != nil {
		return flightResult{}, err
	}
	keys, err := newMerchantKeys(stored.MerchantID, stored.Version, bundle)
	if err != nil {
		secret.Wipe(bundle)
		return flightResult{}, vaulterr.Wrap(vaulterr.Integrity, "merchant key bundle is malformed",
			fmt.Errorf("merchant %s version %d: %w", stored.MerchantID, stored.Version, err))
	}
	m.keys.put(cacheKey{stored.MerchantID, stored.Version}, keys)
	return flightResult{keys: keys, usage: Usage{Calls: []Call{call}}}, nil
}
