package app

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/config"
	"github.com/cardvault/vault/shared/wire"
)

// A Part is what only some functions use, loaded in AWS mode after the
// common components: the vault's JWKS and the client registry (Requests,
// which RunLambda adds for every HTTP function), the job files bucket
// (bucket.Files), the import key ring or its published half
// (importkeys.Ring, importkeys.PublicKey), the forward destinations
// (destinations.Forward). Each lives in a package of its own, and a
// function's main names the parts its flags ask for
// (app.RunLambda(app.Jobs, bucket.Files)), so a bootstrap links only what
// its function uses: no S3 client where no job file is kept, no import
// key parsing where no import key is read, no forwarder where nothing is
// forwarded, no JOSE layer in the workers.
type Part struct {
	// Name says what the part loads, in errors.
	Name string
	// For reports whether fn's flags ask for the part. A part is refused
	// to any other function: its role may not read what the part reads.
	For func(fn Function) bool
	// Load reads the part from the environment and adds it to c.
	Load func(ctx context.Context, env *AWSEnv, c *Components) error
}

// AWSEnv is what a part reads at cold start.
type AWSEnv struct {
	// Function is the function being loaded.
	Function Function
	Config   aws.Config
	Loader   *config.Loader
	// Registry is the client registry; nil where the function
	// authenticates no client.
	Registry *wire.Registry
	// Events is the vault's EventBridge client and Bus its bus (empty for
	// the default bus), for audit and work events.
	Events audit.EventBridgeAPI
	Bus    string
}

func (p Part) load(ctx context.Context, env *AWSEnv, fn Function, c *Components) error {
	if p.For == nil || p.Load == nil || !p.For(fn) {
		return fmt.Errorf("app: %s does not use the %s", fn.Name, p.Name)
	}
	return p.Load(ctx, env, c)
}

// checkParts refuses, at cold start, a function whose flags ask for
// something that no part given to it loaded: its main is missing a part.
func checkParts(fn Function, c *Components) error {
	missing := func(what, part string) error {
		return fmt.Errorf("app: %s needs %s, and its main names no part loading it (%s)", fn.Name, what, part)
	}
	switch {
	case fn.NeedsVaultJWKS && c.VaultKeys == nil:
		return missing("the vault's JWKS", "app.Requests")
	case fn.NeedsClients && c.Clients == nil:
		return missing("the client registry", "app.Requests")
	case fn.NeedsFiles && (c.Files == nil || c.JobWork == nil):
		return missing("the job files bucket", "bucket.Files")
	case fn.NeedsImportKey && c.ImportKeys == nil:
		return missing("the import key ring", "importkeys.Ring")
	case fn.NeedsImportPublicKey && c.ImportPublicKey == nil:
		return missing("the import key's published half", "importkeys.PublicKey")
	case fn.NeedsDestinations && c.Destinations == nil:
		return missing("the forward destinations", "destinations.Forward")
	}
	return nil
}
