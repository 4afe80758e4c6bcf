package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

func TestConsumeRefusesAReplayInsideTheWindow(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	until := time.Now().Add(10 * time.Minute)

	if err := s.Consume(ctx, "app-server", "jti-1", until); err != nil {
		t.Fatalf("first Consume: %v", err)
	}
	if err := s.Consume(ctx, "app-server", "jti-1", until); !errors.Is(err, vault.ErrReplayed) {
		t.Fatalf("second Consume = %v, want ErrReplayed", err)
	}
	if err := s.Consume(ctx, "other-client", "jti-1", until); err != nil {
		t.Fatalf("same jti from another issuer: %v", err)
	}
}

func TestConsumeAcceptsAgainAfterExpiry(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	if err := s.Consume(ctx, "app-server", "jti-1", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.Consume(ctx, "app-server", "jti-1", time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("Consume after expiry: %v", err)
	}
	if err := s.Consume(ctx, "app-server", "jti-1", time.Now().Add(time.Minute)); !errors.Is(err, vault.ErrReplayed) {
		t.Fatalf("Consume inside the renewed window = %v, want ErrReplayed", err)
	}
}

func TestConsumeRefusesAZeroExpiry(t *testing.T) {
	s := newTestStore(t)
	err := s.Consume(context.Background(), "app-server", "jti-1", time.Time{})
	if vaulterr.CodeOf(err) != vaulterr.Internal {
		t.Fatalf("Consume without expiry = %v, want an internal error", err)
	}
}
