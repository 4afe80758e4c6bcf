package store

import (
	"context"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/internal/dynalite"
	"github.com/cardvault/vault/shared/internal/storetest"
)

// TestContract holds the adapter, on dynalite, to the contract the
// in-memory ports (shared/memstore) are held to as well.
func TestContract(t *testing.T) {
	client := NewLocalClient(dynalite.ForTest(t))
	storetest.Run(t, func(t *testing.T, now func() time.Time) storetest.Ports {
		table := testTableName(t)
		if err := EnsureTable(context.Background(), client, table); err != nil {
			t.Fatalf("EnsureTable: %v", err)
		}
		return New(client, table, WithClock(now))
	})
}
