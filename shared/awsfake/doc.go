// Package awsfake serves loopback stand-ins for the AWS services the vault
// calls and has no local emulator for here: Secrets Manager and
// EventBridge, and a KMS for the faults local-kms cannot produce
// (throttling, 5xx answers, latency, request ids; see KMS).
//
// Each fake is an httptest server speaking the AWS JSON 1.1 protocol
// (POST /, X-Amz-Target: <Service>.<Operation>, base64 blobs in JSON,
// errors as {"__type": ..., "message": ...}) closely enough for the real
// aws-sdk-go-v2 clients to be pointed at it. Tests therefore exercise the
// adapters through the same serializers, retryer and error deserializers as
// production, and assert what the SDK actually sent (for example the KMS
// encryption context), which a mocked interface cannot show.
//
// Every fake records the calls it receives, answers each with a unique
// x-amzn-RequestId, and can be told to fail the next calls or to answer
// slowly, for retry and fault tests.
//
// It is not only test support: `make invoke` (shared/lambdarun) runs the
// built functions against these servers in place of Secrets Manager and
// EventBridge, which is why it lives outside shared/internal.
package awsfake
