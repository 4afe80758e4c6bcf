package dynamo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cardvault/vault/bench/internal/localdb"
	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/client"
	"github.com/cardvault/vault/shared/httpapi"
	"github.com/cardvault/vault/shared/localmode"
	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/store"
)

// loopbackRequests is how many requests each (operation, concurrency)
// pair sends: bounded, so a run always ends.
const loopbackRequests = 500

var concurrencies = []int{1, 4, 16}

const loopbackMerchant = "m_loopback"

// BenchmarkLoopback runs the vault end to end as `make run` serves it:
// local mode (dynalite, local master key, audit file) behind net/http on
// 127.0.0.1, called by the vault's Go client over HTTP. Beside each
// concurrency level, raw PutItem and GetItem against the same dynalite
// (an item the size of a card record) show how much of the time is the
// database's. The client, the vault and dynalite share this machine's
// cores, so these are local-mode figures, not a forecast for AWS.
//
// Each sub-benchmark sends loopbackRequests requests once; run it with
// -benchtime=1x.
func BenchmarkLoopback(b *testing.B) {
	ctx := context.Background()
	db, err := localdb.Start(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Stop()
	dir := b.TempDir()
	env, err := localmode.Start(ctx, localmode.Settings{
		Dir: dir, DynamoDBEndpoint: db.Endpoint, Table: "card-vault-bench",
	}, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer env.Close()
	api, err := env.API(app.Functions...)
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: httpapi.HTTPHandler(api), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	creds, err := client.LoadCredentials(filepath.Join(dir, localmode.DemoClientFile))
	if err != nil {
		b.Fatal(err)
	}
	transport := &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}
	defer transport.CloseIdleConnections()
	cl := client.New("http://"+l.Addr().String(), creds,
		client.WithHTTPClient(&http.Client{Transport: transport, Timeout: 30 * time.Second}))

	// Cards to read: one per request of the largest level, vaulted ahead.
	tokens := make([]string, loopbackRequests)
	for i := range tokens {
		rec, err := cl.VaultCard(ctx, cardRequest("cus_read_"+strconv.Itoa(i)))
		if err != nil {
			b.Fatal(err)
		}
		tokens[i] = rec.Token
	}
	raw := newRawDynamo(b, db.Endpoint)

	for _, conc := range concurrencies {
		b.Run(fmt.Sprintf("op=vault/conc=%d", conc), func(b *testing.B) {
			for b.Loop() {
				runLoad(b, conc, loopbackRequests, func(i int) error {
					_, err := cl.VaultCard(ctx, cardRequest(fmt.Sprintf("cus_%d_%d_%d", conc, b.N, i)))
					return err
				})
			}
		})
		b.Run(fmt.Sprintf("op=masked/conc=%d", conc), func(b *testing.B) {
			for b.Loop() {
				runLoad(b, conc, loopbackRequests, func(i int) error {
					_, err := cl.GetMasked(ctx, loopbackMerchant, tokens[i])
					return err
				})
			}
		})
		b.Run(fmt.Sprintf("op=reveal/conc=%d", conc), func(b *testing.B) {
			for b.Loop() {
				runLoad(b, conc, loopbackRequests, func(i int) error {
					_, err := cl.RevealCard(ctx, loopbackMerchant, tokens[i])
					return err
				})
			}
		})
		b.Run(fmt.Sprintf("op=dynalite-put/conc=%d", conc), func(b *testing.B) {
			for b.Loop() {
				runLoad(b, conc, loopbackRequests, func(i int) error { return raw.put(ctx, fmt.Sprintf("%d/%d", conc, i)) })
			}
		})
		b.Run(fmt.Sprintf("op=dynalite-get/conc=%d", conc), func(b *testing.B) {
			for b.Loop() {
				runLoad(b, conc, loopbackRequests, func(i int) error { return raw.get(ctx, fmt.Sprintf("%d/%d", conc, i)) })
			}
		})
	}
	if os.Getenv("BENCH_KEEP") == "" {
		_ = os.RemoveAll(dir)
	}
}

func cardRequest(customer string) client.VaultCardRequest {
	return client.VaultCardRequest{
		MerchantID: loopbackMerchant, CustomerID: customer,
		Card: client.Card{Number: secret.New("4242424242424242"), ExpMonth: 12, ExpYear: 2030, HolderName: secret.New("Jane Doe")},
	}
}

// rawDynamo puts and gets items shaped like a card record (the same
// attribute count and about the same size) in a table of its own.
type rawDynamo struct {
	db    *dynamodb.Client
	table string
	item  map[string]types.AttributeValue
}

func newRawDynamo(b *testing.B, endpoint string) *rawDynamo {
	b.Helper()
	r := &rawDynamo{db: store.NewLocalClient(endpoint), table: "raw-bench"}
	if err := store.EnsureTable(context.Background(), r.db, r.table); err != nil {
		b.Fatal(err)
	}
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	n := func(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
	r.item = map[string]types.AttributeValue{
		"merchant_id": s(loopbackMerchant), "customer_id": s("cus_123456"),
		"fingerprint": s("fp_q9Xc0l8w5X0hZ8f0cOq1bWcF0Yy6m6eN2d0cVvZ0p6Q"),
		"first4":      s("4242"), "last4": s("4242"), "brand": s("visa"),
		"exp_month": n("12"), "exp_year": n("2030"),
		"sealed":      &types.AttributeValueMemberB{Value: make([]byte, 88)},
		"key_version": n("1"), "created_at": s(time.Now().UTC().Format(time.RFC3339Nano)),
		"updated_at": s(time.Now().UTC().Format(time.RFC3339Nano)),
		"gsi1pk":     s("MERCHANT#" + loopbackMerchant + "#3"), "gsi1sk": s("V#0000000001#tok_xxxxxxxxxxxxxxxxxxxxxx"),
	}
	return r
}

func (r *rawDynamo) put(ctx context.Context, id string) error {
	item := make(map[string]types.AttributeValue, len(r.item)+2)
	for k, v := range r.item {
		item[k] = v
	}
	item["pk"] = &types.AttributeValueMemberS{Value: "CARD#" + id}
	item["sk"] = &types.AttributeValueMemberS{Value: "CARD"}
	_, err := r.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(r.table), Item: item})
	return err
}

func (r *rawDynamo) get(ctx context.Context, id string) error {
	out, err := r.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(r.table), ConsistentRead: aws.Bool(true), Key: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "CARD#" + id}, "sk": &types.AttributeValueMemberS{Value: "CARD"},
	}})
	if err == nil && out.Item == nil {
		err = fmt.Errorf("raw item %s missing", id)
	}
	return err
}
