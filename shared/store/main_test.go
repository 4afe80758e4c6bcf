package store

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cardvault/vault/shared/internal/dynalite"
)

func TestMain(m *testing.M) { dynalite.Main(m) }

// tableSeq keeps table names unique within the test binary, so tests and
// benchmarks never see each other's items.
var tableSeq atomic.Int64

// newTestStore returns a store over a fresh table on the shared dynalite.
func newTestStore(tb testing.TB) *Store {
	tb.Helper()
	client := NewLocalClient(dynalite.ForTest(tb))
	table := testTableName(tb)
	if err := EnsureTable(context.Background(), client, table); err != nil {
		tb.Fatalf("EnsureTable: %v", err)
	}
	return New(expressionsOnly{client}, table)
}

func testTableName(tb testing.TB) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '-'
	}, tb.Name())
	if len(name) > 200 {
		name = name[:200]
	}
	return fmt.Sprintf("t%d-%s", tableSeq.Add(1), name)
}
