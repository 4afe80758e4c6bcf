// Package localmode runs the vault on one machine with embedded defaults:
// dynalite in place of DynamoDB, a local master key file in place of KMS,
// files in place of Secrets Manager and an audit file in place of
// EventBridge. Everything it needs is made on first start under one
// directory, with owner-only permissions.
package localmode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/client"
	"github.com/cardvault/vault/shared/dynalite"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/forward"
	"github.com/cardvault/vault/shared/jobfiles"
	"github.com/cardvault/vault/shared/logging"
	"github.com/cardvault/vault/shared/store"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/wire"
)

// Settings are local mode's knobs; every one has a default.
type Settings struct {
	// Addr is where the local server listens (VAULT_ADDR).
	Addr string
	// Dir holds keys, data and the audit log (VAULT_LOCAL_DIR).
	Dir string
	// DynamoDBEndpoint names a running DynamoDB-compatible server; empty
	// means start dynalite (VAULT_DYNAMODB_ENDPOINT).
	DynamoDBEndpoint string
	// Table is the table name (VAULT_TABLE).
	Table string
	// ClientsFile is the client registry (VAULT_CLIENTS_FILE).
	ClientsFile string
	// DestinationsFile is the forward destinations document
	// (VAULT_DESTINATIONS_FILE); an edit takes effect without a restart.
	DestinationsFile string
	// KeyOptions tune the merchant key cache.
	KeyOptions envelope.Options
	// Now is the clock for every component (default time.Now); tests move
	// it to expire cards.
	Now func() time.Time
	// InlineWork runs background work (re-encryption, purges) inside the
	// call that starts it, for one-shot commands; the server runs it in
	// goroutines.
	InlineWork bool
	// JobBatchSize, if set, is the rows per import checkpoint (tests cut
	// small imports in several places with it).
	JobBatchSize int
	// Wrap hooks let tests put fault injection, counting or another
	// keyring (a KMS one against a loopback KMS) around the adapters.
	WrapDynamo  func(store.DynamoAPI) store.DynamoAPI
	WrapKeyring func(envelope.Keyring) envelope.Keyring
	WrapAudit   func(audit.Sink) audit.Sink
}

// SettingsFromEnv reads the contract's VAULT_* variables, and the key
// cache variables AWS mode reads too (VAULT_KEY_CACHE_TTL,
// VAULT_PRIMARY_TTL, VAULT_KEY_CACHE_SIZE).
func SettingsFromEnv(getenv func(string) string) (Settings, error) {
	s := Settings{
		Addr:             getenv("VAULT_ADDR"),
		Dir:              getenv("VAULT_LOCAL_DIR"),
		DynamoDBEndpoint: getenv("VAULT_DYNAMODB_ENDPOINT"),
		Table:            getenv("VAULT_TABLE"),
		ClientsFile:      getenv("VAULT_CLIENTS_FILE"),
		DestinationsFile: getenv("VAULT_DESTINATIONS_FILE"),
		KeyOptions:       LocalKeyOptions,
	}
	for name, d := range map[string]*time.Duration{"VAULT_KEY_CACHE_TTL": &s.KeyOptions.KeyTTL, "VAULT_PRIMARY_TTL": &s.KeyOptions.PrimaryTTL} {
		if v := getenv(name); v != "" {
			parsed, err := time.ParseDuration(v)
			if err != nil || parsed <= 0 {
				return s, fmt.Errorf("%s must be a positive duration such as 90s", name)
			}
			*d = parsed
		}
	}
	if v := getenv("VAULT_KEY_CACHE_SIZE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return s, fmt.Errorf("VAULT_KEY_CACHE_SIZE must be a positive integer")
		}
		s.KeyOptions.MaxKeys = n
	}
	return s.withDefaults(), nil
}

// LocalKeyOptions are local mode's key cache defaults. One process serves
// every function locally, so the cache can be short-lived: a rotation then
// completes (old versions destroyed) about a minute after it starts,
// instead of AWS mode's five.
var LocalKeyOptions = envelope.Options{KeyTTL: time.Minute, PrimaryTTL: 10 * time.Second}

func (s Settings) withDefaults() Settings {
	if s.Addr == "" {
		s.Addr = "127.0.0.1:3000"
	}
	if s.Dir == "" {
		s.Dir = ".vault-local"
	}
	if s.Table == "" {
		s.Table = "card-vault"
	}
	if s.ClientsFile == "" {
		s.ClientsFile = filepath.Join(s.Dir, "clients.json")
	}
	if s.DestinationsFile == "" {
		s.DestinationsFile = filepath.Join(s.Dir, DestinationsFile)
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	return s
}

// File names under Settings.Dir.
const (
	MasterKeyFile  = "master.key"
	VaultJWKSFile  = "vault-jwks.json"
	DemoClientFile = "demo-client.json"
	AuditFile      = "audit.jsonl"
	dynaliteDir    = "dynalite"
	// endpointFile holds the endpoint of the dynalite a running local
	// server started, for other local processes to share.
	endpointFile = "dynamodb-endpoint"
	// DemoClientID is the client made on first start, allowed every
	// operation for every merchant.
	DemoClientID = "demo-app"
)

// DestinationsFile is the default forward destinations document under
// Settings.Dir, created empty on first start.
const DestinationsFile = "destinations.json"

// Env is a running local vault's backends.
type Env struct {
	*app.Components
	Settings  Settings
	dynalite  *dynalite.Server
	auditFile *audit.FileSink
	work      *localWork
	stopWork  context.CancelFunc

	localFiles *jobfiles.Local
	jobs       *localJobs
}

// Start prepares the directory, starts dynalite unless an endpoint is
// given, makes sure the table exists and returns the components.
func Start(ctx context.Context, s Settings, logger *slog.Logger) (*Env, error) {
	s = s.withDefaults()
	// Whatever logger the caller built, every line is masked.
	logger = slog.New(logging.Mask(logger.Handler()))
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return nil, err
	}
	keyring, err := envelope.LoadOrCreateLocalKeyring(filepath.Join(s.Dir, MasterKeyFile))
	if err != nil {
		return nil, err
	}
	vaultKeys, err := loadOrCreateVaultKeys(filepath.Join(s.Dir, VaultJWKSFile))
	if err != nil {
		return nil, err
	}
	if err := ensureDemoClient(s); err != nil {
		return nil, err
	}
	if err := ensureDestinations(s.DestinationsFile); err != nil {
		return nil, err
	}
	env := &Env{Settings: s}
	endpoint := s.DynamoDBEndpoint
	if endpoint == "" {
		endpoint = runningDynalite(ctx, s.Dir)
	}
	if endpoint == "" {
		env.dynalite, err = dynalite.Start(ctx, filepath.Join(s.Dir, dynaliteDir))
		if err != nil {
			return nil, err
		}
		endpoint = env.dynalite.Endpoint
		_ = os.WriteFile(filepath.Join(s.Dir, endpointFile), []byte(endpoint), 0o600)
	}
	db := store.NewLocalClient(endpoint)
	if err := store.EnsureTable(ctx, db, s.Table); err != nil {
		env.Close()
		if s.DynamoDBEndpoint == "" {
			// The table lives in this directory's dynalite: say where.
			return nil, fmt.Errorf("%w; locally, remove %s (local data only) and start again", err, filepath.Join(s.Dir, dynaliteDir))
		}
		return nil, err
	}
	env.auditFile, err = audit.OpenFile(filepath.Join(s.Dir, AuditFile))
	if err != nil {
		env.Close()
		return nil, err
	}
	var dynamo store.DynamoAPI = db
	if s.WrapDynamo != nil {
		dynamo = s.WrapDynamo(dynamo)
	}
	var sink audit.Sink = env.auditFile
	if s.WrapAudit != nil {
		sink = s.WrapAudit(sink)
	}
	var kr envelope.Keyring = keyring
	if s.WrapKeyring != nil {
		kr = s.WrapKeyring(kr)
	}
	env.Components = &app.Components{
		Logger:       logger,
		Store:        store.New(dynamo, s.Table, store.WithClock(s.Now)),
		VaultKeys:    vaultKeys,
		Clients:      wire.FileRegistry(s.ClientsFile),
		Audit:        sink,
		Now:          s.Now,
		KeyOptions:   s.KeyOptions,
		JobBatchSize: s.JobBatchSize,
	}
	// Followed like the registry, and checked against it: a refused
	// document (or a client naming an unknown destination) makes every
	// forward answer 503 until it is fixed.
	env.Destinations = forward.Checked(forward.FileSource(s.DestinationsFile), env.Clients)
	env.Transports = forward.NewTransports()
	env.UseKeyring(func() (envelope.Keyring, error) { return kr, nil })
	workCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	env.stopWork = stop
	env.Background = func(life *vault.KeyLifecycle) vault.BackgroundWork {
		env.work = &localWork{life: life, ctx: workCtx, inline: s.InlineWork, logger: logger, running: map[string]bool{}}
		return env.work
	}
	if err := env.setUpJobs(workCtx, logger); err != nil {
		env.Close()
		return nil, err
	}
	return env, nil
}

// Close stops background work and what Start started.
func (e *Env) Close() {
	if e.stopWork != nil {
		e.stopWork()
	}
	if e.work != nil {
		e.work.wg.Wait()
	}
	e.WaitForJobs()
	if e.Components != nil {
		e.Components.Close()
	}
	if e.auditFile != nil {
		_ = e.auditFile.Close()
	}
	if e.dynalite != nil {
		_ = os.Remove(filepath.Join(e.Settings.Dir, endpointFile))
		_ = e.dynalite.Stop()
	}
}

// WaitForWork waits until background work started so far has finished
// (tests).
func (e *Env) WaitForWork() {
	if e.work != nil {
		e.work.wg.Wait()
	}
	if e.Components != nil {
		e.Components.Close()
	}
}

// runningDynalite returns the endpoint of the dynalite a running local
// server started on this directory's data, if it answers: a second
// process (make invoke, make rotate) cannot open the same data files, so
// it shares the server's dynalite.
func runningDynalite(ctx context.Context, dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, endpointFile)) // #nosec G304 -- a file under the operator's VAULT_LOCAL_DIR
	if err != nil {
		return ""
	}
	endpoint := string(data)
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := dynalite.Answers(pctx, store.NewLocalClient(endpoint)); err != nil {
		return ""
	}
	return endpoint
}

// DynamoDBEndpoint is the endpoint in use.
func (e *Env) DynamoDBEndpoint() string {
	if e.dynalite != nil {
		return e.dynalite.Endpoint
	}
	return e.Settings.DynamoDBEndpoint
}

func loadOrCreateVaultKeys(path string) (*wire.VaultKeys, error) {
	doc, err := os.ReadFile(path) // #nosec G304 -- a path under the operator's VAULT_LOCAL_DIR
	if errors.Is(err, os.ErrNotExist) {
		if doc, err = wire.GenerateVaultKeys(); err != nil {
			return nil, err
		}
		if err := writeNew(path, doc); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	keys, err := wire.ParseVaultKeys(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return keys, nil
}

// ensureDemoClient makes the demo client's keys and a registry holding it,
// unless a registry exists already.
func ensureDemoClient(s Settings) error {
	if _, err := os.Stat(s.ClientsFile); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	creds, err := client.GenerateCredentials(DemoClientID, "ECDH-ES+A256KW")
	if err != nil {
		return err
	}
	private, err := creds.MarshalPrivate()
	if err != nil {
		return err
	}
	entry, err := creds.RegistryEntry([]string{"*"}, client.Operations())
	if err != nil {
		return err
	}
	credsPath := filepath.Join(s.Dir, DemoClientFile)
	if err := os.WriteFile(credsPath, private, 0o600); err != nil {
		return err
	}
	if err := os.Chmod(credsPath, 0o600); err != nil {
		return err
	}
	registry := []byte(`{"clients": [` + string(entry) + "]}\n")
	if _, err := wire.ParseRegistry(registry); err != nil {
		return fmt.Errorf("demo registry: %w", err)
	}
	return writeNew(s.ClientsFile, registry)
}

// ensureDestinations writes an empty, valid destinations document unless
// one exists, so that a first `make run` serves forward (answering 403
// until the operator adds a destination).
func ensureDestinations(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	err := writeNew(path, []byte(forward.EmptyDocument))
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	return err
}

// writeNew creates path with owner-only permissions; it never overwrites.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- a path under the operator's VAULT_LOCAL_DIR
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close() // the write error is the one to report
		return err
	}
	return f.Close()
}
