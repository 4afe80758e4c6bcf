package dynalite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestStartWithDirPersistsAcrossRestart(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")

	first, err := Start(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = first.Stop() })
	db := probeClient(first.Endpoint)
	createTable(t, db, "persisted")
	_, err = db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String("persisted"),
		Item: map[string]types.AttributeValue{
			"pk":   &types.AttributeValueMemberS{Value: "k"},
			"note": &types.AttributeValueMemberS{Value: "kept"},
		},
	})
	if err != nil {
		t.Fatalf("PutItem: %v", err)
	}
	if err := first.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := first.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}

	second, err := Start(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = second.Stop() })
	out, err := probeClient(second.Endpoint).GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String("persisted"),
		Key:            map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "k"}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("GetItem after restart: %v", err)
	}
	note, ok := out.Item["note"].(*types.AttributeValueMemberS)
	if !ok || note.Value != "kept" {
		t.Fatalf("item after restart = %v, want note=kept", out.Item)
	}
}

func TestStartExplainsMissingDynalite(t *testing.T) {
	t.Setenv(EnvCLI, filepath.Join(t.TempDir(), "missing", "cli.js"))
	_, err := Start(context.Background(), "")
	if err == nil {
		t.Fatal("Start succeeded without dynalite")
	}
	if !strings.Contains(err.Error(), "npm ci") {
		t.Fatalf("error does not say how to fix it: %v", err)
	}
}

// createTable makes a hash-only table and waits until dynalite reports it
// ACTIVE.
func createTable(t *testing.T, db *dynamodb.Client, name string) {
	t.Helper()
	ctx := context.Background()
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	for {
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			t.Fatalf("DescribeTable: %v", err)
		}
		if out.Table.TableStatus == types.TableStatusActive {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
