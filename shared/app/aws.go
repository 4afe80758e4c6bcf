package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/config"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/envelope/kmskeyring"
	"github.com/cardvault/vault/shared/metrics"
	"github.com/cardvault/vault/shared/store"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/wire"
)

// RunLambda loads fn in AWS mode, with the parts only it uses (see
// Part), and serves it; it is the whole of an HTTP function's main. An
// HTTP function opens requests and answers them, so RunLambda loads the
// Requests part before the others.
func RunLambda(fn Function, parts ...Part) {
	logger := NewLogger()
	c, err := LoadAWS(context.Background(), fn, append([]Part{Requests}, parts...)...)
	if err != nil {
		// Failing the cold start makes Lambda report the error and retry
		// with a fresh container; nothing is served half-configured.
		ColdStartFailed(logger, fn, err)
	}
	api, err := c.API(fn)
	if err != nil {
		ColdStartFailed(logger, fn, err)
	}
	lambda.Start(api.Handle)
}

// ColdStartFailed logs why fn could not start and exits: Lambda reports
// the error and retries with a fresh container.
func ColdStartFailed(logger *slog.Logger, fn Function, err error) {
	logger.Error("cold start failed", "function", fn.Name, "err", err)
	os.Exit(1)
}

// RotateDEK is the rotate-dek function: not HTTP, it is invoked by the
// rotation schedule and by work events on the vault's bus.
var RotateDEK = Function{Name: "rotate-dek", NeedsKeys: true}

// RunWorker serves the rotate-dek function.
func RunWorker() {
	logger := NewLogger()
	c, err := LoadAWS(context.Background(), RotateDEK)
	if err != nil {
		ColdStartFailed(logger, RotateDEK, err)
	}
	life, err := c.KeyLifecycle()
	if err != nil {
		ColdStartFailed(logger, RotateDEK, err)
	}
	lambda.Start(life.RunWork)
}

// LoadAWS builds the components of one function from its environment,
// the common ones here and the rest by the parts given (a part refuses a
// function whose flags do not ask for it, and a function whose flags ask
// for something no part loaded is refused):
//
//	VAULT_TABLE                 DynamoDB table
//	VAULT_JWKS_SECRET_ARN       the vault's private JWKS (or VAULT_JWKS_KMS);
//	                            functions that open JWE bodies or sign
//	                            only, read by part Requests
//	VAULT_CLIENTS_SECRET_ARN    the client registry (or VAULT_CLIENTS_KMS);
//	                            functions that authenticate clients only,
//	                            by part Requests
//	VAULT_KMS_KEY_ARN           the key wrapping merchant keys (functions
//	                            that need keys only)
//	VAULT_KEY_CACHE_TTL         unwrapped key lifetime (default 5m)
//	VAULT_PRIMARY_TTL           primary version lifetime (default 1m)
//	VAULT_KEY_CACHE_SIZE        unwrapped key versions held (default 1024)
//	VAULT_AUDIT_BUS             EventBridge bus for audit events (default bus
//	                            when empty); events are also logged
//	VAULT_DESTINATIONS_SECRET_ARN  the forward destinations (or
//	                            VAULT_DESTINATIONS_KMS); forward only, read
//	                            by part destinations.Forward
//	VAULT_FILES_BUCKET          the job files bucket (job functions only),
//	                            by part bucket.Files
//	VAULT_IMPORT_KEY_SECRET_ARN the OpenPGP import key ring (migrate only),
//	                            by part importkeys.Ring
//	VAULT_IMPORT_PUBLIC_KEY_SECRET_ARN  its published half (jwks only), by
//	                            part importkeys.PublicKey
//
// Secrets are read once, here and in the parts, at cold start.
func LoadAWS(ctx context.Context, fn Function, parts ...Part) (*Components, error) {
	logger := NewLogger()
	cfg, err := lambdaConfig(os.Getenv)
	if err != nil {
		return nil, err
	}
	kmsClient := kms.NewFromConfig(cfg)
	loader := &config.Loader{Getenv: os.Getenv, Secrets: secretsmanager.NewFromConfig(cfg), KMS: kmsClient}

	events := eventbridge.NewFromConfig(cfg)
	bus := loader.String("VAULT_AUDIT_BUS", "")
	keyOpts, err := keyOptions(loader)
	if err != nil {
		return nil, err
	}
	c := &Components{
		Logger:     logger,
		Store:      store.New(dynamodb.NewFromConfig(cfg), loader.String("VAULT_TABLE", "card-vault")),
		Audit:      audit.AWSSink(logger, events, bus),
		Metrics:    metrics.NewRecorder(os.Stdout, fn.Name),
		Now:        time.Now,
		KeyOptions: keyOpts,
	}
	c.Background = func(*vault.KeyLifecycle) vault.BackgroundWork { return EventWork{Client: events, Bus: bus} }
	if fn.NeedsKeys {
		arn := loader.String("VAULT_KMS_KEY_ARN", "")
		if arn == "" {
			return nil, fmt.Errorf("VAULT_KMS_KEY_ARN is not set")
		}
		c.UseKeyring(func() (envelope.Keyring, error) { return kmskeyring.New(kmsClient, arn), nil })
	}
	env := &AWSEnv{Function: fn, Config: cfg, Loader: loader, Events: events, Bus: bus}
	for _, p := range parts {
		if err := p.load(ctx, env, fn, c); err != nil {
			return nil, err
		}
	}
	if err := checkParts(fn, c); err != nil {
		return nil, err
	}
	return c, nil
}

// Names of the secrets a function reads at cold start (config.Loader
// looks each up through NAME_SECRET_ARN, NAME_KMS or NAME_FILE).
const (
	VaultJWKSName = "VAULT_JWKS"
	ClientsName   = "VAULT_CLIENTS"
)

// LoadSecrets reads and checks every secret fn reads at cold start: the
// vault's private JWKS (NeedsVaultJWKS), the client registry
// (NeedsClients), and the import key ring (NeedsImportKey) or its
// published half (NeedsImportPublicKey), which a bootstrap reads through
// its importkeys part with the same checks. A document that is not usable
// fails with an error naming the variable and the secret it came from, so
// that a stack whose placeholder secrets ({"keys":[]}, {"clients":[]})
// were never loaded says which one to load. A registry of no client is
// refused like a keyset of no key: it would start a function that answers
// every request 401.
//
// A function that authenticates no client (jwks, rotate-dek) has no
// registry and no permission to read it; a source without one answers any
// lookup with Unavailable.
func LoadSecrets(ctx context.Context, fn Function, loader *config.Loader) (*wire.VaultKeys, *wire.Registry, error) {
	vaultKeys, registry, err := loadSecrets(ctx, fn, loader)
	if err != nil {
		return nil, nil, err
	}
	if fn.NeedsImportKey {
		if _, err := ReadImportKeyRing(ctx, loader, time.Now); err != nil {
			return nil, nil, err
		}
	}
	if fn.NeedsImportPublicKey {
		if _, err := ReadImportPublicKey(ctx, loader); err != nil {
			return nil, nil, err
		}
	}
	return vaultKeys, registry, nil
}

// Requests is the part of every HTTP function (RunLambda adds it): the
// vault's private JWKS and the client registry, as the function's flags
// ask, which the request opener uses. The workers (rotate-dek, migrate)
// open no request and do without it, and without the JOSE layer.
var Requests = Part{
	Name: "request keys and registry",
	For:  func(fn Function) bool { return fn.NeedsVaultJWKS || fn.NeedsClients },
	Load: func(ctx context.Context, env *AWSEnv, c *Components) error {
		vaultKeys, registry, err := loadSecrets(ctx, env.Function, env.Loader)
		if err != nil {
			return err
		}
		c.VaultKeys, c.Clients, env.Registry = vaultKeys, wire.StaticRegistry(registry), registry
		return nil
	},
}

// loadSecrets reads the secrets of part Requests, as fn's flags ask: the
// vault's private JWKS and the client registry.
func loadSecrets(ctx context.Context, fn Function, loader *config.Loader) (*wire.VaultKeys, *wire.Registry, error) {
	var vaultKeys *wire.VaultKeys
	if fn.NeedsVaultJWKS {
		jwks, err := loader.Secret(ctx, VaultJWKSName, false)
		if err != nil {
			return nil, nil, err
		}
		if vaultKeys, err = wire.ParseVaultKeys(jwks.Reveal()); err != nil {
			return nil, nil, UnusableSecret(loader, VaultJWKSName, err)
		}
	}
	var registry *wire.Registry
	if fn.NeedsClients {
		clientsDoc, err := loader.Secret(ctx, ClientsName, false)
		if err != nil {
			return nil, nil, err
		}
		if registry, err = wire.ParseRegistry(clientsDoc.Reveal()); err != nil {
			return nil, nil, UnusableSecret(loader, ClientsName, err)
		}
		if registry.Len() == 0 {
			return nil, nil, UnusableSecret(loader, ClientsName, errors.New("client registry: no client (the stack's placeholder?)"))
		}
	}
	return vaultKeys, registry, nil
}

// UnusableSecret is the cold start error for a secret that was read but
// holds no usable document: it names the variable and the secret.
func UnusableSecret(loader *config.Loader, name string, err error) error {
	return fmt.Errorf("%s (%s) is not usable; load it (docs/deploy.md): %w", name, loader.Source(name), err)
}

func keyOptions(l *config.Loader) (envelope.Options, error) {
	var o envelope.Options
	var err error
	if o.KeyTTL, err = l.Duration("VAULT_KEY_CACHE_TTL", 5*time.Minute); err != nil {
		return o, err
	}
	if o.PrimaryTTL, err = l.Duration("VAULT_PRIMARY_TTL", time.Minute); err != nil {
		return o, err
	}
	if o.MaxKeys, err = l.Int("VAULT_KEY_CACHE_SIZE", 1024); err != nil {
		return o, err
	}
	return o, nil
}
