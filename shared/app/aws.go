package app

import (
	"context"
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

	var vaultKeys *wire.VaultKeys
	if fn.NeedsVaultJWKS {
		jwks, err := loader.Secret(ctx, "VAULT_JWKS", false)
		if err != nil {
			return nil, err
		}
		if vaultKeys, err = wire.ParseVaultKeys(jwks.Reveal()); err != nil {
			return nil, err
		}
	}
	// A function that authenticates no client (jwks, rotate-dek) has no
	// registry and no permission to read it; a source without one answers
	// any lookup with Unavailable.
	var registry *wire.Registry
	if fn.NeedsClients {
		clientsDoc, err := loader.Secret(ctx, "VAULT_CLIENTS", false)
		if err != nil {
			return nil, err
		}
		if registry, err = wire.ParseRegistry(clientsDoc.Reveal()); err != nil {
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
