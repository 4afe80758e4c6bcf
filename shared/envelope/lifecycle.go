package envelope

import (
	"context"
	"errors"
	"time"

	"github.com/cardvault/vault/shared/secret"
)

// Lifecycle changes a merchant's key versions: rotation, re-wrapping
// under a new master key, destruction and shredding. It works on the
// stored keys directly (never on cached copies), and keeps this process's
// cache in step; other processes catch up within the cache TTLs.
type Lifecycle struct {
	keyring Keyring
	store   KeyAdmin
	manager *Manager
}

// NewLifecycle builds a Lifecycle over the manager's cache.
func NewLifecycle(keyring Keyring, store KeyAdmin, manager *Manager) *Lifecycle {
	return &Lifecycle{keyring: keyring, store: store, manager: manager}
}

// Rotate makes a new primary version of the merchant's keys: a fresh
// record key, and the fingerprint key carried over so that fingerprints,
// and so duplicate detection, survive the rotation. The previous primary
// becomes retiring. A merchant without keys gets its first version.
// Two concurrent rotations make one new version; both return it.
func (l *Lifecycle) Rotate(ctx context.Context, merchantID string) (StoredKey, Usage, error) {
	latest, err := l.store.LatestKey(ctx, merchantID)
	if errors.Is(err, ErrNoKey) {
		keys, usage, err := l.manager.Primary(ctx, merchantID)
		if err != nil {
			return StoredKey{}, usage, err
		}
		stored, err := l.store.KeyVersion(ctx, merchantID, keys.Version())
		return stored, usage, err
	}
	if err != nil {
		return StoredKey{}, Usage{}, err
	}
	var usage Usage
	current, call, err := l.keyring.Unwrap(ctx, latest.Wrapped, bundleContext(merchantID, latest.Version))
	usage.Calls = append(usage.Calls, call)
	if err != nil {
		return StoredKey{}, usage, err
	}
	defer secret.Wipe(current)
	if len(current) != bundleSize {
		return StoredKey{}, usage, errors.New("envelope: merchant key bundle has the wrong size")
	}
	bundle, err := newBundle(current[dekSize:])
	if err != nil {
		return StoredKey{}, usage, err
	}
	next := StoredKey{MerchantID: merchantID, Version: latest.Version + 1, State: KeyPrimary, CreatedAt: l.manager.opts.Now().UTC()}
	next.Wrapped, call, err = l.keyring.Wrap(ctx, bundle, bundleContext(merchantID, next.Version))
	usage.Calls = append(usage.Calls, call)
	if err != nil {
		secret.Wipe(bundle)
		return StoredKey{}, usage, err
	}
	err = l.store.CreateKey(ctx, next)
	if errors.Is(err, ErrKeyExists) {
		// A concurrent rotation made this version first: it is the
		// rotation asked for.
		secret.Wipe(bundle)
		winner, err := l.store.KeyVersion(ctx, merchantID, next.Version)
		return winner, usage, err
	}
	if err != nil {
		secret.Wipe(bundle)
		return StoredKey{}, usage, err
	}
	if err := l.store.SetKeyState(ctx, merchantID, latest.Version, KeyRetiring); err != nil && !errors.Is(err, ErrNoKey) {
		secret.Wipe(bundle)
		return next, usage, err
	}
	keys, err := newMerchantKeys(merchantID, next.Version, bundle)
	if err != nil {
		secret.Wipe(bundle)
		return next, usage, err
	}
	l.manager.install(keys)
	return next, usage, nil
}

// ReWrap moves every version of the merchant that is wrapped under
// another master key than the keyring's current one (after the KMS key in
// configuration changed) under the current one. Records are untouched:
// only the wrapping changes. It returns how many versions it moved.
func (l *Lifecycle) ReWrap(ctx context.Context, merchantID string) (int, Usage, error) {
	versions, err := l.store.Keys(ctx, merchantID)
	if err != nil {
		return 0, Usage{}, err
	}
	var usage Usage
	moved := 0
	current := l.keyring.MasterKeyID()
	for _, k := range versions {
		if k.Wrapped.MasterKeyID == current {
			continue
		}
		rewrapped, call, err := l.keyring.ReWrap(ctx, k.Wrapped, bundleContext(merchantID, k.Version))
		usage.Calls = append(usage.Calls, call)
		if err != nil {
			return moved, usage, err
		}
		err = l.store.ReplaceWrapped(ctx, merchantID, k.Version, k.Wrapped, rewrapped)
		if errors.Is(err, ErrKeyChanged) {
			continue // re-wrapped or destroyed meanwhile
		}
		if err != nil {
			return moved, usage, err
		}
		moved++
	}
	return moved, usage, nil
}

// Destroy deletes one version's wrapped key and drops it from this
// process's cache. The caller guarantees that no record uses it.
func (l *Lifecycle) Destroy(ctx context.Context, merchantID string, version uint32) error {
	if err := l.store.DestroyKey(ctx, merchantID, version); err != nil {
		return err
	}
	l.manager.forgetVersion(merchantID, version)
	return nil
}

// Shred crypto-shreds the merchant: it is marked shredded first, so that
// no new key is ever made for it, then every version is destroyed. From
// then on nothing sealed for the merchant can be decrypted, with access
// to the table and the keyring or without.
func (l *Lifecycle) Shred(ctx context.Context, merchantID string, at time.Time) error {
	if err := l.store.MarkShredded(ctx, merchantID, at); err != nil {
		return err
	}
	l.manager.Forget(merchantID)
	versions, err := l.store.Keys(ctx, merchantID)
	if err != nil {
		return err
	}
	for _, k := range versions {
		if err := l.store.DestroyKey(ctx, merchantID, k.Version); err != nil {
			return err
		}
	}
	l.manager.Forget(merchantID)
	return nil
}
