package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/config"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/envelope/kmskeyring"
	"github.com/cardvault/vault/shared/forward"
	"github.com/cardvault/vault/shared/metrics"
	"github.com/cardvault/vault/shared/store"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/wire"
)

// RunLambda loads the named function in AWS mode and serves it; it is the
// whole of a function's main.
func RunLambda(name string) {
	logger := NewLogger()
	fn, err := FunctionNamed(name)
	if err != nil {
		logger.Error("unknown function", "function", name)
		os.Exit(1)
	}
	ctx := context.Background()
	c, err := LoadAWS(ctx, fn)
	if err != nil {
		// Failing the cold start makes Lambda report the error and retry
		// with a fresh container; nothing is served half-configured.
		logger.Error("cold start failed", "function", name, "err", err)
		os.Exit(1)
	}
	api, err := c.API(fn)
	if err != nil {
		logger.Error("cold start failed", "function", name, "err", err)
		os.Exit(1)
	}
	lambda.Start(api.Handle)
}

// RotateDEK is the rotate-dek function: not HTTP, it is invoked by the
// rotation schedule and by work events on the vault's bus.
var RotateDEK = Function{Name: "rotate-dek", NeedsKeys: true}

// RunWorker serves the rotate-dek function.
func RunWorker() {
	logger := NewLogger()
	c, err := LoadAWS(context.Background(), RotateDEK)
	if err != nil {
		logger.Error("cold start failed", "function", RotateDEK.Name, "err", err)
		os.Exit(1)
	}
	life, err := c.KeyLifecycle()
	if err != nil {
		logger.Error("cold start failed", "function", RotateDEK.Name, "err", err)
		os.Exit(1)
	}
	lambda.Start(life.RunWork)
}

// LoadAWS builds the components of one function from its environment:
//
//	VAULT_TABLE                 DynamoDB table
//	VAULT_JWKS_SECRET_ARN       the vault's private JWKS (or VAULT_JWKS_KMS);
//	                            functions that open JWE bodies or sign only
//	VAULT_CLIENTS_SECRET_ARN    the client registry (or VAULT_CLIENTS_KMS);
//	                            functions that authenticate clients only
//	VAULT_KMS_KEY_ARN           the key wrapping merchant keys (functions
//	                            that need keys only)
//	VAULT_KEY_CACHE_TTL         unwrapped key lifetime (default 5m)
//	VAULT_PRIMARY_TTL           primary version lifetime (default 1m)
//	VAULT_KEY_CACHE_SIZE        unwrapped key versions held (default 1024)
//	VAULT_DESTINATIONS_SECRET_ARN  the forward destinations (or
//	                            VAULT_DESTINATIONS_KMS); forward only
//	VAULT_AUDIT_BUS             EventBridge bus for audit events (default bus
//	                            when empty); events are also logged
//	VAULT_FILES_BUCKET          the job files bucket (job functions only)
//	VAULT_IMPORT_KEY_SECRET_ARN the OpenPGP import key ring (migrate only)
//	VAULT_IMPORT_PUBLIC_KEY_SECRET_ARN  its published half (jwks only)
//
// Secrets are read once, here, at cold start.
func LoadAWS(ctx context.Context, fn Function) (*Components, error) {
	logger := NewLogger()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	kmsClient := kms.NewFromConfig(cfg)
	loader := &config.Loader{Getenv: os.Getenv, Secrets: secretsmanager.NewFromConfig(cfg), KMS: kmsClient}

	vaultKeys, registry, err := LoadSecrets(ctx, fn, loader)
	if err != nil {
		return nil, err
	}
	var destinations forward.Source
	if fn.NeedsDestinations {
		if destinations, err = loadDestinations(ctx, loader, registry); err != nil {
			return nil, err
		}
	}
	events := eventbridge.NewFromConfig(cfg)
	bus := loader.String("VAULT_AUDIT_BUS", "")
	keyOpts, err := keyOptions(loader)
	if err != nil {
		return nil, err
	}
	c := &Components{
		Logger:     logger,
		Store:      store.New(dynamodb.NewFromConfig(cfg), loader.String("VAULT_TABLE", "card-vault")),
		VaultKeys:  vaultKeys,
		Clients:    wire.StaticRegistry(registry),
		Audit:      audit.AWSSink(logger, events, bus),
		Metrics:    metrics.NewRecorder(os.Stdout, fn.Name),
		Now:        time.Now,
		KeyOptions: keyOpts,
	}
	// One warm HTTP client per destination for the container's life.
	c.Destinations, c.Transports = destinations, forward.NewTransports()
	c.Background = func(*vault.KeyLifecycle) vault.BackgroundWork { return EventWork{Client: events, Bus: bus} }
	if fn.NeedsKeys {
		arn := loader.String("VAULT_KMS_KEY_ARN", "")
		if arn == "" {
			return nil, fmt.Errorf("VAULT_KMS_KEY_ARN is not set")
		}
		c.UseKeyring(func() (envelope.Keyring, error) { return kmskeyring.New(kmsClient, arn), nil })
	}
	if err := loadJobParts(ctx, fn, cfg, loader, c); err != nil {
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

// LoadSecrets reads the secrets fn needs at cold start: the vault's
// private JWKS (NeedsVaultJWKS) and the client registry (NeedsClients).
// A document that is not usable fails with an error naming the variable
// and the secret it came from, so that a stack whose placeholder secrets
// ({"keys":[]}, {"clients":[]}) were never loaded says which one to load.
// A registry of no client is refused like a keyset of no key: it would
// start a function that answers every request 401.
//
// A function that authenticates no client (jwks, rotate-dek) has no
// registry and no permission to read it; a source without one answers any
// lookup with Unavailable.
func LoadSecrets(ctx context.Context, fn Function, loader *config.Loader) (*wire.VaultKeys, *wire.Registry, error) {
	var vaultKeys *wire.VaultKeys
	if fn.NeedsVaultJWKS {
		jwks, err := loader.Secret(ctx, VaultJWKSName, false)
		if err != nil {
			return nil, nil, err
		}
		if vaultKeys, err = wire.ParseVaultKeys(jwks.Reveal()); err != nil {
			return nil, nil, unusableSecret(loader, VaultJWKSName, err)
		}
	}
	var registry *wire.Registry
	if fn.NeedsClients {
		clientsDoc, err := loader.Secret(ctx, ClientsName, false)
		if err != nil {
			return nil, nil, err
		}
		if registry, err = wire.ParseRegistry(clientsDoc.Reveal()); err != nil {
			return nil, nil, unusableSecret(loader, ClientsName, err)
		}
		if registry.Len() == 0 {
			return nil, nil, unusableSecret(loader, ClientsName, errors.New("client registry: no client (the stack's placeholder?)"))
		}
	}
	if err := checkImportKeys(ctx, fn, loader); err != nil {
		return nil, nil, err
	}
	return vaultKeys, registry, nil
}

func unusableSecret(loader *config.Loader, name string, err error) error {
	return fmt.Errorf("%s (%s) is not usable; load it (docs/deploy.md): %w", name, loader.Source(name), err)
}

// loadDestinations reads the destinations document at cold start and
// refuses it whole on any error, and refuses a registry whose clients
// name a destination it does not hold. An empty document is the
// template's placeholder: a forward function without destinations has
// nothing to do, so its cold start fails, naming the secret to load.
func loadDestinations(ctx context.Context, loader *config.Loader, registry *wire.Registry) (forward.Source, error) {
	doc, err := loader.Secret(ctx, "VAULT_DESTINATIONS", false)
	if err != nil {
		return nil, err
	}
	dests, err := forward.ParseDestinations(doc.Reveal())
	if err != nil {
		return nil, fmt.Errorf("VAULT_DESTINATIONS: %w", err)
	}
	if dests.Len() == 0 {
		return nil, fmt.Errorf("VAULT_DESTINATIONS (secret %s) holds no destination: it is the template's placeholder; load the real document with put-secret-value (docs/deploy.md)",
			loader.String("VAULT_DESTINATIONS_SECRET_ARN", "VAULT_DESTINATIONS"))
	}
	if err := forward.CheckRegistry(registry, dests); err != nil {
		return nil, err
	}
	return forward.StaticSource(dests), nil
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
