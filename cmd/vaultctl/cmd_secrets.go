package main

import (
	"context"
	"fmt"

	"github.com/cardvault/vault/shared/client"
	"github.com/cardvault/vault/shared/secret"
)

func runSecret(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return usageError("secret needs a subcommand: put, get, reveal or delete")
	}
	switch args[0] {
	case "put":
		return runSecretPut(ctx, a, args[1:])
	case "get":
		return runSecretGet(ctx, a, args[1:])
	case "reveal":
		return runSecretReveal(ctx, a, args[1:])
	case "delete":
		return runSecretDelete(ctx, a, args[1:])
	default:
		return usageError("unknown secret subcommand %q (put, get, reveal, delete)", args[0])
	}
}

func runSecretPut(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("secret put", "")
	merchant := fs.String("merchant", "", "merchant id (required)")
	name := fs.String("name", "", "secret name (required)")
	value := fs.String("value", "", `secret value, or "-" to read it from stdin (keeps it out of shell history)`)
	meta := metadataFlag{}
	fs.Var(meta, "meta", "metadata key=value (repeatable; not secret)")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := required("merchant", *merchant, "name", *name, "value", *value); err != nil {
		return err
	}
	v, err := a.valueOrStdin("secret value", *value)
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	got, created, err := c.PutSecret(ctx, *merchant, *name, secret.New(v), meta)
	if err != nil {
		return err
	}
	return printJSON(a.stdout, struct {
		Created bool `json:"created"`
		*client.SecretMeta
	}{created, got})
}

// secretArgs parses the --merchant and --name flags shared by the commands
// on one secret.
func (a *app) secretArgs(cmd string, args []string) (merchant, name string, err error) {
	fs := a.newFlagSet(cmd, "")
	m := fs.String("merchant", "", "merchant id (required)")
	n := fs.String("name", "", "secret name (required)")
	if _, err := parse(fs, args, 0); err != nil {
		return "", "", err
	}
	if err := required("merchant", *m, "name", *n); err != nil {
		return "", "", err
	}
	return *m, *n, nil
}

func runSecretGet(ctx context.Context, a *app, args []string) error {
	merchant, name, err := a.secretArgs("secret get", args)
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	got, err := c.GetSecret(ctx, merchant, name)
	if err != nil {
		return err
	}
	return printJSON(a.stdout, got)
}

func runSecretReveal(ctx context.Context, a *app, args []string) error {
	merchant, name, err := a.secretArgs("secret reveal", args)
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	got, err := c.RevealSecret(ctx, merchant, name)
	if err != nil {
		return err
	}
	// Showing the value is this command's job: the one Reveal of it.
	return printJSON(a.stdout, struct {
		MerchantID string `json:"merchant_id"`
		Name       string `json:"name"`
		Version    int    `json:"version"`
		Value      string `json:"value"`
	}{got.MerchantID, got.Name, got.Version, got.Value.Reveal()})
}

func runSecretDelete(ctx context.Context, a *app, args []string) error {
	merchant, name, err := a.secretArgs("secret delete", args)
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	if err := c.DeleteSecret(ctx, merchant, name); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "deleted secret %s of merchant %s\n", name, merchant)
	return nil
}
