package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cardvault/vault/shared/wire"
)

// vaultKeysFileName is local mode's private JWKS inside VAULT_LOCAL_DIR.
const vaultKeysFileName = "vault-jwks.json"

// runVaultKeys manages the vault's own JOSE keys (the private JWKS the
// vault decrypts requests and signs responses with). It edits the file
// only; in AWS the file is then loaded into the Secrets Manager secret
// (docs/deploy.md), locally the server is restarted to read it.
func runVaultKeys(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(a.stderr, `usage: vaultctl vault-keys <list|generate|add|sign-with|retire> [--file PATH] [args]

  list                   the keys of the set (no key material)
  generate --out PATH    a new set: RSA and EC encryption keys, an ES256 signing key
  add --kind KIND        a new key: enc-rsa, enc-ec or sig (published, not yet signing)
  sign-with KID          make KID the key that signs responses
  retire KID             remove KID from the set

Rotation, one step at a time: add; publish (restart, or load the secret);
sign-with once clients have the new JWKS; retire the old key once no
client uses it.`)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	switch args[0] {
	case "generate":
		return runVaultKeysGenerate(a, args[1:])
	case "list", "add", "sign-with", "retire":
		return runVaultKeysEdit(a, args[0], args[1:])
	default:
		return usageError("unknown vault-keys subcommand %q (list, generate, add, sign-with, retire)", args[0])
	}
}

func (a *app) defaultVaultKeysFile() string {
	return filepath.Join(a.envOr("VAULT_LOCAL_DIR", ".vault-local"), vaultKeysFileName)
}

func runVaultKeysGenerate(a *app, args []string) error {
	fs := a.newFlagSet("vault-keys generate", "")
	out := fs.String("out", "", "file to write (required; mode 0600)")
	force := fs.Bool("force", false, "overwrite an existing file")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := required("out", *out); err != nil {
		return err
	}
	doc, err := wire.GenerateVaultKeys()
	if err != nil {
		return err
	}
	if err := writeSecretFile(*out, doc, *force); err != nil {
		return err
	}
	return a.listKeys(doc)
}

func runVaultKeysEdit(a *app, sub string, args []string) error {
	want := 1
	argsUsage := "KID"
	if sub == "list" || sub == "add" {
		want, argsUsage = 0, ""
	}
	fs := a.newFlagSet("vault-keys "+sub, argsUsage)
	path := fs.String("file", a.defaultVaultKeysFile(), "private JWKS file (default <VAULT_LOCAL_DIR>/vault-jwks.json)")
	kind := "sig"
	if sub == "add" {
		fs.StringVar(&kind, "kind", "", "key kind: enc-rsa, enc-ec or sig (required)")
	}
	pos, err := parse(fs, args, want)
	if err != nil {
		return err
	}
	doc, err := os.ReadFile(*path)
	if err != nil {
		return err
	}
	var next []byte
	switch sub {
	case "list":
		return a.listKeys(doc)
	case "add":
		if err := required("kind", kind); err != nil {
			return err
		}
		var kid string
		if next, kid, err = wire.AddVaultKey(doc, kind); err == nil {
			fmt.Fprintf(a.stderr, "added %s\n", kid)
		}
	case "sign-with":
		next, err = wire.SetSigningKey(doc, pos[0])
	case "retire":
		next, err = wire.RetireVaultKey(doc, pos[0])
	}
	if err != nil {
		return err
	}
	if err := writeSecretFile(*path, next, true); err != nil {
		return err
	}
	fmt.Fprintln(a.stderr, "restart the local vault (or load the file into the JWKS secret) for the change to take effect")
	return a.listKeys(next)
}

func (a *app) listKeys(doc []byte) error {
	infos, err := wire.ListVaultKeys(doc)
	if err != nil {
		return err
	}
	return printJSON(a.stdout, infos)
}

// writeSecretFile writes data to path with owner-only permissions, by a
// rename so that a reader never sees half a key set.
func writeSecretFile(path string, data []byte, overwrite bool) error {
	if !overwrite {
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("%s exists (use --force to replace it)", path)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".vault-keys-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close() // the first error is the one to report
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close() // the first error is the one to report
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
