// Package config reads what a vault function needs at cold start: plain
// settings from the environment, and secrets from Secrets Manager, from
// KMS-encrypted environment values or, in local mode, from files.
//
// A secret NAME is looked up through these variables, first set wins:
//
//	NAME_SECRET_ARN  Secrets Manager secret (ARN or name): SecretString,
//	                 else SecretBinary
//	NAME_KMS         base64 KMS ciphertext of the value, decrypted once with
//	                 the encryption context {"purpose": "vault-config",
//	                 "name": "NAME"} (see KMSEncryptionContext)
//	NAME_FILE        path of a file holding the value, byte for byte
//	NAME             the value itself, accepted only where the caller allows
//	                 plaintext configuration
//
// A KMS ciphertext for NAME is made with, for example:
//
//	aws kms encrypt --key-id <key ARN> --plaintext fileb://value \
//	    --encryption-context purpose=vault-config,name=NAME \
//	    --query CiphertextBlob --output text
//
// The context binds the ciphertext to its variable, so a ciphertext copied
// into another variable does not decrypt, and lets a key policy allow
// kms:Decrypt for configuration only (kms:EncryptionContext:purpose).
package config

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cardvault/vault/shared/secret"
)

// Suffixes of the variables that say where a secret NAME comes from.
const (
	SuffixSecretARN = "_SECRET_ARN"
	SuffixKMS       = "_KMS"
	SuffixFile      = "_FILE"
)

// KMSContextPurpose is the purpose member of the encryption context of
// KMS-encrypted configuration values.
const KMSContextPurpose = "vault-config"

// KMSEncryptionContext is the encryption context a NAME_KMS ciphertext
// must have been made with.
func KMSEncryptionContext(name string) map[string]string {
	return map[string]string{"purpose": KMSContextPurpose, "name": name}
}

// SecretsManagerAPI is the part of *secretsmanager.Client used.
type SecretsManagerAPI interface {
	GetSecretValue(ctx context.Context, params *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// KMSDecrypter is the part of *kms.Client used.
type KMSDecrypter interface {
	Decrypt(ctx context.Context, params *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

var (
	_ SecretsManagerAPI = (*secretsmanager.Client)(nil)
	_ KMSDecrypter      = (*kms.Client)(nil)
)

// Loader resolves configuration values that may be secret. Secrets are read
// once, at cold start, and cached for the life of the process, so that a
// warm invocation never waits on Secrets Manager or KMS. A Loader must not
// be copied after first use.
type Loader struct {
	// Getenv reads a variable; nil means os.Getenv.
	Getenv func(string) string
	// Secrets and KMS are needed only when a NAME_SECRET_ARN or NAME_KMS
	// variable is set.
	Secrets SecretsManagerAPI
	KMS     KMSDecrypter

	mu    sync.Mutex
	cache map[string]cachedSecret
}

type cachedSecret struct {
	value []byte
	// plain records that the value came from NAME itself, so that a later
	// caller who does not allow plaintext is refused it.
	plain bool
}

func (l *Loader) getenv(name string) string {
	if l.Getenv == nil {
		return os.Getenv(name)
	}
	return l.Getenv(name)
}

// Secret returns the secret NAME from the first source set (see the
// package documentation). allowPlain permits the NAME variable itself,
// which only local mode should do. Each call returns its own copy, which
// the caller may wipe. Errors name the variables, never the value.
func (l *Loader) Secret(ctx context.Context, name string, allowPlain bool) (secret.Secret[[]byte], error) {
	if name == "" {
		return secret.Secret[[]byte]{}, errors.New("config: secret name is empty")
	}
	// Held across the load: secrets are loaded at cold start, one by one,
	// and a second caller for the same name must not load it again.
	l.mu.Lock()
	defer l.mu.Unlock()

	cached, ok := l.cache[name]
	if !ok {
		value, plain, err := l.load(ctx, name)
		if err != nil {
			return secret.Secret[[]byte]{}, err
		}
		if len(value) == 0 {
			return secret.Secret[[]byte]{}, fmt.Errorf("config: %s is empty", name)
		}
		cached = cachedSecret{value: value, plain: plain}
		if l.cache == nil {
			l.cache = map[string]cachedSecret{}
		}
		l.cache[name] = cached
	}
	if cached.plain && !allowPlain {
		return secret.Secret[[]byte]{}, plainRefused(name)
	}
	return secret.New(append([]byte(nil), cached.value...)), nil
}

// Source says where NAME is read from, for messages: the variable set
// and, for a Secrets Manager secret or a file, the secret id or path it
// holds. Never a value, nor a NAME_KMS ciphertext.
func (l *Loader) Source(name string) string {
	if id := l.getenv(name + SuffixSecretARN); id != "" {
		return fmt.Sprintf("secret %s, from %s%s", id, name, SuffixSecretARN)
	}
	if l.getenv(name+SuffixKMS) != "" {
		return "the ciphertext in " + name + SuffixKMS
	}
	if path := l.getenv(name + SuffixFile); path != "" {
		return fmt.Sprintf("file %s, from %s%s", path, name, SuffixFile)
	}
	if l.getenv(name) != "" {
		return "the variable " + name
	}
	return "not set"
}

func plainRefused(name string) error {
	return fmt.Errorf("config: %s must come from Secrets Manager, KMS or a file (set %s%s, %s%s or %s%s)",
		name, name, SuffixSecretARN, name, SuffixKMS, name, SuffixFile)
}

// load reads NAME from the first source set; plain reports that it came
// from the NAME variable itself.
func (l *Loader) load(ctx context.Context, name string) (value []byte, plain bool, err error) {
	if id := l.getenv(name + SuffixSecretARN); id != "" {
		value, err = l.fromSecretsManager(ctx, name, id)
		return value, false, err
	}
	if ciphertext := l.getenv(name + SuffixKMS); ciphertext != "" {
		value, err = l.fromKMS(ctx, name, ciphertext)
		return value, false, err
	}
	if path := l.getenv(name + SuffixFile); path != "" {
		value, err = os.ReadFile(path) // #nosec G304 -- a file named by the operator's configuration
		if err != nil {
			// *PathError names the file and the reason, not the contents.
			return nil, false, fmt.Errorf("config: %s%s: %w", name, SuffixFile, err)
		}
		return value, false, nil
	}
	if v := l.getenv(name); v != "" {
		return []byte(v), true, nil
	}
	return nil, false, fmt.Errorf("config: %s is not set (set %s%s, %s%s or %s%s)",
		name, name, SuffixSecretARN, name, SuffixKMS, name, SuffixFile)
}

func (l *Loader) fromSecretsManager(ctx context.Context, name, id string) ([]byte, error) {
	if l.Secrets == nil {
		return nil, fmt.Errorf("config: %s%s is set but no Secrets Manager client is configured", name, SuffixSecretARN)
	}
	out, err := l.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		// The SDK error names the operation, error code and request id;
		// it never holds a secret value.
		return nil, fmt.Errorf("config: %s: reading secret %s: %w", name, id, err)
	}
	if out.SecretString != nil {
		return []byte(*out.SecretString), nil
	}
	return out.SecretBinary, nil
}

func (l *Loader) fromKMS(ctx context.Context, name, encoded string) ([]byte, error) {
	if l.KMS == nil {
		return nil, fmt.Errorf("config: %s%s is set but no KMS client is configured", name, SuffixKMS)
	}
	ciphertext, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil {
		return nil, fmt.Errorf("config: %s%s is not base64", name, SuffixKMS)
	}
	out, err := l.KMS.Decrypt(ctx, &kms.DecryptInput{
		CiphertextBlob:      ciphertext,
		EncryptionContext:   KMSEncryptionContext(name),
		EncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault,
	})
	if err != nil {
		return nil, fmt.Errorf("config: %s%s: decrypting: %w", name, SuffixKMS, err)
	}
	return out.Plaintext, nil
}
