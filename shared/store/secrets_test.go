package store

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cardvault/vault/shared/vault"
)

func sampleSecret(name string, version uint32) vault.SecretRecord {
	created := time.Date(2026, 3, 4, 5, 6, 7, 890123456, time.UTC)
	return vault.SecretRecord{
		MerchantID: "m_1",
		Name:       name,
		Version:    version,
		Sealed:     []byte{0x01, byte(version), 0xfe},
		KeyVersion: 3,
		Masked:     "****abcd",
		Metadata:   map[string]string{"connector": "stripe", "env": "live"},
		CreatedAt:  created,
		UpdatedAt:  created.Add(time.Duration(version) * time.Hour),
	}
}

func TestSecretVersions(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	if _, err := s.LatestSecret(ctx, "m_1", "api_key"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("LatestSecret with none = %v, want ErrNotFound", err)
	}
	for _, v := range []uint32{1, 2, 10} {
		if err := s.CreateSecretVersion(ctx, sampleSecret("api_key", v)); err != nil {
			t.Fatalf("CreateSecretVersion v%d: %v", v, err)
		}
	}
	rival := sampleSecret("api_key", 2)
	rival.Sealed = []byte("another request's ciphertext")
	if err := s.CreateSecretVersion(ctx, rival); !errors.Is(err, vault.ErrConflict) {
		t.Fatalf("CreateSecretVersion of an existing version = %v, want ErrConflict", err)
	}
	bare := sampleSecret("short", 1)
	bare.Masked, bare.Metadata = "", nil
	if err := s.CreateSecretVersion(ctx, bare); err != nil {
		t.Fatal(err)
	}

	got, err := s.LatestSecret(ctx, "m_1", "api_key")
	if err != nil {
		t.Fatal(err)
	}
	sameSecret(t, got, sampleSecret("api_key", 10))
	if got, err = s.LatestSecret(ctx, "m_1", "short"); err != nil {
		t.Fatal(err)
	}
	sameSecret(t, got, bare)

	if err := s.PruneSecretVersions(ctx, "m_1", "api_key", 10); err != nil {
		t.Fatal(err)
	}
	items, err := s.ScanAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// v10 of api_key and short are live; v1 and v2 are tombstones, which
	// keep nothing of the value, are out of the by_merchant index, and
	// expire. No tombstone was made for v9, which was never written.
	live, tombstones := 0, 0
	for _, item := range items {
		if _, ok := item["tombstone"]; !ok {
			live++
			continue
		}
		tombstones++
		for _, attr := range []string{"sealed", "masked", "metadata", "key_version", "created_at", "updated_at", "gsi1pk", "gsi1sk"} {
			if _, ok := item[attr]; ok {
				t.Errorf("a tombstone keeps %s", attr)
			}
		}
		for _, attr := range []string{"pk", "sk", "merchant_id", "name", "version", "ttl"} {
			if _, ok := item[attr]; !ok {
				t.Errorf("a tombstone lacks %s", attr)
			}
		}
	}
	if live != 2 || tombstones != 2 {
		t.Fatalf("%d live items and %d tombstones after pruning, want v10 of api_key and short, and tombstones of v1 and v2", live, tombstones)
	}

	if err := s.DeleteSecret(ctx, "m_1", "api_key"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LatestSecret(ctx, "m_1", "api_key"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("LatestSecret after delete = %v, want ErrNotFound", err)
	}
	if err := s.DeleteSecret(ctx, "m_1", "api_key"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("second DeleteSecret = %v, want ErrNotFound", err)
	}
	if _, err := s.LatestSecret(ctx, "m_1", "short"); err != nil {
		t.Fatalf("another secret was touched: %v", err)
	}
}

func TestCreateSecretVersionRaceHasOneWinner(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	errs := make([]error, 20)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			rec := sampleSecret("race", 1)
			rec.Sealed = []byte{byte(i), 0x01}
			errs[i] = s.CreateSecretVersion(ctx, rec)
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, vault.ErrConflict):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d writers created version 1, want 1", wins)
	}
}

func sameSecret(t *testing.T, got, want vault.SecretRecord) {
	t.Helper()
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("times = %v %v, want %v %v", got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	}
	got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if len(got.Metadata) == 0 && len(want.Metadata) == 0 {
		got.Metadata, want.Metadata = nil, nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("secret = %+v, want %+v", got, want)
	}
}

// DeleteSecretVersion takes back one version, and only the very one it is
// given: the version before it becomes the latest again.
func TestDeleteSecretVersion(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	for v := uint32(1); v <= 2; v++ {
		if err := s.CreateSecretVersion(ctx, sampleSecret("api_key", v)); err != nil {
			t.Fatal(err)
		}
	}
	second := sampleSecret("api_key", 2)
	other := second
	other.Sealed = []byte("another put's ciphertext")
	if err := s.DeleteSecretVersion(ctx, other); err != nil {
		t.Fatal(err)
	}
	if latest, err := s.LatestSecret(ctx, second.MerchantID, "api_key"); err != nil || latest.Version != 2 {
		t.Fatalf("latest after deleting with another ciphertext = %d, %v; want 2 kept", latest.Version, err)
	}
	if err := s.DeleteSecretVersion(ctx, second); err != nil {
		t.Fatal(err)
	}
	if latest, err := s.LatestSecret(ctx, second.MerchantID, "api_key"); err != nil || latest.Version != 1 {
		t.Fatalf("latest after DeleteSecretVersion = %d, %v; want 1", latest.Version, err)
	}
}

// SecretHead walks past tombstones page by page to the newest live
// version.
func TestSecretHeadWalksPastTombstones(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	for v := uint32(1); v <= 40; v++ {
		if err := s.CreateSecretVersion(ctx, sampleSecret("api_key", v)); err != nil {
			t.Fatal(err)
		}
	}
	for v := uint32(40); v > 20; v-- {
		if err := s.DeleteSecretVersion(ctx, sampleSecret("api_key", v)); err != nil {
			t.Fatal(err)
		}
	}
	head, err := s.SecretHead(ctx, "m_1", "api_key")
	if err != nil || !head.Live || head.Top != 40 || head.Latest.Version != 20 {
		t.Fatalf("SecretHead = live %v, top %d, latest %d, %v; want the live 20 under 40", head.Live, head.Top, head.Latest.Version, err)
	}
	sameSecret(t, head.Latest, sampleSecret("api_key", 20))
	if err := s.DeleteSecret(ctx, "m_1", "api_key"); err != nil {
		t.Fatal(err)
	}
	if head, err = s.SecretHead(ctx, "m_1", "api_key"); err != nil || head.Live || head.Top != 40 {
		t.Fatalf("SecretHead after DeleteSecret = live %v, top %d, %v", head.Live, head.Top, err)
	}
}

// failsOneRetire fails the first UpdateItem on the secret version whose
// sort key is sk, as a throttled or timed-out call would.
type failsOneRetire struct {
	DynamoAPI
	sk     string
	failed atomic.Bool
}

func (f *failsOneRetire) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if sk, ok := in.Key["sk"].(*types.AttributeValueMemberS); ok && sk.Value == f.sk && f.failed.CompareAndSwap(false, true) {
		return nil, errors.New("throttled")
	}
	return f.DynamoAPI.UpdateItem(ctx, in, opts...)
}

// A delete cut off half way leaves no version that a read walks past: the
// newest version's tombstone, which tells reads that nothing below is
// live, is written only once every older one is retired, so trying the
// delete again finds what is left and retires it, and no value is ever
// served again once the tombstones expire.
func TestDeleteSecretCutOffHalfWayIsFinishedByItsRetry(t *testing.T) {
	base := newTestStore(t)
	ctx := context.Background()
	for v := uint32(1); v <= 3; v++ {
		if err := base.CreateSecretVersion(ctx, sampleSecret("api_key", v)); err != nil {
			t.Fatal(err)
		}
	}
	cut := &failsOneRetire{DynamoAPI: base.db, sk: versionKey(2)}
	s := New(cut, base.table)
	if err := s.DeleteSecret(ctx, "m_1", "api_key"); err == nil {
		t.Fatal("the delete whose retire of v2 failed answered success")
	}
	if _, err := s.LatestSecret(ctx, "m_1", "api_key"); err != nil {
		t.Fatalf("after the cut, the newest live version must still be readable (so the delete can be tried again): %v", err)
	}
	if err := s.DeleteSecret(ctx, "m_1", "api_key"); err != nil {
		t.Fatalf("the retried delete: %v", err)
	}
	items, err := s.ScanAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, item := range items {
		if _, live := item["sealed"]; live {
			t.Fatalf("a version still holds its value after the retried delete: %v", item["sk"])
		}
	}
}
