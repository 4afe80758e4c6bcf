package dynalite

import (
	"context"

	"github.com/cardvault/vault/shared/dynalite"
)

// Server is a running dynalite (see shared/dynalite).
type Server = dynalite.Server

// EnvCLI names the environment variable that may point at dynalite's
// cli.js.
const EnvCLI = dynalite.EnvCLI

// Start launches a dynalite of its own, as shared/dynalite.Start does;
// tests that need to stop or restart one use it instead of ForTest.
func Start(ctx context.Context, dir string) (*Server, error) { return dynalite.Start(ctx, dir) }
