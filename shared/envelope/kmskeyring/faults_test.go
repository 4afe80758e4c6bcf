package kmskeyring_test

// The faults local-kms cannot produce, on the hand-written KMS fake
// (shared/awsfake): throttling, 5xx answers, a slow service,
// request ids. Everything else runs against local-kms (keyring_test.go).

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/awsfake"
	"github.com/cardvault/vault/shared/envelope/kmskeyring"
	"github.com/cardvault/vault/shared/vaulterr"
)

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

// TestCallsCarryTheRequestIDs: every call reports the request id KMS
// answered with, for CloudTrail (local-kms sends none).
func TestCallsCarryTheRequestIDs(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ec := merchantContext("m-1", "3")
	wrapped, wrapCall, err := f.keyring.Wrap(ctx, dataKey, ec)
	if err != nil {
		t.Fatal(err)
	}
	_, unwrapCall, err := f.keyring.Unwrap(ctx, wrapped, ec)
	if err != nil {
		t.Fatal(err)
	}
	reqs := f.fake.Requests()
	if len(reqs) != 2 {
		t.Fatalf("KMS received %d requests, want 2", len(reqs))
	}
	want := map[string]string(ec)
	for i, call := range []struct{ id string }{{wrapCall.RequestID}, {unwrapCall.RequestID}} {
		if call.id == "" || call.id != reqs[i].RequestID {
			t.Errorf("%s call request id %q, KMS answered %q", reqs[i].Op, call.id, reqs[i].RequestID)
		}
		if !maps.Equal(reqs[i].EncryptionContext, want) {
			t.Errorf("%s context %v", reqs[i].Op, reqs[i].EncryptionContext)
		}
	}
}

func TestThrottlingIsRetriedBySDK(t *testing.T) {
	f := newFixture(t)
	ec := merchantContext("m-1", "1")
	wrapped, _, err := f.keyring.Wrap(context.Background(), dataKey, ec)
	if err != nil {
		t.Fatal(err)
	}

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
			wrapped, _, err := f.keyring.Wrap(context.Background(), dataKey, ec)
			if err != nil {
				t.Fatal(err)
			}

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

func TestDeadlineIsUnavailable(t *testing.T) {
	f := newFixture(t)
	ec := merchantContext("m-1", "1")
	wrapped, _, err := f.keyring.Wrap(context.Background(), dataKey, ec)
	if err != nil {
		t.Fatal(err)
	}

	f.fake.SetLatency(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, _, err = f.keyring.Unwrap(ctx, wrapped, ec)
	assertCode(t, err, vaulterr.Unavailable)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v does not keep the deadline as its cause", err)
	}
}
