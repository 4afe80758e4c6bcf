package memstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/internal/storetest"
	"github.com/cardvault/vault/shared/memstore"
	"github.com/cardvault/vault/shared/vault"
)

// TestContract holds the in-memory ports to the same contract as the
// DynamoDB adapter (shared/store runs it on dynalite).
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) storetest.Ports {
		return memstore.New(memstore.WithClock(now))
	})
}

func TestWorkRecordsAndRuns(t *testing.T) {
	ctx := context.Background()
	var recorded memstore.Work
	req := vault.WorkRequest{Action: vault.ActionPurgeMerchant, MerchantID: "m1"}
	if err := recorded.Start(ctx, req); err != nil {
		t.Fatal(err)
	}
	if got := recorded.Started(); len(got) != 1 || got[0] != req {
		t.Fatalf("Started = %+v, want [%+v]", got, req)
	}

	boom := errors.New("boom")
	var ran []vault.WorkRequest
	running := memstore.Work{Run: func(_ context.Context, r vault.WorkRequest) error {
		ran = append(ran, r)
		return boom
	}}
	if err := running.Start(ctx, req); !errors.Is(err, boom) {
		t.Fatalf("Start = %v, want Run's error", err)
	}
	if len(ran) != 1 || len(running.Started()) != 1 {
		t.Fatalf("ran %d, started %d; want 1 and 1", len(ran), len(running.Started()))
	}
}

func TestAuditRecordsAndFails(t *testing.T) {
	ctx := context.Background()
	var a memstore.Audit
	if err := a.Record(ctx, audit.Event{Action: audit.ActionRotationStarted}); err != nil {
		t.Fatal(err)
	}
	down := errors.New("bus unreachable")
	a.Fail(down)
	if err := a.Record(ctx, audit.Event{Action: audit.ActionRotationPage}); !errors.Is(err, down) {
		t.Fatalf("Record while failing = %v", err)
	}
	a.Fail(nil)
	if err := a.Record(ctx, audit.Event{Action: audit.ActionRotationFinished}); err != nil {
		t.Fatal(err)
	}
	got := a.Events()
	if len(got) != 2 || got[0].Action != audit.ActionRotationStarted || got[1].Action != audit.ActionRotationFinished {
		t.Fatalf("Events = %+v", got)
	}
}
