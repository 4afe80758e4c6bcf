package app

import (
	"context"
	"time"

	"github.com/cardvault/vault/shared/config"
	"github.com/cardvault/vault/shared/pgpfile"
)

// Names of the import key secrets (config.Loader looks each up through
// NAME_SECRET_ARN, NAME_KMS or NAME_FILE).
const (
	ImportKeyName       = "VAULT_IMPORT_KEY"
	ImportPublicKeyName = "VAULT_IMPORT_PUBLIC_KEY"
)

// ReadImportKeyRing reads the OpenPGP import key ring and refuses one
// that is not usable (the template's placeholder among them), naming the
// secret to load. Only LoadSecrets and the importkeys.Ring part call it,
// so only the bootstraps naming that part link OpenPGP's key parsing.
func ReadImportKeyRing(ctx context.Context, loader *config.Loader, now func() time.Time) (*pgpfile.KeyRing, error) {
	doc, err := loader.Secret(ctx, ImportKeyName, false)
	if err != nil {
		return nil, err
	}
	ring, err := pgpfile.ParseKeyRing(doc.Reveal(), now)
	if err != nil {
		return nil, UnusableSecret(loader, ImportKeyName, err)
	}
	return ring, nil
}

// ReadImportPublicKey reads the import key's published half, armored, and
// refuses one that is not a usable public key; like ReadImportKeyRing,
// only LoadSecrets and its part (importkeys.PublicKey) call it.
func ReadImportPublicKey(ctx context.Context, loader *config.Loader) ([]byte, error) {
	doc, err := loader.Secret(ctx, ImportPublicKeyName, false)
	if err != nil {
		return nil, err
	}
	if err := pgpfile.CheckPublicKey(doc.Reveal()); err != nil {
		return nil, UnusableSecret(loader, ImportPublicKeyName, err)
	}
	return doc.Reveal(), nil
}
