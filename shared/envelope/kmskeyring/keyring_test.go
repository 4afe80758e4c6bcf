package kmskeyring_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/envelope/kmskeyring"
	"github.com/cardvault/vault/shared/lambdarun"
	"github.com/cardvault/vault/shared/vaulterr"
)

// The keyring against local-kms: real AES-GCM keys that bind the
// encryption context to the ciphertext and refuse a Decrypt with another
// context, another key or a tampered blob, with KMS's key states. The
// faults local-kms cannot produce are in faults_test.go, on the fake.

// dataKey is printable so that a test can tell it never reaches an error.
var dataKey = []byte("0123456789abcdef0123456789abcdef")

func merchantContext(merchant, version string) envelope.EncryptionContext {
	return envelope.EncryptionContext{
		envelope.ContextMerchant:   merchant,
		envelope.ContextPurpose:    envelope.PurposeMerchantKeys,
		envelope.ContextKeyVersion: version,
	}
}

var localKMS struct {
	once   sync.Once
	server *lambdarun.LocalKMSServer
	dir    string
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	localKMS.once.Do(func() {})
	if localKMS.server != nil {
		localKMS.server.Stop()
		_ = os.RemoveAll(localKMS.dir)
	}
	os.Exit(code)
}

// localKMSEndpoint is the test binary's local-kms, started on first use.
// A test that needs it fails, never skips, when it cannot start.
func localKMSEndpoint(t *testing.T) string {
	t.Helper()
	localKMS.once.Do(func() {
		ctx := context.Background()
		root, err := lambdarun.ModuleRoot()
		if err != nil {
			localKMS.err = err
			return
		}
		bin, err := lambdarun.LocalKMS.Path(ctx, root)
		if err != nil {
			localKMS.err = err
			return
		}
		if localKMS.dir, err = os.MkdirTemp("", "local-kms-"); err != nil {
			localKMS.err = err
			return
		}
		localKMS.server, localKMS.err = lambdarun.StartLocalKMS(ctx, bin, localKMS.dir, "eu-west-1", "111122223333")
	})
	if localKMS.err != nil {
		t.Fatalf("this test needs local-kms, which could not start: %v", localKMS.err)
	}
	return localKMS.server.Endpoint
}

// sentRequest is one call as the SDK sent it.
type sentRequest struct {
	Op   string
	Body map[string]any
}

// recorder keeps what the SDK client sends, so a test can see the
// encryption context and key the keyring asked for.
type recorder struct {
	mu   sync.Mutex
	sent []sentRequest
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	op := strings.TrimPrefix(req.Header.Get("X-Amz-Target"), "TrentService.")
	r.mu.Lock()
	r.sent = append(r.sent, sentRequest{Op: op, Body: m})
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func (r *recorder) requests() []sentRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sentRequest(nil), r.sent...)
}

type kmsFixture struct {
	client  *kms.Client
	sent    *recorder
	keyARN  string
	keyring *kmskeyring.Keyring
}

func newKMSFixture(t *testing.T) kmsFixture {
	t.Helper()
	sent := &recorder{}
	client := kms.New(kms.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(localKMSEndpoint(t)),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDLOCALKMS", "local-kms", ""),
		HTTPClient:  &http.Client{Transport: sent},
	})
	f := kmsFixture{client: client, sent: sent}
	f.keyARN = f.createKey(t)
	f.keyring = kmskeyring.New(client, f.keyARN)
	return f
}

func (f kmsFixture) createKey(t *testing.T) string {
	t.Helper()
	out, err := f.client.CreateKey(context.Background(), &kms.CreateKeyInput{Description: aws.String(t.Name())})
	if err != nil {
		t.Fatalf("local-kms CreateKey: %v", err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

func (f kmsFixture) wrap(t *testing.T, ec envelope.EncryptionContext) envelope.WrappedKey {
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

func contextOf(body map[string]any, member string) map[string]string {
	out := map[string]string{}
	m, _ := body[member].(map[string]any)
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}

func TestWrapUnwrapRoundTripSendsContextAndPinsKey(t *testing.T) {
	f := newKMSFixture(t)
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
	got, _, err := f.keyring.Unwrap(ctx, wrapped, ec)
	if err != nil {
		t.Fatalf("Unwrap: %v", err)
	}
	if !bytes.Equal(got, dataKey) {
		t.Fatal("Unwrap returned another key")
	}

	reqs := f.sent.requests()
	if len(reqs) != 3 || reqs[1].Op != "Encrypt" || reqs[2].Op != "Decrypt" {
		t.Fatalf("KMS received %+v, want CreateKey, Encrypt, Decrypt", reqs)
	}
	want := map[string]string{"merchant_id": "m-1", "purpose": "merchant-keys", "key_version": "3"}
	for _, r := range reqs[1:] {
		if got := contextOf(r.Body, "EncryptionContext"); !maps.Equal(got, want) {
			t.Errorf("%s encryption context = %v, want %v", r.Op, got, want)
		}
		if r.Body["KeyId"] != f.keyARN {
			t.Errorf("%s KeyId = %v, want the pinned %q", r.Op, r.Body["KeyId"], f.keyARN)
		}
		if r.Body["EncryptionAlgorithm"] != "SYMMETRIC_DEFAULT" {
			t.Errorf("%s EncryptionAlgorithm = %v", r.Op, r.Body["EncryptionAlgorithm"])
		}
	}
}

func TestUnwrapRefusesWhatDoesNotAuthenticate(t *testing.T) {
	f := newKMSFixture(t)
	ec := merchantContext("m-1", "1")
	wrapped := f.wrap(t, ec)

	tampered := wrapped
	tampered.Ciphertext = bytes.Clone(wrapped.Ciphertext)
	tampered.Ciphertext[len(tampered.Ciphertext)-1] ^= 0x01

	otherKey := wrapped
	otherKey.MasterKeyID = f.createKey(t)

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

func TestKeyProblemsAreUnavailableNotIntegrity(t *testing.T) {
	f := newKMSFixture(t)
	ctx := context.Background()
	ec := merchantContext("m-1", "1")
	wrapped := f.wrap(t, ec)

	if _, err := f.client.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(f.keyARN)}); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.keyring.Unwrap(ctx, wrapped, ec)
	assertCode(t, err, vaulterr.Unavailable)
	_, _, err = f.keyring.Wrap(ctx, dataKey, ec)
	assertCode(t, err, vaulterr.Unavailable)
	if _, err := f.client.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(f.keyARN)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.keyring.Unwrap(ctx, wrapped, ec); err != nil {
		t.Fatalf("Unwrap once the key is enabled again: %v", err)
	}

	missing := kmskeyring.New(f.client, "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-4000-8000-000000000000")
	_, _, err = missing.Wrap(ctx, dataKey, ec)
	assertCode(t, err, vaulterr.Unavailable)

	unconfigured := kmskeyring.New(f.client, "")
	_, _, err = unconfigured.Wrap(ctx, dataKey, ec)
	assertCode(t, err, vaulterr.Unavailable)
	_, _, err = unconfigured.ReWrap(ctx, wrapped, ec)
	assertCode(t, err, vaulterr.Unavailable)
}

func TestUnreachableServiceIsUnavailable(t *testing.T) {
	// Port 1 on loopback has no listener: every attempt is refused.
	client := kms.New(kms.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String("http://127.0.0.1:1"),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDLOCALKMS", "local-kms", ""),
	})
	arn := "arn:aws:kms:eu-west-1:111122223333:key/unreachable"
	_, _, err := kmskeyring.New(client, arn).Wrap(context.Background(), dataKey, merchantContext("m-1", "1"))
	assertCode(t, err, vaulterr.Unavailable)
}

func TestReWrapMovesKeyToCurrentMasterKey(t *testing.T) {
	f := newKMSFixture(t)
	ctx := context.Background()
	ec := merchantContext("m-1", "4")
	old := f.wrap(t, ec)

	newARN := f.createKey(t)
	rotated := kmskeyring.New(f.client, newARN)
	moved, call, err := rotated.ReWrap(ctx, old, ec)
	if err != nil {
		t.Fatalf("ReWrap: %v", err)
	}
	if moved.MasterKeyID != newARN || call.MasterKeyID != newARN {
		t.Fatalf("ReWrap gave %q, call %+v", moved.MasterKeyID, call)
	}

	reqs := f.sent.requests()
	r := reqs[len(reqs)-1]
	want := map[string]string(ec)
	if r.Op != "ReEncrypt" || r.Body["SourceKeyId"] != f.keyARN || r.Body["DestinationKeyId"] != newARN ||
		!maps.Equal(contextOf(r.Body, "SourceEncryptionContext"), want) || !maps.Equal(contextOf(r.Body, "DestinationEncryptionContext"), want) {
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
