package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cardvault/vault/shared/client"
)

func runKeys(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return usageError("keys needs a subcommand: generate, rotate or status")
	}
	switch args[0] {
	case "generate":
		return runKeysGenerate(ctx, a, args[1:])
	case "rotate":
		return runKeysRotate(ctx, a, args[1:])
	case "status":
		return runKeysStatus(ctx, a, args[1:])
	default:
		return usageError("unknown keys subcommand %q (generate, rotate, status)", args[0])
	}
}

// runKeysGenerate makes a new client identity: the private credentials go
// to --out (mode 0600), the public registry entry to stdout.
func runKeysGenerate(_ context.Context, a *app, args []string) error {
	flags := a.newFlagSet("keys generate", "")
	id := flags.String("id", "", "client id (required)")
	encKind := flags.String("enc", "EC", "encryption key type: EC (ECDH-ES+A256KW) or RSA (RSA-OAEP-256)")
	merchants := flags.String("merchants", "*", `merchant ids the client may act for, comma-separated, or "*"`)
	ops := flags.String("ops", "all", `operations, comma-separated, or "all"`)
	out := flags.String("out", "", "credentials file to write (required)")
	force := flags.Bool("force", false, "overwrite an existing credentials file")
	if _, err := parse(flags, args, 0); err != nil {
		return err
	}
	if err := required("id", *id, "out", *out); err != nil {
		return err
	}
	var encAlg string
	switch strings.ToUpper(*encKind) {
	case "EC":
		encAlg = client.KeyAlgECDH
	case "RSA":
		encAlg = client.KeyAlgRSA
	default:
		return usageError("--enc must be EC or RSA")
	}
	opList := splitList(*ops)
	if *ops == "all" {
		opList = client.Operations()
	}

	creds, err := client.GenerateCredentials(*id, encAlg)
	if err != nil {
		return err
	}
	// Build the entry first: a bad --ops must not leave a credentials file
	// behind.
	entry, err := creds.RegistryEntry(splitList(*merchants), opList)
	if err != nil {
		return err
	}
	doc, err := creds.MarshalPrivate()
	if err != nil {
		return err
	}
	if err := writePrivateFile(*out, doc, *force); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "wrote credentials of client %q to %s; add this entry to the vault's client registry:\n", creds.ClientID, *out)
	_, err = fmt.Fprintf(a.stdout, "%s\n", entry)
	return err
}

// writePrivateFile writes doc readable by its owner only. Without force an
// existing file is left alone; with force it is replaced atomically, so a
// crash never leaves half a key file.
func writePrivateFile(path string, doc []byte, force bool) error {
	if !force {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- the output path the CLI user named
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s exists; use --force to replace it", path)
		}
		if err != nil {
			return err
		}
		if _, err := f.Write(doc); err != nil {
			_ = f.Close() // the write error is the one to report
			_ = os.Remove(path)
			return err
		}
		return f.Close()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".vaultctl-credentials-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close() // the first error is the one to report
		return err
	}
	if _, err := tmp.Write(doc); err != nil {
		_ = tmp.Close() // the first error is the one to report
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close() // the first error is the one to report
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
