package dynamo

import (
	"context"
	"testing"

	"github.com/cardvault/vault/bench/internal/localdb"
	"github.com/cardvault/vault/shared/store"
)

// startTable starts a dynalite of its own for b, stopped when b ends,
// with the vault's table made as EnsureTable makes it.
func startTable(b *testing.B, table string) (*localdb.Server, *store.Store) {
	b.Helper()
	ctx := context.Background()
	db, err := localdb.Start(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(db.Stop)
	client := store.NewLocalClient(db.Endpoint)
	if err := store.EnsureTable(ctx, client, table); err != nil {
		b.Fatal(err)
	}
	return db, store.New(client, table)
}
