package app

import (
	"context"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// lambdaVariables are what Lambda (or the local emulator behind the IAM
// proxy) gives a function, with every setting lambdaConfig reads.
var lambdaVariables = map[string]string{
	"AWS_REGION":                       "eu-west-3",
	"AWS_ACCESS_KEY_ID":                "AKIDLAMBDA",
	"AWS_SECRET_ACCESS_KEY":            "lambda-secret",
	"AWS_SESSION_TOKEN":                "lambda-session",
	"AWS_ENDPOINT_URL":                 "http://127.0.0.1:4566",
	"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:4567",
	"AWS_MAX_ATTEMPTS":                 "5",
	"AWS_RETRY_MODE":                   "adaptive",
	"AWS_SDK_UA_APP_ID":                "card-vault",
}

// setLambdaEnv sets vars in the process environment, with no shared
// config or credentials file for config.LoadDefaultConfig to find.
func setLambdaEnv(t *testing.T, vars map[string]string) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	for k, v := range vars {
		t.Setenv(k, v)
	}
}

// TestLambdaConfigReadsTheEnvironmentAsTheSDKDoes: on a function's
// environment, lambdaConfig gives the clients what
// config.LoadDefaultConfig gives them: region, credentials, endpoints
// (shared and per service), retries and application id.
func TestLambdaConfigReadsTheEnvironmentAsTheSDKDoes(t *testing.T) {
	for _, ignore := range []string{"", "true"} {
		t.Run("ignore="+ignore, func(t *testing.T) {
			setLambdaEnv(t, lambdaVariables)
			t.Setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", ignore)
			ctx := context.Background()
			want, err := awsconfig.LoadDefaultConfig(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got, err := lambdaConfig(os.Getenv)
			if err != nil {
				t.Fatal(err)
			}
			if got.Region != want.Region || got.RetryMaxAttempts != want.RetryMaxAttempts || got.RetryMode != want.RetryMode || got.AppID != want.AppID {
				t.Errorf("region, attempts, mode, app id = %q %d %q %q, want %q %d %q %q", got.Region, got.RetryMaxAttempts, got.RetryMode, got.AppID,
					want.Region, want.RetryMaxAttempts, want.RetryMode, want.AppID)
			}
			if aws.ToString(got.BaseEndpoint) != aws.ToString(want.BaseEndpoint) {
				t.Errorf("base endpoint %q, want %q", aws.ToString(got.BaseEndpoint), aws.ToString(want.BaseEndpoint))
			}
			gotCreds, err := got.Credentials.Retrieve(ctx)
			if err != nil {
				t.Fatal(err)
			}
			wantCreds, err := want.Credentials.Retrieve(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if gotCreds.AccessKeyID != wantCreds.AccessKeyID || gotCreds.SecretAccessKey != wantCreds.SecretAccessKey ||
				gotCreds.SessionToken != wantCreds.SessionToken || gotCreds.Source != wantCreds.Source {
				t.Errorf("credentials from %s, want them as from %s", gotCreds.Source, wantCreds.Source)
			}
			// Each client resolves its own endpoint from the sources.
			for name, endpoint := range map[string]func(aws.Config) *string{
				"secretsmanager": func(c aws.Config) *string { return secretsmanager.NewFromConfig(c).Options().BaseEndpoint },
				"dynamodb":       func(c aws.Config) *string { return dynamodb.NewFromConfig(c).Options().BaseEndpoint },
			} {
				if g, w := aws.ToString(endpoint(got)), aws.ToString(endpoint(want)); g != w {
					t.Errorf("%s endpoint %q, want %q", name, g, w)
				}
			}
		})
	}
}

// TestLambdaConfigRefusesWhatTheSDKRefuses: no credentials, or a retry
// setting that is not one, fails the cold start naming the variable.
func TestLambdaConfigRefusesWhatTheSDKRefuses(t *testing.T) {
	for variable, value := range map[string]string{
		"AWS_ACCESS_KEY_ID":                   "",
		"AWS_MAX_ATTEMPTS":                    "many",
		"AWS_RETRY_MODE":                      "eventually",
		"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "maybe",
	} {
		env := map[string]string{}
		for k, v := range lambdaVariables {
			env[k] = v
		}
		env[variable] = value
		_, err := lambdaConfig(func(k string) string { return env[k] })
		if err == nil || !strings.Contains(err.Error(), variable) {
			t.Errorf("%s=%q: %v, want a refusal naming it", variable, value, err)
		}
	}
}

// TestLambdaConfigTakesCredentialsFromAContainerEndpoint: without keys in
// the environment, the role's credentials come from the endpoint the
// runtime names, with its authorization token.
func TestLambdaConfigTakesCredentialsFromAContainerEndpoint(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "token-123" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, `{"AccessKeyId":"AKIDENDPOINT","SecretAccessKey":"endpoint-secret","Token":"endpoint-session","Expiration":"`+
			time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`"}`)
	}))
	defer srv.Close()
	env := map[string]string{"AWS_REGION": "eu-west-3", "AWS_CONTAINER_CREDENTIALS_FULL_URI": srv.URL + "/creds", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "token-123"}
	cfg, err := lambdaConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID != "AKIDENDPOINT" || creds.SecretAccessKey != "endpoint-secret" || creds.SessionToken != "endpoint-session" {
		t.Fatalf("credentials %+v, want the endpoint's", creds)
	}
}

// TestLambdaConfigTrustsTheCABundle: AWS_CA_BUNDLE's roots are trusted by
// the clients' HTTP client (a TLS endpoint signed by them answers), and a
// file without a certificate fails the cold start.
func TestLambdaConfigTrustsTheCABundle(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for k, v := range lambdaVariables {
		env[k] = v
	}
	call := func() error {
		cfg, err := lambdaConfig(func(k string) string { return env[k] })
		if err != nil {
			return err
		}
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		resp, err := cfg.HTTPClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := call(); err == nil {
		t.Fatal("an endpoint signed by an unknown CA was trusted without AWS_CA_BUNDLE")
	}
	env["AWS_CA_BUNDLE"] = bundle
	if err := call(); err != nil {
		t.Fatalf("with AWS_CA_BUNDLE: %v", err)
	}
	notPEM := filepath.Join(t.TempDir(), "empty.pem")
	_ = os.WriteFile(notPEM, []byte("nothing"), 0o600)
	env["AWS_CA_BUNDLE"] = notPEM
	if _, err := lambdaConfig(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "AWS_CA_BUNDLE") {
		t.Fatalf("a bundle without certificates: %v", err)
	}
}
