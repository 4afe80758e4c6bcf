package store

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/vault"
)

// DynamoAPI is the part of *dynamodb.Client the store uses; tests and
// wrappers (metrics, fault injection) can stand in for it.
type DynamoAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
}

var _ DynamoAPI = (*dynamodb.Client)(nil)

// Store keeps the vault's items in one DynamoDB table. It is safe for
// concurrent use.
type Store struct {
	db    DynamoAPI
	table string
	// now is the clock expiry conditions are judged by.
	now func() time.Time
}

var (
	_ vault.CardStore           = (*Store)(nil)
	_ vault.UndoableReplayGuard = (*Store)(nil)
	_ vault.RotationStore       = (*Store)(nil)
	_ envelope.KeyStore         = (*Store)(nil)
	_ envelope.KeyAdmin         = (*Store)(nil)
)

// Option adjusts a Store.
type Option func(*Store)

// WithClock makes the store judge expiry (the #ttl <= :now conditions and
// its own reads of index entries) by now instead of the system clock. Give
// it the clock the vault's operations use, so that both agree on what has
// expired; tests that move the vault's clock need this.
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// New returns a store over table, which must exist (EnsureTable, or the
// deployment template in AWS).
func New(client DynamoAPI, table string, opts ...Option) *Store {
	s := &Store{db: client, table: table, now: time.Now}
	for _, opt := range opts {
		opt(s)
	}
	return s
}
