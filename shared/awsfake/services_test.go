package awsfake_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cardvault/vault/shared/awsfake"
)

func TestSecretsManagerGetSecretValueByNameAndARN(t *testing.T) {
	fake := awsfake.NewSecretsManager(t)
	client := awsfake.NewSecretsManagerClient(t, fake.URL)
	arn := fake.Put("vault/jwks", `{"keys":[]}`)
	binARN := fake.PutBinary("vault/raw", []byte{0, 1, 2})
	ctx := context.Background()

	for _, id := range []string{"vault/jwks", arn} {
		out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			t.Fatalf("GetSecretValue(%q): %v", id, err)
		}
		if aws.ToString(out.SecretString) != `{"keys":[]}` || aws.ToString(out.ARN) != arn ||
			aws.ToString(out.Name) != "vault/jwks" || aws.ToString(out.VersionId) == "" || out.CreatedDate == nil {
			t.Fatalf("GetSecretValue(%q) = %+v", id, out)
		}
	}
	out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &binARN})
	if err != nil || string(out.SecretBinary) != "\x00\x01\x02" || out.SecretString != nil {
		t.Fatalf("binary secret: %+v, %v", out, err)
	}
	_, err = client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("missing")})
	if got := errorCode(t, err); got != "ResourceNotFoundException" {
		t.Fatalf("missing secret: %q", got)
	}
	if fake.Calls() != 4 {
		t.Fatalf("calls = %d", fake.Calls())
	}
}

func TestEventBridgePutEventsRecordsAndFails(t *testing.T) {
	fake := awsfake.NewEventBridge(t)
	client := awsfake.NewEventBridgeClient(t, fake.URL)
	ctx := context.Background()
	entry := func(detail string) ebtypes.PutEventsRequestEntry {
		return ebtypes.PutEventsRequestEntry{
			Source: aws.String("cardvault"), DetailType: aws.String("vault_card"),
			Detail: aws.String(detail), EventBusName: aws.String("audit"),
		}
	}

	out, err := client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry(`{"n":1}`)}})
	if err != nil || out.FailedEntryCount != 0 || aws.ToString(out.Entries[0].EventId) == "" {
		t.Fatalf("PutEvents: %+v, %v", out, err)
	}

	fake.FailEntries(1)
	out, err = client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry(`{"n":2}`), entry(`{"n":3}`)}})
	if err != nil || out.FailedEntryCount != 1 || aws.ToString(out.Entries[0].ErrorCode) != "ThrottlingException" ||
		aws.ToString(out.Entries[1].EventId) == "" {
		t.Fatalf("partial failure: %+v, %v", out, err)
	}

	fake.FailNext(awsfake.ClientMaxAttempts, "InternalException", http.StatusInternalServerError)
	_, err = client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry(`{"n":4}`)}})
	if got := errorCode(t, err); got != "InternalException" {
		t.Fatalf("whole-call failure: %q", got)
	}

	got := fake.Entries()
	if len(got) != 2 || got[0].Detail != `{"n":1}` || got[1].Detail != `{"n":3}` ||
		got[0].Source != "cardvault" || got[0].DetailType != "vault_card" || got[0].EventBusName != "audit" {
		t.Fatalf("entries: %+v", got)
	}
	if fake.Calls() != 2+awsfake.ClientMaxAttempts {
		t.Fatalf("calls = %d", fake.Calls())
	}
}
