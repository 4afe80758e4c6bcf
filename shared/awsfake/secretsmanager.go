package awsfake

import (
	"sync"
	"time"
)

// SecretsManager is a loopback AWS Secrets Manager serving GetSecretValue
// for secrets put by the test.
type SecretsManager struct {
	// URL is the base endpoint to give the SDK client.
	URL string

	endpoint *endpoint

	mu      sync.Mutex
	secrets map[string]*fakeSecret // by name and by ARN
}

type fakeSecret struct {
	name, arn, versionID string
	str                  *string
	binary               []byte
	created              time.Time
}

// NewSecretsManager starts a fake Secrets Manager with no secrets; it
// stops when its owner is done (the test ends).
func NewSecretsManager(t Cleaner) *SecretsManager {
	s := &SecretsManager{secrets: map[string]*fakeSecret{}}
	s.endpoint = newEndpoint(t, "secretsmanager", map[string]handler{
		"GetSecretValue": s.getSecretValue,
	}, nil)
	s.URL = s.endpoint.server.URL
	return s
}

// Put stores a string secret named name (replacing any earlier one) and
// returns its ARN.
func (s *SecretsManager) Put(name, value string) (arn string) {
	return s.put(name, &fakeSecret{str: &value})
}

// PutValue gives the secret named name a new current value, as
// PutSecretValue does: its ARN stays. A secret not stored yet is made.
func (s *SecretsManager) PutValue(name, value string) (arn string) {
	s.mu.Lock()
	old := s.secrets[name]
	if old != nil {
		old.str, old.binary, old.versionID, old.created = &value, nil, newUUID(), time.Now()
		s.mu.Unlock()
		return old.arn
	}
	s.mu.Unlock()
	return s.Put(name, value)
}

// PutBinary stores a binary secret (SecretBinary) and returns its ARN.
func (s *SecretsManager) PutBinary(name string, value []byte) (arn string) {
	return s.put(name, &fakeSecret{binary: append([]byte(nil), value...)})
}

func (s *SecretsManager) put(name string, secret *fakeSecret) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.secrets[name]; old != nil {
		delete(s.secrets, old.arn)
	}
	secret.name = name
	secret.arn = "arn:aws:secretsmanager:" + Region + ":" + Account + ":secret:" + name + "-" + randomSuffix()
	secret.versionID = newUUID()
	secret.created = time.Now()
	s.secrets[name] = secret
	s.secrets[secret.arn] = secret
	return secret.arn
}

// Calls is the number of calls received, failed attempts included.
func (s *SecretsManager) Calls() int { return s.endpoint.Calls("") }

// FailNext makes the next n calls answer errType with status.
func (s *SecretsManager) FailNext(n int, errType string, status int) {
	s.endpoint.FailNext(n, errType, status)
}

// SetLatency delays every answer by d.
func (s *SecretsManager) SetLatency(d time.Duration) { s.endpoint.SetLatency(d) }

func (s *SecretsManager) getSecretValue(req request) (any, *apiError) {
	var in struct{ SecretId, VersionId, VersionStage string }
	if apiErr := decode(req, &in); apiErr != nil {
		return nil, apiErr
	}
	if in.SecretId == "" {
		return nil, clientError("ValidationException", "SecretId is required")
	}
	s.mu.Lock()
	secret := s.secrets[in.SecretId]
	s.mu.Unlock()
	if secret == nil || (in.VersionId != "" && in.VersionId != secret.versionID) ||
		(in.VersionStage != "" && in.VersionStage != "AWSCURRENT") {
		return nil, clientError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
	}
	out := map[string]any{
		"ARN":           secret.arn,
		"Name":          secret.name,
		"VersionId":     secret.versionID,
		"VersionStages": []string{"AWSCURRENT"},
		"CreatedDate":   float64(secret.created.UnixMilli()) / 1000,
	}
	if secret.str != nil {
		out["SecretString"] = *secret.str
	} else {
		out["SecretBinary"] = secret.binary
	}
	return out, nil
}
