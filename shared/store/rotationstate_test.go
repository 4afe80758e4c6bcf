package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/vault"
)

func TestRotationState(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()

	st, err := s.RotationState(ctx, "m_1")
	if err != nil {
		t.Fatal(err)
	}
	if (st != vault.RotationState{MerchantID: "m_1"}) {
		t.Fatalf("state with none saved = %+v, want the zero state of m_1", st)
	}

	zone := time.FixedZone("UTC-3", -3*3600)
	st = vault.RotationState{
		MerchantID:    "m_1",
		Running:       true,
		TargetVersion: 7,
		StartedAt:     time.Date(2026, 2, 3, 4, 5, 6, 789012345, zone),
		PassStartedAt: time.Date(2026, 2, 3, 4, 6, 0, 1, zone),
		Cursor:        "opaque-cursor",
		Reencrypted:   1234,
		PassMoved:     56,
	}
	if err := s.SaveRotationState(ctx, st); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveRotationState(ctx, st); !errors.Is(err, vault.ErrConflict) {
		t.Fatalf("a second first save = %v, want ErrConflict", err)
	}
	got, err := s.RotationState(ctx, "m_1")
	if err != nil {
		t.Fatal(err)
	}
	want := st
	want.Revision = 1
	sameRotationState(t, got, want)

	// Two workers holding revision 1: one advances it, the other loses.
	next := got
	next.Cursor, next.PassMoved, next.Running = "", 0, false
	next.PassStartedAt = time.Time{}
	if err := s.SaveRotationState(ctx, next); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveRotationState(ctx, got); !errors.Is(err, vault.ErrConflict) {
		t.Fatalf("save from a stale revision = %v, want ErrConflict", err)
	}
	got, err = s.RotationState(ctx, "m_1")
	if err != nil {
		t.Fatal(err)
	}
	want = next
	want.Revision = 2
	sameRotationState(t, got, want)

	// The state shares the key partition and stays out of key reads.
	if _, err := s.LatestKey(ctx, "m_1"); !errors.Is(err, envelope.ErrNoKey) {
		t.Fatalf("LatestKey with only a rotation state = %v, want ErrNoKey", err)
	}
	if st, err := s.RotationState(ctx, "m_2"); err != nil || st.Revision != 0 || st.MerchantID != "m_2" {
		t.Fatalf("another merchant's state = %+v, %v", st, err)
	}
}

// TestRetriedRotationSaveSucceeds covers an SDK retry of a save whose
// answer was lost: it must not lose against its own first attempt.
func TestRetriedRotationSaveSucceeds(t *testing.T) {
	base := newTestStore(t)
	s := New(lostAnswer{base.db}, base.table)
	ctx := context.Background()
	st := vault.RotationState{MerchantID: "m_1", Running: true, TargetVersion: 2}
	if err := s.SaveRotationState(ctx, st); err != nil {
		t.Fatalf("first save, retried: %v", err)
	}
	st.Revision = 1
	if err := s.SaveRotationState(ctx, st); err != nil {
		t.Fatalf("second save, retried: %v", err)
	}
	if got, err := base.RotationState(ctx, "m_1"); err != nil || got.Revision != 2 {
		t.Fatalf("state = %+v, %v; want revision 2", got, err)
	}
}

func TestSaveRotationStateRefusesNegativeRevision(t *testing.T) {
	s := New(failingDB{err: errors.New("must not be called")}, "t")
	err := s.SaveRotationState(context.Background(), vault.RotationState{MerchantID: "m", Revision: -1})
	if err == nil || errors.Is(err, vault.ErrConflict) {
		t.Fatalf("SaveRotationState(revision -1) = %v, want an internal error", err)
	}
}

func sameRotationState(t *testing.T, got, want vault.RotationState) {
	t.Helper()
	if !got.StartedAt.Equal(want.StartedAt) || !got.PassStartedAt.Equal(want.PassStartedAt) {
		t.Errorf("times = %v %v, want %v %v", got.StartedAt, got.PassStartedAt, want.StartedAt, want.PassStartedAt)
	}
	got.StartedAt, got.PassStartedAt, want.StartedAt, want.PassStartedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if got != want {
		t.Errorf("state = %+v, want %+v", got, want)
	}
}
