// Package importkeys is the part that reads the OpenPGP import key: the
// private ring for the migrate worker, the published half for the jwks
// function. Only their bootstraps import it, so only they link OpenPGP's
// key parsing.
package importkeys

import (
	"context"

	"github.com/cardvault/vault/shared/app"
)

// Ring loads the import key ring (VAULT_IMPORT_KEY): the migrate worker
// decrypts imports and signs exports with it.
var Ring = app.Part{
	Name: "import key ring",
	For:  func(fn app.Function) bool { return fn.NeedsImportKey },
	Load: func(ctx context.Context, env *app.AWSEnv, c *app.Components) error {
		ring, err := app.ReadImportKeyRing(ctx, env.Loader, c.Now)
		if err != nil {
			return err
		}
		c.ImportKeys = ring
		return nil
	},
}

// PublicKey loads the import key's published half
// (VAULT_IMPORT_PUBLIC_KEY), which GET /v1/import-key serves; the function
// serving it never holds the private ring.
var PublicKey = app.Part{
	Name: "import public key",
	For:  func(fn app.Function) bool { return fn.NeedsImportPublicKey },
	Load: func(ctx context.Context, env *app.AWSEnv, c *app.Components) error {
		pub, err := app.ReadImportPublicKey(ctx, env.Loader)
		if err != nil {
			return err
		}
		c.ImportPublicKey = pub
		return nil
	},
}
