package store

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/envelope"
)

func sampleKey(merchant string, version uint32) envelope.StoredKey {
	return envelope.StoredKey{
		MerchantID: merchant,
		Version:    version,
		Wrapped:    envelope.WrappedKey{MasterKeyID: "arn:aws:kms:us-east-1:111122223333:key/abc", Ciphertext: []byte{byte(version), 0xaa, 0x00}},
		State:      envelope.KeyPrimary,
		CreatedAt:  time.Date(2026, 1, 2, 3, 4, 5, 600700800, time.UTC),
	}
}

func TestCreateKeyAndRead(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()

	if _, err := s.LatestKey(ctx, "m_1"); !errors.Is(err, envelope.ErrNoKey) {
		t.Fatalf("LatestKey with no key = %v, want ErrNoKey", err)
	}
	// 10 after 9 and 2: the order must be numeric, not lexical.
	for _, v := range []uint32{2, 10, 9} {
		if err := s.CreateKey(ctx, sampleKey("m_1", v)); err != nil {
			t.Fatalf("CreateKey v%d: %v", v, err)
		}
	}
	rival := sampleKey("m_1", 10)
	rival.Wrapped.Ciphertext = []byte("another writer's wrap")
	if err := s.CreateKey(ctx, rival); !errors.Is(err, envelope.ErrKeyExists) {
		t.Fatalf("CreateKey of an existing version = %v, want ErrKeyExists", err)
	}
	// Another merchant's keys, including a prefix-sharing id, stay apart.
	if err := s.CreateKey(ctx, sampleKey("m_10", 11)); err != nil {
		t.Fatal(err)
	}

	latest, err := s.LatestKey(ctx, "m_1")
	if err != nil {
		t.Fatal(err)
	}
	sameKey(t, latest, sampleKey("m_1", 10))

	v2, err := s.KeyVersion(ctx, "m_1", 2)
	if err != nil {
		t.Fatal(err)
	}
	sameKey(t, v2, sampleKey("m_1", 2))
	if _, err := s.KeyVersion(ctx, "m_1", 3); !errors.Is(err, envelope.ErrNoKey) {
		t.Fatalf("KeyVersion(missing) = %v, want ErrNoKey", err)
	}
}

func TestCreateKeyRaceHasOneWinner(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	const writers = 20
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			k := sampleKey("m_race", 1)
			k.Wrapped.Ciphertext = []byte{byte(i)}
			errs[i] = s.CreateKey(ctx, k)
		})
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, envelope.ErrKeyExists):
			t.Errorf("writer %d: %v, want ErrKeyExists", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d writers created version 1, want exactly 1", wins)
	}
}

func sameKey(t *testing.T, got, want envelope.StoredKey) {
	t.Helper()
	if got.MerchantID != want.MerchantID || got.Version != want.Version || got.State != want.State ||
		got.Wrapped.MasterKeyID != want.Wrapped.MasterKeyID || !bytes.Equal(got.Wrapped.Ciphertext, want.Wrapped.Ciphertext) ||
		!got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("key = %+v, want %+v", got, want)
	}
}
