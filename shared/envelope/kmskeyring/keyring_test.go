package kmskeyring_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/envelope/kmskeyring"
	"github.com/cardvault/vault/shared/internal/awsfake"
	"github.com/cardvault/vault/shared/vaulterr"
)

// dataKey is printable so that a test can tell it never reaches an error.
var dataKey = []byte("0123456789abcdef0123456789abcdef")

func merchantContext(merchant, version string) envelope.EncryptionContext {
	return envelope.EncryptionContext{
		envelope.ContextMerchant:   merchant,
		envelope.ContextPurpose:    envelope.PurposeMerchantKeys,
		envelope.ContextKeyVersion: version,
	}
}

type fixture struct {
	fake    *awsfake.KMS
	keyARN  string
	keyring *kmskeyring.Keyring
}

func newFixture(t *testing.T) fixture {
	fake := awsfake.NewKMS(t)
	arn := fake.CreateKey()
	return fixture{fake: fake, keyARN: arn, keyring: kmskeyring.New(awsfake.NewKMSClient(t, fake.URL), arn)}
}

func (f fixture) wrap(t *testing.T, ec envelope.EncryptionContext) envelope.WrappedKey {
	t.Helper()
	wrapped, _, err := f.keyring.Wrap(context.Background(), dataKey, ec)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	return wrapped
}

func assertCode(t *testing.T, err error, want vaulterr.Code) {
	t.Helper()
	if got := vaulterr.CodeOf(err); got != want {
		t.Fatalf("error %v has code %q, want %q", err, got, want)
	}
	if strings.Contains(err.Error(), string(dataKey)) {
		t.Fatal("error carries the data key")
	}
}

func TestWrapUnwrapRoundTripSendsContextAndPinsKey(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ec := merchantContext("m-1", "3")

	wrapped, wrapCall, err := f.keyring.Wrap(ctx, dataKey, ec)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	if wrapped.MasterKeyID != f.keyARN || wrapCall.MasterKeyID != f.keyARN || f.keyring.MasterKeyID() != f.keyARN {
		t.Fatalf("master key ids: wrapped %q, call %q", wrapped.MasterKeyID, wrapCall.MasterKeyID)
	}
	if bytes.Contains(wrapped.Ciphertext, dataKey) {
		t.Fatal("wrapped key holds the data key in the clear")
	}

	got, unwrapCall, err := f.keyring.Unwrap(ctx, wrapped, ec)
	if err != nil {
		t.Fatalf("Unwrap: %v", err)
	}
	if !bytes.Equal(got, dataKey) {
		t.Fatal("Unwrap returned another key")
	}

	reqs := f.fake.Requests()
	if len(reqs) != 2 {
		t.Fatalf("KMS received %d requests, want 2", len(reqs))
	}
	want := map[string]string{"merchant_id": "m-1", "purpose": "merchant-keys", "key_version": "3"}
	for i, r := range reqs {
		if !maps.Equal(r.EncryptionContext, want) {
			t.Errorf("%s encryption context = %v, want %v", r.Op, r.EncryptionContext, want)
		}
		if r.KeyID != f.keyARN {
			t.Errorf("%s KeyId = %q, want the pinned %q", r.Op, r.KeyID, f.keyARN)
		}
		if r.EncryptionAlgorithm != "SYMMETRIC_DEFAULT" {
			t.Errorf("%s EncryptionAlgorithm = %q", r.Op, r.EncryptionAlgorithm)
		}
		call := []envelope.Call{wrapCall, unwrapCall}[i]
		if call.RequestID == "" || call.RequestID != r.RequestID {
			t.Errorf("%s call request id %q, KMS answered %q", r.Op, call.RequestID, r.RequestID)
		}
	}
	if reqs[0].Op != "Encrypt" || reqs[1].Op != "Decrypt" {
		t.Fatalf("operations %q, %q", reqs[0].Op, reqs[1].Op)
	}
}

func TestUnwrapRefusesWhatDoesNotAuthenticate(t *testing.T) {
	f := newFixture(t)
	ec := merchantContext("m-1", "1")
	wrapped := f.wrap(t, ec)

	tampered := wrapped
	tampered.Ciphertext = bytes.Clone(wrapped.Ciphertext)
	tampered.Ciphertext[len(tampered.Ciphertext)-1] ^= 0x01

	otherKey := wrapped
	otherKey.MasterKeyID = f.fake.CreateKey()

	cases := []struct {
		name    string
		wrapped envelope.WrappedKey
		ec      envelope.EncryptionContext
	}{
		{"other merchant", wrapped, merchantContext("m-2", "1")},
		{"other key version", wrapped, merchantContext("m-1", "2")},
		{"no context", wrapped, nil},
		{"tampered blob", tampered, ec},
		{"pinned to another key", otherKey, ec},
		{"no master key id", envelope.WrappedKey{Ciphertext: wrapped.Ciphertext}, ec},
		{"no ciphertext", envelope.WrappedKey{MasterKeyID: f.keyARN}, ec},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key, _, err := f.keyring.Unwrap(context.Background(), c.wrapped, c.ec)
			assertCode(t, err, vaulterr.Integrity)
			if key != nil {
				t.Fatal("a key came back with the error")
			}
		})
	}
}

func TestThrottlingIsRetriedBySDK(t *testing.T) {
	f := newFixture(t)
	ec := merchantContext("m-1", "1")
	wrapped := f.wrap(t, ec)

	f.fake.FailNext(2, "ThrottlingException", http.StatusBadRequest)
	if _, _, err := f.keyring.Unwrap(context.Background(), wrapped, ec); err != nil {
		t.Fatalf("Unwrap after two throttles: %v", err)
	}
	if got := f.fake.Calls("Decrypt"); got != 3 {
		t.Fatalf("Decrypt attempts = %d, want 3", got)
	}
}

func TestServiceFailuresAreUnavailable(t *testing.T) {
	cases := []struct {
		name    string
		errType string
		status  int
	}{
		{"persistent 500", "KMSInternalException", http.StatusInternalServerError},
		{"persistent throttling", "ThrottlingException", http.StatusBadRequest},
		{"dependency timeout", "DependencyTimeoutException", http.StatusServiceUnavailable},
		{"access denied", "AccessDeniedException", http.StatusBadRequest},
		{"invalid key state", "KMSInvalidStateException", http.StatusBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			ec := merchantContext("m-1", "1")
			wrapped := f.wrap(t, ec)

			f.fake.FailNext(100, c.errType, c.status)
			_, call, err := f.keyring.Unwrap(context.Background(), wrapped, ec)
			assertCode(t, err, vaulterr.Unavailable)
			if !strings.Contains(err.Error(), c.errType) {
				t.Errorf("error %q does not name the KMS error code", err)
			}
			if call.RequestID == "" {
				t.Error("the failed call has no request id")
			}
			if attempts := f.fake.Calls("Decrypt"); attempts < 1 || attempts > awsfake.ClientMaxAttempts {
				t.Errorf("Decrypt attempts = %d", attempts)
			}
		})
	}
}

func TestPersistent500IsRetriedThenUnavailable(t *testing.T) {
	f := newFixture(t)
	f.fake.FailNext(100, "KMSInternalException", http.StatusInternalServerError)
	_, _, err := f.keyring.Wrap(context.Background(), dataKey, merchantContext("m-1", "1"))
	assertCode(t, err, vaulterr.Unavailable)
	if got := f.fake.Calls("Encrypt"); got != awsfake.ClientMaxAttempts {
		t.Fatalf("Encrypt attempts = %d, want %d", got, awsfake.ClientMaxAttempts)
	}
}

func TestKeyProblemsAreUnavailableNotIntegrity(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ec := merchantContext("m-1", "1")
	wrapped := f.wrap(t, ec)

	f.fake.Disable(f.keyARN)
	_, _, err := f.keyring.Unwrap(ctx, wrapped, ec)
	assertCode(t, err, vaulterr.Unavailable)
	_, _, err = f.keyring.Wrap(ctx, dataKey, ec)
	assertCode(t, err, vaulterr.Unavailable)
	f.fake.Enable(f.keyARN)

	missing := kmskeyring.New(awsfake.NewKMSClient(t, f.fake.URL), "arn:aws:kms:eu-west-1:111122223333:key/deleted")
	_, _, err = missing.Wrap(ctx, dataKey, ec)
	assertCode(t, err, vaulterr.Unavailable)

	unconfigured := kmskeyring.New(awsfake.NewKMSClient(t, f.fake.URL), "")
	_, _, err = unconfigured.Wrap(ctx, dataKey, ec)
	assertCode(t, err, vaulterr.Unavailable)
	_, _, err = unconfigured.ReWrap(ctx, wrapped, ec)
	assertCode(t, err, vaulterr.Unavailable)
}

func TestDeadlineIsUnavailable(t *testing.T) {
	f := newFixture(t)
	ec := merchantContext("m-1", "1")
	wrapped := f.wrap(t, ec)

	f.fake.SetLatency(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, _, err := f.keyring.Unwrap(ctx, wrapped, ec)
	assertCode(t, err, vaulterr.Unavailable)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v does not keep the deadline as its cause", err)
	}
}

func TestUnreachableServiceIsUnavailable(t *testing.T) {
	// Port 1 on loopback has no listener: every attempt is refused.
	client := awsfake.NewKMSClient(t, "http://127.0.0.1:1")
	arn := "arn:aws:kms:eu-west-1:111122223333:key/unreachable"
	_, _, err := kmskeyring.New(client, arn).Wrap(context.Background(), dataKey, merchantContext("m-1", "1"))
	assertCode(t, err, vaulterr.Unavailable)
}

func TestReWrapMovesKeyToCurrentMasterKey(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ec := merchantContext("m-1", "4")
	old := f.wrap(t, ec)

	newARN := f.fake.CreateKey()
	rotated := kmskeyring.New(awsfake.NewKMSClient(t, f.fake.URL), newARN)
	moved, call, err := rotated.ReWrap(ctx, old, ec)
	if err != nil {
		t.Fatalf("ReWrap: %v", err)
	}
	if moved.MasterKeyID != newARN || call.MasterKeyID != newARN || call.RequestID == "" {
		t.Fatalf("ReWrap gave %q, call %+v", moved.MasterKeyID, call)
	}

	r := f.fake.Requests()[len(f.fake.Requests())-1]
	want := map[string]string(ec)
	if r.Op != "ReEncrypt" || r.SourceKeyID != f.keyARN || r.DestinationKeyID != newARN ||
		!maps.Equal(r.SourceEncryptionContext, want) || !maps.Equal(r.DestinationEncryptionContext, want) ||
		r.RequestID != call.RequestID {
		t.Fatalf("ReEncrypt request %+v", r)
	}

	got, _, err := rotated.Unwrap(ctx, moved, ec)
	if err != nil || !bytes.Equal(got, dataKey) {
		t.Fatalf("Unwrap under the new key: %v", err)
	}
	pinnedToOld := envelope.WrappedKey{MasterKeyID: f.keyARN, Ciphertext: moved.Ciphertext}
	_, _, err = rotated.Unwrap(ctx, pinnedToOld, ec)
	assertCode(t, err, vaulterr.Integrity)

	_, _, err = rotated.ReWrap(ctx, old, merchantContext("m-2", "4"))
	assertCode(t, err, vaulterr.Integrity)
}
