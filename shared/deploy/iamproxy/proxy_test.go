package iamproxy_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/cardvault/vault/shared/awsfake"
	"github.com/cardvault/vault/shared/deploy/iampolicy"
	"github.com/cardvault/vault/shared/deploy/iamproxy"
)

const (
	region  = awsfake.Region
	account = awsfake.Account
)

func start(t *testing.T) (*iamproxy.Proxy, *awsfake.SecretsManager, *awsfake.EventBridge) {
	t.Helper()
	secrets := awsfake.NewSecretsManager(t)
	events := awsfake.NewEventBridge(t)
	p, err := iamproxy.Start(iamproxy.Where{Region: region, Account: account}, map[string]string{
		iamproxy.SecretsManager: secrets.URL,
		iamproxy.EventBridge:    events.URL,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p, secrets, events
}

func creds(id string) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(id, "secret", "")
}

func accessDenied(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "AccessDeniedException"
}

func TestTheProxyHoldsEachCallToItsCallersPolicy(t *testing.T) {
	p, secrets, events := start(t)
	allowed := secrets.Put("allowed", "v1")
	other := secrets.Put("other", "v2")
	bus := "arn:aws:events:" + region + ":" + account + ":event-bus/vault"
	p.Allow("FN1", iamproxy.Principal{Function: "fn1", RoleARN: "arn:aws:iam::1:role/fn1", Policy: iampolicy.Policy{Statements: []iampolicy.Statement{
		{Where: "secret", Effect: "Allow", Actions: []string{"secretsmanager:GetSecretValue"}, Resources: []string{allowed}},
		{Where: "audit", Effect: "Allow", Actions: []string{"events:PutEvents"}, Resources: []string{bus},
			Condition: map[string]map[string][]string{"StringEquals": {"events:source": {"card-vault"}}}},
	}}})
	ctx := context.Background()
	sm := secretsmanager.New(secretsmanager.Options{Region: region, Credentials: creds("FN1"), BaseEndpoint: aws.String(p.URL)})
	if out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(allowed)}); err != nil || aws.ToString(out.SecretString) != "v1" {
		t.Fatalf("the allowed secret: %v", err)
	}
	// By name: authorized on the ARN the answer names.
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("other")}); !accessDenied(err) {
		t.Fatalf("another secret by name: %v, want AccessDeniedException", err)
	}
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(other)}); !accessDenied(err) {
		t.Fatalf("another secret by ARN: %v", err)
	} else if !strings.Contains(err.Error(), "is not authorized to perform: secretsmanager:GetSecretValue on resource: "+other) {
		t.Errorf("the denial does not read as AWS's: %v", err)
	}

	eb := eventbridge.New(eventbridge.Options{Region: region, Credentials: creds("FN1"), BaseEndpoint: aws.String(p.URL)})
	entry := func(source string) ebtypes.PutEventsRequestEntry {
		return ebtypes.PutEventsRequestEntry{Source: aws.String(source), DetailType: aws.String("x"), Detail: aws.String("{}"), EventBusName: aws.String("vault")}
	}
	if _, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry("card-vault")}}); err != nil {
		t.Fatalf("an audit event: %v", err)
	}
	if _, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry("card-vault"), entry("someone-else")}}); !accessDenied(err) {
		t.Fatalf("an entry with another source: %v", err)
	}
	if n := len(events.Entries()); n != 1 {
		t.Errorf("the bus holds %d entries; a denied call must not reach it", n)
	}

	// A caller the proxy does not know.
	stranger := secretsmanager.New(secretsmanager.Options{Region: region, Credentials: creds("NOBODY"), BaseEndpoint: aws.String(p.URL)})
	if _, err := stranger.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(allowed)}); err == nil {
		t.Fatal("an unknown caller was served")
	}

	var denied, allowedCalls int
	for _, c := range p.Calls() {
		if c.Denied() {
			denied++
		} else {
			allowedCalls++
		}
	}
	if denied != 4 || allowedCalls != 2 {
		t.Errorf("recorded %d denied and %d allowed calls, want 4 and 2: %v", denied, allowedCalls, p.Calls())
	}
}
