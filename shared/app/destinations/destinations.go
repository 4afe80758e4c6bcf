// Package destinations is the forward function's part: the operator's
// destinations, read at cold start, and one warm HTTP client per
// destination. Only the forward bootstrap imports it.
package destinations

import (
	"context"
	"fmt"

	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/config"
	"github.com/cardvault/vault/shared/forward"
	"github.com/cardvault/vault/shared/wire"
)

// Forward loads the destinations document (VAULT_DESTINATIONS), checked
// against the client registry, and the transports, kept for the
// container's life.
var Forward = app.Part{
	Name: "forward destinations",
	For:  func(fn app.Function) bool { return fn.NeedsDestinations },
	Load: func(ctx context.Context, env *app.AWSEnv, c *app.Components) error {
		dests, err := loadDestinations(ctx, env.Loader, env.Registry)
		if err != nil {
			return err
		}
		c.Destinations, c.Transports = dests, forward.NewTransports()
		return nil
	},
}

// loadDestinations reads the destinations document at cold start and
// refuses it whole on any error, and refuses a registry whose clients
// name a destination it does not hold. An empty document is the
// template's placeholder: a forward function without destinations has
// nothing to do, so its cold start fails, naming the secret to load.
func loadDestinations(ctx context.Context, loader *config.Loader, registry *wire.Registry) (forward.Source, error) {
	doc, err := loader.Secret(ctx, "VAULT_DESTINATIONS", false)
	if err != nil {
		return nil, err
	}
	dests, err := forward.ParseDestinations(doc.Reveal())
	if err != nil {
		return nil, fmt.Errorf("VAULT_DESTINATIONS: %w", err)
	}
	if dests.Len() == 0 {
		return nil, fmt.Errorf("VAULT_DESTINATIONS (secret %s) holds no destination: it is the template's placeholder; load the real document with put-secret-value (docs/deploy.md)",
			loader.String("VAULT_DESTINATIONS_SECRET_ARN", "VAULT_DESTINATIONS"))
	}
	if err := forward.CheckRegistry(registry, dests); err != nil {
		return nil, err
	}
	return forward.StaticSource(dests), nil
}
