// Package app composes the vault's adapters into a running process: one
// Lambda function in AWS, or the local server. Each function asks only for
// what it uses, so a function that never decrypts never builds a keyring,
// and each bootstrap links only what its function uses: this package
// holds the common part (configuration, key manager, store, audit,
// logging, the HTTP API), and what only some functions use is a Part in a
// package of its own (bucket, importkeys, destinations; migrateworker for
// the migrate function) that only their mains import. The local server
// serves every function and links everything.
package app

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/forward"
	"github.com/cardvault/vault/shared/httpapi"
	"github.com/cardvault/vault/shared/logging"
	"github.com/cardvault/vault/shared/metrics"
	"github.com/cardvault/vault/shared/migrate"
	"github.com/cardvault/vault/shared/pgpfile"
	"github.com/cardvault/vault/shared/store"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/wire"
)

// Components are the adapters of one process.
type Components struct {
	Logger    *slog.Logger
	Store     *store.Store
	VaultKeys *wire.VaultKeys
	Clients   wire.RegistrySource
	Audit     audit.Sink
	// Destinations are the operator's forward destinations (nil where the
	// process does not forward); Transports keeps one warm HTTP client
	// per destination.
	Destinations forward.Source
	Transports   forward.Sender
	// Metrics, if set, receives one EMF line per request.
	Metrics *metrics.Recorder
	Now     func() time.Time
	// KeyOptions tune the merchant key cache.
	KeyOptions envelope.Options
	// Ready, if set, is checked by GET /v1/health. In AWS a function that
	// finished its cold start is ready, so it is left nil there: the health
	// route needs no permission beyond what its function already has.
	Ready func(context.Context) error

	// Files keeps job files; JobWork continues jobs in the background.
	Files   migrate.Files
	JobWork migrate.Work
	// ImportKeys is the OpenPGP import key ring (migrate worker only);
	// ImportPublicKey its published half, armored (jwks function).
	ImportKeys      *pgpfile.KeyRing
	ImportPublicKey []byte
	// JobBatchSize, if set, replaces migrate.BatchSize (tests).
	JobBatchSize int

	// Background starts work that outlives a request (rotation,
	// purging); the lifecycle is passed in because it does the work.
	Background func(*vault.KeyLifecycle) vault.BackgroundWork

	// newKeyring builds the keyring on first use; nil where the process
	// must not decrypt.
	newKeyring func() (envelope.Keyring, error)
	keysOnce   sync.Once
	keyring    envelope.Keyring
	keys       *envelope.Manager
	keysErr    error

	lifeOnce sync.Once
	life     *vault.KeyLifecycle
	lifeErr  error
}

// NewLogger is the vault's structured logger: JSON lines on stderr, every
// field masked (see package logging).
func NewLogger() *slog.Logger {
	return logging.New(os.Stderr, slog.LevelInfo)
}

// UseKeyring sets how the keyring is built, on first use. Processes that
// must not decrypt never call it.
func (c *Components) UseKeyring(build func() (envelope.Keyring, error)) {
	c.newKeyring = build
}

// Opener opens client requests against the vault's keys and registry.
func (c *Components) Opener() *wire.Opener {
	return &wire.Opener{Keys: c.VaultKeys, Clients: c.Clients, Now: c.Now}
}

// Deps are the httpapi dependencies.
func (c *Components) Deps() httpapi.Deps {
	return httpapi.Deps{Opener: c.Opener(), Audit: c.Audit, Logger: c.Logger, Now: c.Now, Metrics: c.Metrics}
}

// KeyManager is the merchant key manager, built on first use.
func (c *Components) KeyManager() (*envelope.Manager, error) {
	c.keysOnce.Do(func() {
		if c.newKeyring == nil {
			c.keysErr = errNoKeyring
			return
		}
		kr, err := c.newKeyring()
		if err != nil {
			c.keysErr = err
			return
		}
		c.keyring = kr
		opts := c.KeyOptions
		opts.Now = c.Now
		c.keys = envelope.NewManager(kr, c.Store, opts)
	})
	return c.keys, c.keysErr
}

// Close wipes the merchant keys the process holds, if it built a key
// manager. A Lambda container never calls it (its keys expire by their
// TTL); the local server and tests do when they stop.
func (c *Components) Close() {
	if c.keys != nil {
		c.keys.Close()
	}
}

// CardVault builds the card operations that need keys.
func (c *Components) CardVault() (*vault.CardVault, error) {
	km, err := c.KeyManager()
	if err != nil {
		return nil, err
	}
	return vault.NewCardVault(c.Store, c.Store, c.Store, km, c.Now), nil
}

// KeyLifecycle builds the key lifecycle (rotation, shredding), once.
func (c *Components) KeyLifecycle() (*vault.KeyLifecycle, error) {
	c.lifeOnce.Do(func() {
		km, err := c.KeyManager()
		if err != nil {
			c.lifeErr = err
			return
		}
		life := envelope.NewLifecycle(c.keyring, c.Store, km)
		c.life = vault.NewKeyLifecycle(km, life, c.Store, c.Store, c.Store, nil, c.Audit, c.Now,
			vault.LifecycleOptions{Logger: c.Logger})
		if c.Background != nil {
			c.life.SetBackgroundWork(c.Background(c.life))
		}
	})
	return c.life, c.lifeErr
}

// Forwarder builds the forward operation.
func (c *Components) Forwarder() (*vault.Forwarder, error) {
	km, err := c.KeyManager()
	if err != nil {
		return nil, err
	}
	dests := c.Destinations
	if dests == nil {
		dests = forward.StaticSource(nil)
	}
	sender := c.Transports
	if sender == nil {
		sender = forward.NewTransports()
	}
	return vault.NewForwarder(vault.ForwarderDeps{
		Cards: c.Store, Secrets: c.Store, Replay: c.Store, Merchants: c.Store, Keys: km,
		Destinations: dests, Sender: sender, Audit: c.Audit, Now: c.Now,
	}), nil
}

// SecretVault builds the secret operations that need keys.
func (c *Components) SecretVault() (*vault.SecretVault, error) {
	km, err := c.KeyManager()
	if err != nil {
		return nil, err
	}
	return vault.NewSecretVault(c.Store, c.Store, c.Store, km, c.Now), nil
}

type constError string

func (e constError) Error() string { return string(e) }

const errNoKeyring = constError("app: this process has no keyring")
