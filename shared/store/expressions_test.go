package store

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// legacyParameters are DynamoDB's pre-expression request parameters,
// which the store never uses: UpdateExpression, ConditionExpression,
// KeyConditionExpression, FilterExpression and ProjectionExpression say
// the same, and are the form every DynamoDB implementation and the AWS
// documentation treat as current.
var legacyParameters = []string{
	"AttributeUpdates", "Expected", "ConditionalOperator", "KeyConditions",
	"QueryFilter", "ScanFilter", "AttributesToGet",
}

// legacyTypes are the SDK types only those parameters take.
var legacyTypes = []string{"AttributeValueUpdate", "ExpectedAttributeValue", "Condition", "AttributeAction"}

// TestNoLegacyDynamoDBParameters reads the store's source: no request sets
// a legacy parameter, and no legacy parameter type is built.
func TestNoLegacyDynamoDBParameters(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.KeyValueExpr:
				if id, ok := n.Key.(*ast.Ident); ok && isOneOf(id.Name, legacyParameters) {
					t.Errorf("%s: request parameter %s; use the expression form", fset.Position(n.Pos()), id.Name)
				}
			case *ast.SelectorExpr:
				if isOneOf(n.Sel.Name, legacyParameters) {
					t.Errorf("%s: request parameter %s; use the expression form", fset.Position(n.Pos()), n.Sel.Name)
				}
				if pkg, ok := n.X.(*ast.Ident); ok && pkg.Name == "types" && isOneOf(n.Sel.Name, legacyTypes) {
					t.Errorf("%s: types.%s belongs to the legacy parameters", fset.Position(n.Pos()), n.Sel.Name)
				}
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no source files read")
	}
}

func isOneOf(s string, set []string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}

// expressionsOnly is the client of every store test: it refuses a request
// that sets a legacy parameter, so a write that slipped past the source
// check still fails the tests of the operation making it.
type expressionsOnly struct {
	DynamoAPI
}

var (
	_ DynamoAPI = expressionsOnly{}
	_ batchAPI  = expressionsOnly{}
)

// legacyIn names the legacy parameters set in a request.
func legacyIn(in any) error {
	v := reflect.ValueOf(in).Elem()
	var set []string
	for _, name := range legacyParameters {
		if f := v.FieldByName(name); f.IsValid() && !f.IsZero() {
			set = append(set, name)
		}
	}
	if len(set) > 0 {
		return fmt.Errorf("store: %T sets legacy parameters %v", in, set)
	}
	return nil
}

func (d expressionsOnly) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if err := legacyIn(in); err != nil {
		return nil, err
	}
	return d.DynamoAPI.GetItem(ctx, in, opts...)
}

func (d expressionsOnly) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if err := legacyIn(in); err != nil {
		return nil, err
	}
	return d.DynamoAPI.PutItem(ctx, in, opts...)
}

func (d expressionsOnly) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if err := legacyIn(in); err != nil {
		return nil, err
	}
	return d.DynamoAPI.UpdateItem(ctx, in, opts...)
}

func (d expressionsOnly) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	if err := legacyIn(in); err != nil {
		return nil, err
	}
	return d.DynamoAPI.DeleteItem(ctx, in, opts...)
}

func (d expressionsOnly) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if err := legacyIn(in); err != nil {
		return nil, err
	}
	return d.DynamoAPI.Query(ctx, in, opts...)
}

func (d expressionsOnly) Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	if err := legacyIn(in); err != nil {
		return nil, err
	}
	return d.DynamoAPI.Scan(ctx, in, opts...)
}

func (d expressionsOnly) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	for _, ka := range in.RequestItems {
		if err := legacyIn(&ka); err != nil {
			return nil, err
		}
	}
	return d.DynamoAPI.(batchAPI).BatchGetItem(ctx, in, opts...)
}

func (d expressionsOnly) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	return d.DynamoAPI.(batchAPI).BatchWriteItem(ctx, in, opts...)
}

func TestExpressionsOnlyRefusesLegacyParameters(t *testing.T) {
	if err := legacyIn(&dynamodb.UpdateItemInput{Expected: map[string]types.ExpectedAttributeValue{"a": {}}}); err == nil {
		t.Error("a request with Expected passed")
	}
	if err := legacyIn(&dynamodb.UpdateItemInput{UpdateExpression: new(string)}); err != nil {
		t.Errorf("an expression request was refused: %v", err)
	}
}
