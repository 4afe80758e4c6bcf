package config_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cardvault/vault/shared/awsfake"
	"github.com/cardvault/vault/shared/config"
	"github.com/cardvault/vault/shared/secret"
)

const (
	name  = "VAULT_JWKS"
	value = `{"keys":[{"kty":"oct","k":"c2VjcmV0LXZhbHVl"}]}`
)

type env map[string]string

func (e env) get(k string) string { return e[k] }

type fixture struct {
	kms     *awsfake.KMS
	keyARN  string
	secrets *awsfake.SecretsManager
	env     env
	loader  *config.Loader
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{kms: awsfake.NewKMS(t), secrets: awsfake.NewSecretsManager(t), env: env{}}
	f.keyARN = f.kms.CreateKey()
	f.loader = &config.Loader{
		Getenv:  f.env.get,
		Secrets: awsfake.NewSecretsManagerClient(t, f.secrets.URL),
		KMS:     awsfake.NewKMSClient(t, f.kms.URL),
	}
	return f
}

func (f *fixture) kmsCiphertext(forName, v string) string {
	blob := f.kms.Encrypt(f.keyARN, []byte(v), config.KMSEncryptionContext(forName))
	return base64.StdEncoding.EncodeToString(blob)
}

func writeFile(t *testing.T, v string) string {
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustSecret(t *testing.T, l *config.Loader, allowPlain bool) string {
	t.Helper()
	s, err := l.Secret(context.Background(), name, allowPlain)
	if err != nil {
		t.Fatalf("Secret: %v", err)
	}
	return string(s.Reveal())
}

// assertSafeError checks that err names the variable and, in every
// format, never carries the value.
func assertSafeError(t *testing.T, err error, mentions string, values ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		text := fmt.Sprintf(format, err)
		for _, v := range values {
			if strings.Contains(text, v) {
				t.Fatalf("error printed with %s carries the value: %s", format, text)
			}
		}
	}
	if !strings.Contains(err.Error(), mentions) {
		t.Fatalf("error %q does not name %s", err, mentions)
	}
}

func TestSecretFromSecretsManagerByARNIsReadOnce(t *testing.T) {
	f := newFixture(t)
	f.env[name+"_SECRET_ARN"] = f.secrets.Put("vault/jwks", value)

	for range 3 {
		if got := mustSecret(t, f.loader, false); got != value {
			t.Fatalf("Secret = %q", got)
		}
	}
	if f.secrets.Calls() != 1 {
		t.Fatalf("Secrets Manager calls = %d, want 1", f.secrets.Calls())
	}
}

func TestSecretFromSecretsManagerBinary(t *testing.T) {
	f := newFixture(t)
	f.env[name+"_SECRET_ARN"] = f.secrets.PutBinary("vault/raw", []byte{1, 2, 3})
	if got := mustSecret(t, f.loader, false); got != "\x01\x02\x03" {
		t.Fatalf("Secret = %q", got)
	}
}

func TestSecretFromKMSSendsBoundContextOnce(t *testing.T) {
	f := newFixture(t)
	f.env[name+"_KMS"] = f.kmsCiphertext(name, value)

	for range 2 {
		if got := mustSecret(t, f.loader, false); got != value {
			t.Fatalf("Secret = %q", got)
		}
	}
	reqs := f.kms.Requests()
	if len(reqs) != 1 || reqs[0].Op != "Decrypt" {
		t.Fatalf("KMS requests %+v, want one Decrypt", reqs)
	}
	want := map[string]string{"purpose": "vault-config", "name": name}
	if !maps.Equal(reqs[0].EncryptionContext, want) || reqs[0].EncryptionAlgorithm != "SYMMETRIC_DEFAULT" {
		t.Fatalf("Decrypt context %v, algorithm %q", reqs[0].EncryptionContext, reqs[0].EncryptionAlgorithm)
	}
}

func TestSecretFromKMSRefusesCiphertextOfAnotherVariable(t *testing.T) {
	f := newFixture(t)
	f.env[name+"_KMS"] = f.kmsCiphertext("VAULT_OTHER", value)
	_, err := f.loader.Secret(context.Background(), name, false)
	assertSafeError(t, err, name+"_KMS", value)
	if !strings.Contains(err.Error(), "InvalidCiphertextException") {
		t.Fatalf("error %q does not say why", err)
	}
}

func TestSecretFromFile(t *testing.T) {
	f := newFixture(t)
	f.env[name+"_FILE"] = writeFile(t, value)
	if got := mustSecret(t, f.loader, false); got != value {
		t.Fatalf("Secret = %q", got)
	}
}

func TestPlainValueOnlyWhereAllowed(t *testing.T) {
	f := newFixture(t)
	f.env[name] = value
	_, err := f.loader.Secret(context.Background(), name, false)
	assertSafeError(t, err, name+" must come from Secrets Manager, KMS or a file", value)

	if got := mustSecret(t, f.loader, true); got != value {
		t.Fatalf("Secret = %q", got)
	}
	// Once cached, the plain value is still refused to a strict caller.
	_, err = f.loader.Secret(context.Background(), name, false)
	assertSafeError(t, err, "must come from", value)
}

func TestSourcePrecedence(t *testing.T) {
	cases := []struct {
		name string
		set  []string // sources present, beyond the expected one
		want string
	}{
		{"Secrets Manager over KMS, file and plain", []string{"sm", "kms", "file", "plain"}, "from-sm"},
		{"KMS over file and plain", []string{"kms", "file", "plain"}, "from-kms"},
		{"file over plain", []string{"file", "plain"}, "from-file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			for _, source := range c.set {
				switch source {
				case "sm":
					f.env[name+"_SECRET_ARN"] = f.secrets.Put("vault/jwks", "from-sm")
				case "kms":
					f.env[name+"_KMS"] = f.kmsCiphertext(name, "from-kms")
				case "file":
					f.env[name+"_FILE"] = writeFile(t, "from-file")
				case "plain":
					f.env[name] = "from-plain"
				}
			}
			if got := mustSecret(t, f.loader, true); got != c.want {
				t.Fatalf("Secret = %q, want %q", got, c.want)
			}
		})
	}
}

func TestMissingSecretNamesTheVariables(t *testing.T) {
	f := newFixture(t)
	_, err := f.loader.Secret(context.Background(), name, true)
	assertSafeError(t, err, name+"_SECRET_ARN")
}

func TestFailuresDoNotLeakTheValue(t *testing.T) {
	t.Run("Secrets Manager down", func(t *testing.T) {
		f := newFixture(t)
		f.env[name+"_SECRET_ARN"] = f.secrets.Put("vault/jwks", value)
		f.secrets.FailNext(awsfake.ClientMaxAttempts, "InternalServiceError", http.StatusInternalServerError)
		_, err := f.loader.Secret(context.Background(), name, false)
		assertSafeError(t, err, name, value)
		// A failure is not cached: the next cold-start attempt reads again.
		if got := mustSecret(t, f.loader, false); got != value {
			t.Fatalf("Secret after recovery = %q", got)
		}
	})
	t.Run("unknown secret", func(t *testing.T) {
		f := newFixture(t)
		f.env[name+"_SECRET_ARN"] = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:missing"
		_, err := f.loader.Secret(context.Background(), name, false)
		assertSafeError(t, err, "ResourceNotFoundException")
	})
	t.Run("KMS value not base64", func(t *testing.T) {
		f := newFixture(t)
		f.env[name+"_KMS"] = "not base64 " + value
		_, err := f.loader.Secret(context.Background(), name, false)
		assertSafeError(t, err, name+"_KMS", value)
	})
	t.Run("missing file", func(t *testing.T) {
		f := newFixture(t)
		f.env[name+"_FILE"] = filepath.Join(t.TempDir(), "absent")
		_, err := f.loader.Secret(context.Background(), name, false)
		assertSafeError(t, err, name+"_FILE")
	})
	t.Run("empty file", func(t *testing.T) {
		f := newFixture(t)
		f.env[name+"_FILE"] = writeFile(t, "")
		_, err := f.loader.Secret(context.Background(), name, false)
		assertSafeError(t, err, name+" is empty")
	})
	t.Run("no client", func(t *testing.T) {
		l := &config.Loader{Getenv: env{name + "_SECRET_ARN": "arn", name + "_KMS": "x"}.get}
		_, err := l.Secret(context.Background(), name, false)
		assertSafeError(t, err, "no Secrets Manager client")
	})
}

func TestEachCallGetsItsOwnCopy(t *testing.T) {
	f := newFixture(t)
	f.env[name+"_FILE"] = writeFile(t, value)
	first, err := f.loader.Secret(context.Background(), name, false)
	if err != nil {
		t.Fatal(err)
	}
	secret.Wipe(first.Reveal())
	if got := mustSecret(t, f.loader, false); got != value {
		t.Fatalf("wiping a returned copy changed the cached value: %q", got)
	}
}

func TestSecretPrintsRedacted(t *testing.T) {
	f := newFixture(t)
	f.env[name+"_FILE"] = writeFile(t, value)
	s, err := f.loader.Secret(context.Background(), name, false)
	if err != nil {
		t.Fatal(err)
	}
	if text := fmt.Sprintf("%v %+v %s", s, s, s); strings.Contains(text, value) {
		t.Fatalf("secret printed: %s", text)
	}
}

func TestConcurrentCallersShareOneRead(t *testing.T) {
	f := newFixture(t)
	f.env[name+"_SECRET_ARN"] = f.secrets.Put("vault/jwks", value)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			s, err := f.loader.Secret(context.Background(), name, false)
			if err == nil && string(s.Reveal()) != value {
				err = fmt.Errorf("got another value")
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if f.secrets.Calls() != 1 {
		t.Fatalf("Secrets Manager calls = %d, want 1", f.secrets.Calls())
	}
}
