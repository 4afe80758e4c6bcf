package app

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
)

// lambdaConfig is the AWS SDK configuration of a function, read from the
// environment Lambda gives it and from nothing else, the way
// config.LoadDefaultConfig reads these variables:
//
//	AWS_REGION (or AWS_DEFAULT_REGION)    the region
//	AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
//	                                      the function role's credentials
//	                                      (and AWS_ACCOUNT_ID, if set)
//	AWS_CONTAINER_CREDENTIALS_FULL_URI (or _RELATIVE_URI), with
//	AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)
//	                                      a credentials endpoint, when no
//	                                      keys are in the environment (how
//	                                      some runtimes and emulators hand
//	                                      a role's credentials out)
//	AWS_CA_BUNDLE                         the trust roots (PEM) for the
//	                                      endpoints in place of the
//	                                      system's, e.g. a TLS proxy
//	AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>
//	                                      endpoint overrides, unless
//	                                      AWS_IGNORE_CONFIGURED_ENDPOINT_URLS
//	AWS_MAX_ATTEMPTS, AWS_RETRY_MODE      the retryer (docs/load.md)
//	AWS_SDK_UA_APP_ID                     the user agent's application id
//
// config.LoadDefaultConfig would also link the shared config files'
// loader and the SSO, STS (assume role, web identity), IMDS and container
// credential providers, none of which a Lambda function uses: over a
// megabyte of every bootstrap. Other AWS_* settings (FIPS or dual-stack
// endpoints, shared config files) are not read: a function that needs one
// names it here.
func lambdaConfig(getenv func(string) string) (aws.Config, error) {
	env := lambdaEnv{getenv: getenv}
	creds := aws.Credentials{
		AccessKeyID:     env.first("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"),
		SecretAccessKey: env.first("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY"),
		SessionToken:    getenv("AWS_SESSION_TOKEN"),
		AccountID:       getenv("AWS_ACCOUNT_ID"),
		Source:          "EnvConfigCredentials",
	}
	httpClient := awshttp.NewBuildableClient()
	if path := getenv("AWS_CA_BUNDLE"); path != "" {
		pem, err := os.ReadFile(path) // #nosec G304 -- a path the function's operator configured
		if err != nil {
			return aws.Config{}, fmt.Errorf("aws config: AWS_CA_BUNDLE: %w", err)
		}
		// The bundle replaces the system roots, as the SDK's loader has it.
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return aws.Config{}, fmt.Errorf("aws config: AWS_CA_BUNDLE %s holds no PEM certificate", path)
		}
		httpClient = httpClient.WithTransportOptions(func(tr *http.Transport) { tr.TLSClientConfig.RootCAs = roots })
	}
	var provider aws.CredentialsProvider = credentials.StaticCredentialsProvider{Value: creds}
	if !creds.HasKeys() {
		endpoint := getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI")
		if rel := getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); endpoint == "" && rel != "" {
			endpoint = "http://169.254.170.2" + rel
		}
		if endpoint == "" {
			return aws.Config{}, errors.New("aws config: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (nor AWS_CONTAINER_CREDENTIALS_FULL_URI)")
		}
		provider = endpointcreds.New(endpoint, func(o *endpointcreds.Options) {
			o.HTTPClient = httpClient
			o.AuthorizationToken = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")
			if file := getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"); file != "" {
				o.AuthorizationTokenProvider = endpointcreds.TokenProviderFunc(func() (string, error) {
					token, err := os.ReadFile(file) // #nosec G304 -- a path the runtime gives
					return strings.TrimSpace(string(token)), err
				})
			}
		})
	}
	cfg := aws.Config{
		Region:      env.first("AWS_REGION", "AWS_DEFAULT_REGION"),
		Credentials: aws.NewCredentialsCache(provider),
		HTTPClient:  httpClient,
		AppID:       getenv("AWS_SDK_UA_APP_ID"),
		// Each client looks its own AWS_ENDPOINT_URL_<SERVICE> up here.
		ConfigSources: []any{env},
	}
	if v := getenv("AWS_MAX_ATTEMPTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return aws.Config{}, fmt.Errorf("aws config: AWS_MAX_ATTEMPTS %q is not a number of attempts", v)
		}
		cfg.RetryMaxAttempts = n
	}
	if v := getenv("AWS_RETRY_MODE"); v != "" {
		mode, err := aws.ParseRetryMode(v)
		if err != nil {
			return aws.Config{}, fmt.Errorf("aws config: AWS_RETRY_MODE: %w", err)
		}
		cfg.RetryMode = mode
	}
	ignore, _, err := env.GetIgnoreConfiguredEndpoints(context.Background())
	if err != nil {
		return aws.Config{}, err
	}
	if v := getenv("AWS_ENDPOINT_URL"); v != "" && !ignore {
		cfg.BaseEndpoint = aws.String(v)
	}
	return cfg, nil
}

// lambdaEnv is the environment as the SDK clients' configuration source:
// each client asks it for its own endpoint override.
type lambdaEnv struct{ getenv func(string) string }

func (e lambdaEnv) first(names ...string) string {
	for _, n := range names {
		if v := e.getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// GetServiceBaseEndpoint answers AWS_ENDPOINT_URL_<SERVICE>, the service's
// SDK id upper-cased with spaces as underscores (AWS_ENDPOINT_URL_SECRETS_MANAGER).
func (e lambdaEnv) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	v := e.getenv("AWS_ENDPOINT_URL_" + strings.ReplaceAll(strings.ToUpper(sdkID), " ", "_"))
	return v, v != "", nil
}

// GetIgnoreConfiguredEndpoints answers AWS_IGNORE_CONFIGURED_ENDPOINT_URLS.
func (e lambdaEnv) GetIgnoreConfiguredEndpoints(context.Context) (bool, bool, error) {
	v := e.getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
	switch strings.ToLower(v) {
	case "":
		return false, false, nil
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	}
	return false, false, fmt.Errorf("aws config: AWS_IGNORE_CONFIGURED_ENDPOINT_URLS %q is neither true nor false", v)
}
