package app

import (
	"fmt"

	"github.com/cardvault/vault/shared/httpapi"
)

// Function is one Lambda function of the vault: what it serves and
// whether it may hold merchant keys. The SAM template declares one
// resource per entry, with the IAM permissions that match NeedsKeys.
type Function struct {
	Name string
	// NeedsKeys: the function unwraps merchant keys (kms:Decrypt).
	NeedsKeys bool
	Routes    func(c *Components) ([]httpapi.Route, error)
}

// Functions lists every function of the vault.
var Functions = []Function{
	{
		Name:      "vault-card",
		NeedsKeys: true,
		Routes: func(c *Components) ([]httpapi.Route, error) {
			cv, err := c.CardVault()
			if err != nil {
				return nil, err
			}
			return httpapi.VaultCardRoutes(cv), nil
		},
	},
	{
		Name: "get-masked",
		Routes: func(c *Components) ([]httpapi.Route, error) {
			return httpapi.MaskedRoutes(c.MaskedViews()), nil
		},
	},
	{
		Name: "jwks",
		Routes: func(c *Components) ([]httpapi.Route, error) {
			return httpapi.SystemRoutes(c.VaultKeys.PublicJWKS(), c.Ready), nil
		},
	},
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
