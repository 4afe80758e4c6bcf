package main

import (
	"context"
	"fmt"
)

func runHealth(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("health", "")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := a.anonymousClient().Health(ctx); err != nil {
		return err
	}
	_, err := fmt.Fprintln(a.stdout, "ok")
	return err
}

func runJWKS(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("jwks", "")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	raw, err := a.anonymousClient().JWKS(ctx)
	if err != nil {
		return err
	}
	return printJSON(a.stdout, raw)
}
