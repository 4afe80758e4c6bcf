package app

import (
	"fmt"

	"github.com/cardvault/vault/shared/httpapi"
	"github.com/cardvault/vault/shared/vault"
)

// Function is one Lambda function of the vault: what it serves and what
// it may hold. The SAM template declares one resource per entry, with IAM
// permissions matching these flags; a test holds the two together.
//
// The split follows least privilege: a function that never decrypts a
// record (get-masked, delete-card, secret-metadata) is given no keyring,
// and a function that neither opens JWE bodies nor signs responses is
// given no vault private key.
type Function struct {
	Name string
	// NeedsKeys: the function unwraps merchant keys (kms:Decrypt, and
	// kms:Encrypt to make a merchant's first key).
	NeedsKeys bool
	// NeedsVaultJWKS: the function opens JWE bodies or signs responses
	// with the vault's private JWKS (or publishes its public half).
	NeedsVaultJWKS bool
	// NeedsClients: the function authenticates client requests, so it
	// reads the client registry.
	NeedsClients bool
	// NeedsFiles: the function reads, writes or presigns job files (the
	// bucket) and starts job work.
	NeedsFiles bool
	// NeedsImportKey: the function holds the OpenPGP import key ring
	// (decrypts imports, signs exports).
	NeedsImportKey bool
	// NeedsImportPublicKey: the function publishes the import key's public
	// half only.
	NeedsImportPublicKey bool
	// NeedsDestinations: the function forwards to the operator's
	// destinations, so it reads the destinations document.
	NeedsDestinations bool
	Routes            func(c *Components) ([]httpapi.Route, error)
}

// The HTTP functions of the vault, one variable each: a function's
// bootstrap names its own (app.RunLambda(app.VaultCard)) and never the
// Functions list, so it links that function's routes and none of the
// others'. Routes are named functions, not closures, so that Functions,
// which copies these variables, is laid out by the compiler as static
// data: a closure would make the copy code run at init, and that code
// would link every function's routes into every bootstrap.

// VaultCard is the vault-card function (vault_card).
var VaultCard = Function{
	Name: "vault-card", NeedsKeys: true, NeedsVaultJWKS: true, NeedsClients: true,
	Routes: vaultCardRoutes,
}

func vaultCardRoutes(c *Components) ([]httpapi.Route, error) {
	cv, err := c.CardVault()
	if err != nil {
		return nil, err
	}
	return httpapi.VaultCardRoutes(cv), nil
}

// GetMasked is the get-masked function (get_masked, list_cards).
// list_cards shares get-masked's function: both answer masked
// views only, from attributes stored in the clear, so both run
// without any KMS permission.
var GetMasked = Function{
	Name: "get-masked", NeedsClients: true,
	Routes: getMaskedRoutes,
}

func getMaskedRoutes(c *Components) ([]httpapi.Route, error) {
	return append(httpapi.MaskedRoutes(vault.NewMaskedViews(c.Store, c.Store, c.Store, c.Now)),
		httpapi.ListCardsRoutes(vault.NewCardListings(c.Store, c.Store, c.Store, c.Now))...), nil
}

// RevealCard is the reveal-card function (reveal_card).
var RevealCard = Function{
	Name: "reveal-card", NeedsKeys: true, NeedsVaultJWKS: true, NeedsClients: true,
	Routes: revealCardRoutes,
}

func revealCardRoutes(c *Components) ([]httpapi.Route, error) {
	cv, err := c.CardVault()
	if err != nil {
		return nil, err
	}
	return httpapi.RevealCardRoutes(cv, c.VaultKeys, c.Now), nil
}

// DeleteCard is the delete-card function (delete_card).
var DeleteCard = Function{
	Name: "delete-card", NeedsClients: true,
	Routes: deleteCardRoutes,
}

func deleteCardRoutes(c *Components) ([]httpapi.Route, error) {
	return httpapi.DeleteCardRoutes(vault.NewCardDeleter(c.Store, c.Store, c.Store, c.Now)), nil
}

// PutSecret is the put-secret function (put_secret).
var PutSecret = Function{
	Name: "put-secret", NeedsKeys: true, NeedsVaultJWKS: true, NeedsClients: true,
	Routes: putSecretRoutes,
}

func putSecretRoutes(c *Components) ([]httpapi.Route, error) {
	sv, err := c.SecretVault()
	if err != nil {
		return nil, err
	}
	return httpapi.PutSecretRoutes(sv), nil
}

// RevealSecret is the reveal-secret function (reveal_secret).
var RevealSecret = Function{
	Name: "reveal-secret", NeedsKeys: true, NeedsVaultJWKS: true, NeedsClients: true,
	Routes: revealSecretRoutes,
}

func revealSecretRoutes(c *Components) ([]httpapi.Route, error) {
	sv, err := c.SecretVault()
	if err != nil {
		return nil, err
	}
	return httpapi.RevealSecretRoutes(sv, c.VaultKeys, c.Now), nil
}

// SecretMetadata is the secret-metadata function (get_secret, delete_secret).
var SecretMetadata = Function{
	Name: "secret-metadata", NeedsClients: true,
	Routes: secretMetadataRoutes,
}

func secretMetadataRoutes(c *Components) ([]httpapi.Route, error) {
	return httpapi.SecretMetadataRoutes(vault.NewSecretMetadata(c.Store, c.Store, c.Store, c.Now)), nil
}

// MerchantKeys is the merchant-keys function (rotate_keys, get_keys,
// shred_merchant). rotate_keys needs keys; get_keys and shred_merchant do not, but
// they share the function because they share its state and its
// background work.
var MerchantKeys = Function{
	Name: "merchant-keys", NeedsKeys: true, NeedsClients: true,
	Routes: merchantKeysRoutes,
}

func merchantKeysRoutes(c *Components) ([]httpapi.Route, error) {
	l, err := c.KeyLifecycle()
	if err != nil {
		return nil, err
	}
	return httpapi.MerchantKeysRoutes(l), nil
}

// Forward is the forward function. It opens JWE bodies, unwraps merchant keys to read cards and
// credentials, and sends them to the operator's destinations; its
// answers are JSON, never sealed.
var Forward = Function{
	Name: "forward", NeedsKeys: true, NeedsVaultJWKS: true, NeedsClients: true, NeedsDestinations: true,
	Routes: forwardRoutes,
}

func forwardRoutes(c *Components) ([]httpapi.Route, error) {
	f, err := c.Forwarder()
	if err != nil {
		return nil, err
	}
	return httpapi.ForwardRoutes(f), nil
}

// JWKS is the jwks function: GET /v1/jwks, /v1/import-key and
// /v1/health answer anyone: no
// client registry.
var JWKS = Function{
	Name: "jwks", NeedsVaultJWKS: true, NeedsImportPublicKey: true,
	Routes: jwksRoutes,
}

func jwksRoutes(c *Components) ([]httpapi.Route, error) {
	return append(httpapi.SystemRoutes(c.VaultKeys.PublicJWKS(), c.Ready), httpapi.ImportKeyRoutes(c.ImportPublicKey)...), nil
}

// Jobs is the jobs function: import_cards, export_cards and get_job
// store jobs and presign
// their files; they hold no merchant key and no import key (the
// migrate worker does the work). export_cards' body is a JWE.
var Jobs = Function{
	Name: "jobs", NeedsVaultJWKS: true, NeedsClients: true, NeedsFiles: true,
	Routes: jobsRoutes,
}

func jobsRoutes(c *Components) ([]httpapi.Route, error) {
	j, err := c.Jobs()
	if err != nil {
		return nil, err
	}
	return httpapi.JobRoutes(j), nil
}

// Functions lists every HTTP function of the vault: the local server and
// the tests serve or check them all.
var Functions = []Function{
	VaultCard, GetMasked, RevealCard, DeleteCard, PutSecret, RevealSecret, SecretMetadata, MerchantKeys, Forward, JWKS, Jobs,
}

// FunctionNamed returns the function called name.
func FunctionNamed(name string) (Function, error) {
	for _, f := range Functions {
		if f.Name == name {
			return f, nil
		}
	}
	return Function{}, fmt.Errorf("app: no function named %q", name)
}

// API builds the HTTP API serving the given functions' routes.
func (c *Components) API(fns ...Function) (*httpapi.API, error) {
	var sets [][]httpapi.Route
	for _, f := range fns {
		routes, err := f.Routes(c)
		if err != nil {
			return nil, fmt.Errorf("app: %s: %w", f.Name, err)
		}
		sets = append(sets, routes)
	}
	return httpapi.New(c.Deps(), sets...), nil
}
