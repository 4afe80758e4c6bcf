package awsfake_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/cardvault/vault/shared/awsfake"
)

func errorCode(t *testing.T, err error) string {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v is not an API error", err)
	}
	return apiErr.ErrorCode()
}

func newKMS(t *testing.T) (*awsfake.KMS, *kms.Client, string) {
	fake := awsfake.NewKMS(t)
	return fake, awsfake.NewKMSClient(t, fake.URL), fake.CreateKey()
}

func TestKMSEncryptDecryptRoundTripBindsContext(t *testing.T) {
	fake, client, key := newKMS(t)
	ctx := context.Background()
	ec := map[string]string{"merchant_id": "m-1", "purpose": "test"}

	enc, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: &key, Plaintext: []byte("data key"), EncryptionContext: ec})
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	if aws.ToString(enc.KeyId) != key {
		t.Fatalf("Encrypt KeyId = %q, want %q", aws.ToString(enc.KeyId), key)
	}
	// No KeyId: the blob names its key, as in KMS.
	dec, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	if err != nil {
		t.Fatalf("Decrypt: %v", err)
	}
	if string(dec.Plaintext) != "data key" || aws.ToString(dec.KeyId) != key {
		t.Fatalf("Decrypt = %q under %q", dec.Plaintext, aws.ToString(dec.KeyId))
	}

	other := maps.Clone(ec)
	other["merchant_id"] = "m-2"
	_, err = client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: other})
	var invalid *types.InvalidCiphertextException
	if !errors.As(err, &invalid) {
		t.Fatalf("Decrypt under another context: %v, want InvalidCiphertextException", err)
	}

	reqs := fake.Requests()
	if len(reqs) != 3 || reqs[0].Op != "Encrypt" || reqs[0].KeyID != key || !maps.Equal(reqs[0].EncryptionContext, ec) {
		t.Fatalf("recorded %+v", reqs)
	}
	if fake.Calls("Decrypt") != 2 || fake.Calls("") != 3 {
		t.Fatalf("calls: Decrypt %d, all %d", fake.Calls("Decrypt"), fake.Calls(""))
	}
}

func TestKMSDecryptErrors(t *testing.T) {
	fake, client, key := newKMS(t)
	ctx := context.Background()
	blob := fake.Encrypt(key, []byte("k"), nil)
	otherKey := fake.CreateKey()
	tampered := bytes.Clone(blob)
	tampered[len(tampered)-1] ^= 1

	cases := []struct {
		name  string
		input kms.DecryptInput
		want  string
	}{
		{"pinned to another key", kms.DecryptInput{CiphertextBlob: blob, KeyId: &otherKey}, "IncorrectKeyException"},
		{"unknown key", kms.DecryptInput{CiphertextBlob: blob, KeyId: aws.String("arn:aws:kms:eu-west-1:111122223333:key/nope")}, "NotFoundException"},
		{"tampered", kms.DecryptInput{CiphertextBlob: tampered}, "InvalidCiphertextException"},
		{"garbage", kms.DecryptInput{CiphertextBlob: []byte("garbage")}, "InvalidCiphertextException"},
		{"other algorithm", kms.DecryptInput{CiphertextBlob: blob, EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha256}, "InvalidKeyUsageException"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := client.Decrypt(ctx, &c.input)
			if got := errorCode(t, err); got != c.want {
				t.Fatalf("error code %q, want %q", got, c.want)
			}
		})
	}

	fake.Disable(key)
	_, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob})
	if got := errorCode(t, err); got != "DisabledException" {
		t.Fatalf("disabled key: %q", got)
	}
	fake.Enable(key)
	if _, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, KeyId: &key}); err != nil {
		t.Fatalf("re-enabled key: %v", err)
	}
}

func TestKMSReEncryptMovesBlobToDestinationKey(t *testing.T) {
	fake, client, source := newKMS(t)
	dest := fake.CreateKey()
	ctx := context.Background()
	ec := map[string]string{"purpose": "test"}
	blob := fake.Encrypt(source, []byte("k"), ec)

	out, err := client.ReEncrypt(ctx, &kms.ReEncryptInput{
		CiphertextBlob: blob, SourceKeyId: &source, SourceEncryptionContext: ec,
		DestinationKeyId: &dest, DestinationEncryptionContext: ec,
	})
	if err != nil {
		t.Fatalf("ReEncrypt: %v", err)
	}
	if aws.ToString(out.KeyId) != dest || aws.ToString(out.SourceKeyId) != source {
		t.Fatalf("ReEncrypt keys: %q from %q", aws.ToString(out.KeyId), aws.ToString(out.SourceKeyId))
	}
	if _, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, KeyId: &source, EncryptionContext: ec}); errorCode(t, err) != "IncorrectKeyException" {
		t.Fatalf("moved blob under the source key: %v", err)
	}
	dec, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, KeyId: &dest, EncryptionContext: ec})
	if err != nil || string(dec.Plaintext) != "k" {
		t.Fatalf("moved blob under the destination key: %q, %v", dec.Plaintext, err)
	}
	r := fake.Requests()[0]
	if r.Op != "ReEncrypt" || r.SourceKeyID != source || r.DestinationKeyID != dest ||
		!maps.Equal(r.SourceEncryptionContext, ec) || !maps.Equal(r.DestinationEncryptionContext, ec) {
		t.Fatalf("recorded %+v", r)
	}
}

func TestKMSGenerateDataKey(t *testing.T) {
	_, client, key := newKMS(t)
	ctx := context.Background()
	out, err := client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: &key, KeySpec: types.DataKeySpecAes256})
	if err != nil || len(out.Plaintext) != 32 {
		t.Fatalf("GenerateDataKey: %d bytes, %v", len(out.Plaintext), err)
	}
	dec, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, KeyId: &key})
	if err != nil || !bytes.Equal(dec.Plaintext, out.Plaintext) {
		t.Fatalf("Decrypt of the generated key: %v", err)
	}
}

func TestKMSInjectedFailuresAreRetriedByTheSDK(t *testing.T) {
	fake, client, key := newKMS(t)
	ctx := context.Background()

	fake.FailNext(2, "ThrottlingException", http.StatusBadRequest)
	if _, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: &key, Plaintext: []byte("k")}); err != nil {
		t.Fatalf("Encrypt after two throttles: %v", err)
	}
	if got := fake.Calls("Encrypt"); got != 3 {
		t.Fatalf("Encrypt attempts = %d, want 3", got)
	}

	fake.FailNext(awsfake.ClientMaxAttempts, "KMSInternalException", http.StatusInternalServerError)
	_, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: &key, Plaintext: []byte("k")})
	if got := errorCode(t, err); got != "KMSInternalException" {
		t.Fatalf("persistent 500: %q", got)
	}
	if got := fake.Calls("Encrypt"); got != 3+awsfake.ClientMaxAttempts {
		t.Fatalf("Encrypt attempts = %d", got)
	}
}

func TestKMSRequestIDsAreUniqueAndReachTheSDK(t *testing.T) {
	fake, client, key := newKMS(t)
	seen := map[string]bool{}
	for range 3 {
		out, err := client.Encrypt(context.Background(), &kms.EncryptInput{KeyId: &key, Plaintext: []byte("k")})
		if err != nil {
			t.Fatal(err)
		}
		id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
		if id == "" || seen[id] {
			t.Fatalf("request id %q empty or repeated", id)
		}
		seen[id] = true
	}
	for _, r := range fake.Requests() {
		if !seen[r.RequestID] {
			t.Fatalf("recorded request id %q not answered", r.RequestID)
		}
	}
}

func TestKMSRefusesUnsignedRequests(t *testing.T) {
	fake := awsfake.NewKMS(t)
	req, _ := http.NewRequest(http.MethodPost, fake.URL+"/", bytes.NewReader([]byte("{}")))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService.Encrypt")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("x-amzn-RequestId") == "" {
		t.Fatalf("unsigned request: %d", resp.StatusCode)
	}
	if fake.Calls("") != 0 {
		t.Fatal("unsigned request was counted as a call")
	}
}
