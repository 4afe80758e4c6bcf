package dynamo

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cardvault/vault/bench/internal/localdb"
	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/client"
	"github.com/cardvault/vault/shared/httpapi"
	"github.com/cardvault/vault/shared/localmode"
	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/store"
	"github.com/cardvault/vault/shared/vault"
)

// Requests per operation: warm ones against one merchant whose keys the
// process holds, cold ones each the first request of its merchant in a
// fresh process (a new local-mode vault over the same table).
const (
	warmRoundTripRequests = 100
	coldRoundTripRequests = 30
)

// actions are the DynamoDB actions the store uses per request, in the
// order the report lists them.
var actions = []string{"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan"}

// measured is one request to time and count, made by the given client.
type measured func(ctx context.Context, cl *client.Client) error

// roundTripOp is one operation of the contract as the benchmark drives
// it: prepare makes what request i needs (uncounted) and returns the
// request itself.
type roundTripOp struct {
	name    string
	prepare func(ctx context.Context, cl *client.Client, merchant string, i int) (measured, error)
}

var roundTripOps = []roundTripOp{
	{"vault_card_new", func(ctx context.Context, cl *client.Client, m string, i int) (measured, error) {
		return func(ctx context.Context, cl *client.Client) error {
			_, err := cl.VaultCard(ctx, merchantCard(m, fmt.Sprintf("cus_new_%d", i)))
			return err
		}, nil
	}},
	{"vault_card_duplicate", func(ctx context.Context, cl *client.Client, m string, i int) (measured, error) {
		req := merchantCard(m, fmt.Sprintf("cus_dup_%d", i))
		if _, err := cl.VaultCard(ctx, req); err != nil {
			return nil, err
		}
		return func(ctx context.Context, cl *client.Client) error {
			rec, err := cl.VaultCard(ctx, req)
			if err == nil && !rec.Duplicate {
				err = fmt.Errorf("vault_card of a vaulted card answered a new card")
			}
			return err
		}, nil
	}},
	{"get_masked", withCard(func(ctx context.Context, cl *client.Client, m, token string) error {
		_, err := cl.GetMasked(ctx, m, token)
		return err
	})},
	{"reveal_card", withCard(func(ctx context.Context, cl *client.Client, m, token string) error {
		_, err := cl.RevealCard(ctx, m, token)
		return err
	})},
	{"delete_card", withCard(func(ctx context.Context, cl *client.Client, m, token string) error {
		return cl.DeleteCard(ctx, m, token)
	})},
	{"put_secret_new", func(ctx context.Context, cl *client.Client, m string, i int) (measured, error) {
		return func(ctx context.Context, cl *client.Client) error {
			_, _, err := cl.PutSecret(ctx, m, fmt.Sprintf("new-%d", i), secret.New("sk_live_0123456789abcdef"), nil)
			return err
		}, nil
	}},
	// A third version: the steady state of a secret that is overwritten,
	// where each put also prunes the version before last.
	{"put_secret_overwrite", withSecret(2, func(ctx context.Context, cl *client.Client, m, name string) error {
		_, _, err := cl.PutSecret(ctx, m, name, secret.New("sk_live_fedcba9876543210"), nil)
		return err
	})},
	{"get_secret", withSecret(1, func(ctx context.Context, cl *client.Client, m, name string) error {
		_, err := cl.GetSecret(ctx, m, name)
		return err
	})},
	{"reveal_secret", withSecret(1, func(ctx context.Context, cl *client.Client, m, name string) error {
		_, err := cl.RevealSecret(ctx, m, name)
		return err
	})},
	{"delete_secret", withSecret(2, func(ctx context.Context, cl *client.Client, m, name string) error {
		return cl.DeleteSecret(ctx, m, name)
	})},
	{"get_keys", func(ctx context.Context, cl *client.Client, m string, i int) (measured, error) {
		return func(ctx context.Context, cl *client.Client) error {
			_, err := cl.GetKeys(ctx, m)
			return err
		}, nil
	}},
	// A forward of a card to the loopback TLS destination, its
	// credential a merchant secret: the card, the secret and the
	// merchant's state are read while the request id is spent.
	{"forward", func(ctx context.Context, cl *client.Client, m string, i int) (measured, error) {
		rec, err := cl.VaultCard(ctx, merchantCard(m, fmt.Sprintf("cus_fwd_%d_%d", i, time.Now().UnixNano())))
		if err != nil {
			return nil, err
		}
		if _, _, err := cl.PutSecret(ctx, m, benchCredential, secret.New("sk_live_0123456789abcdef"), nil); err != nil {
			return nil, err
		}
		return func(ctx context.Context, cl *client.Client) error {
			ans, err := cl.Forward(ctx, client.ForwardRequest{
				MerchantID: m, Destination: benchDestination, Token: rec.Token,
				Method: http.MethodPost, Path: "/v1/payment_methods",
				Form: map[string]string{"type": "card", "card[number]": "{{card.number}}", "card[exp_month]": "{{card.exp_month}}", "card[exp_year]": "{{card.exp_year}}"},
			})
			if err == nil && ans.Status != http.StatusOK {
				err = fmt.Errorf("forward: the destination answered %d", ans.Status)
			}
			return err
		}, nil
	}},
	// The cards of one customer, through the by_customer listing index.
	{"list_cards", func(ctx context.Context, cl *client.Client, m string, i int) (measured, error) {
		customer := fmt.Sprintf("cus_list_%d_%d", i, time.Now().UnixNano())
		if _, err := cl.VaultCard(ctx, merchantCard(m, customer)); err != nil {
			return nil, err
		}
		return func(ctx context.Context, cl *client.Client) error {
			list, err := cl.ListCards(ctx, client.ListCardsRequest{MerchantID: m, CustomerID: customer})
			if err == nil && len(list.Cards) != 1 {
				err = fmt.Errorf("list_cards found %d cards of the customer, want 1", len(list.Cards))
			}
			return err
		}, nil
	}},
	// An import job made (the upload, and the worker it starts, are not
	// the request): the merchant's state, the request id, the job.
	{"import_cards", func(ctx context.Context, cl *client.Client, m string, i int) (measured, error) {
		return func(ctx context.Context, cl *client.Client) error {
			job, err := cl.ImportCards(ctx, client.ImportRequest{MerchantID: m, Format: "stripe"})
			if err == nil && job.Upload == nil {
				err = fmt.Errorf("import_cards answered no upload")
			}
			return err
		}, nil
	}},
	// A job read back, with a fresh upload URL.
	{"get_job", func(ctx context.Context, cl *client.Client, m string, i int) (measured, error) {
		job, err := cl.ImportCards(ctx, client.ImportRequest{MerchantID: m, Format: "stripe"})
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, cl *client.Client) error {
			got, err := cl.GetJob(ctx, m, job.JobID)
			if err == nil && got.JobID != job.JobID {
				err = fmt.Errorf("get_job answered job %s, want %s", got.JobID, job.JobID)
			}
			return err
		}, nil
	}},
	// Each rotation is of its own merchant (rotating one merchant again
	// and again would only add versions for get_keys to count); the
	// merchant's keys are in the process, as on a warm container.
	{"rotate_keys", func(ctx context.Context, cl *client.Client, m string, i int) (measured, error) {
		own := fmt.Sprintf("%s_rot_%d", m, i)
		if _, err := cl.VaultCard(ctx, merchantCard(own, "cus_seed")); err != nil {
			return nil, err
		}
		return func(ctx context.Context, cl *client.Client) error {
			_, err := cl.RotateKeys(ctx, own)
			return err
		}, nil
	}},
}

func withCard(op func(ctx context.Context, cl *client.Client, merchant, token string) error) func(context.Context, *client.Client, string, int) (measured, error) {
	return func(ctx context.Context, cl *client.Client, m string, i int) (measured, error) {
		rec, err := cl.VaultCard(ctx, merchantCard(m, fmt.Sprintf("cus_card_%d_%d", i, time.Now().UnixNano())))
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, cl *client.Client) error { return op(ctx, cl, m, rec.Token) }, nil
	}
}

// withSecret puts versions versions of a fresh secret first.
func withSecret(versions int, op func(ctx context.Context, cl *client.Client, merchant, name string) error) func(context.Context, *client.Client, string, int) (measured, error) {
	return func(ctx context.Context, cl *client.Client, m string, i int) (measured, error) {
		name := fmt.Sprintf("secret-%d-%d", i, time.Now().UnixNano())
		for range versions {
			if _, _, err := cl.PutSecret(ctx, m, name, secret.New("sk_live_0123456789abcdef"), map[string]string{"env": "live"}); err != nil {
				return nil, err
			}
		}
		return func(ctx context.Context, cl *client.Client) error { return op(ctx, cl, m, name) }, nil
	}
}

func merchantCard(merchant, customer string) client.VaultCardRequest {
	return client.VaultCardRequest{
		MerchantID: merchant, CustomerID: customer,
		Card: client.Card{Number: secret.New("4242424242424242"), ExpMonth: 12, ExpYear: 2030, HolderName: secret.New("Jane Doe")},
	}
}

// BenchmarkRoundTrips counts the DynamoDB calls of every operation, as
// the store makes them: the vault runs in local mode over HTTP on
// 127.0.0.1 (as `make run` serves it) with the store's DynamoDB client
// wrapped, and requests are sent one at a time, so every call between a
// request's start and its answer is that request's. Per operation it
// reports the calls of a request (median, and by action), its critical
// path (the longest chain of calls each started after the previous one
// returned: the round trips the request waits for in turn; median and
// largest) and the request's p50/p99 over loopback. Warm: the merchant's
// keys are in the process. Cold: the first request of each merchant in a
// fresh process, key load included.
//
// Background work that an operation hands on (rotate_keys' re-encryption)
// is dropped: in AWS it is an event that rotate-dek takes up later, not
// part of the request. Run with -benchtime=1x.
func BenchmarkRoundTrips(b *testing.B) {
	ctx := context.Background()
	db, err := localdb.Start(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Stop()
	dir := b.TempDir()
	log := &callLog{}

	warm := startRoundTripVault(b, dir, db.Endpoint, log)
	useLoopbackDestination(b, warm.env)
	const merchant = "m_roundtrips"
	if _, err := warm.cl.VaultCard(ctx, merchantCard(merchant, "cus_seed")); err != nil {
		b.Fatal(err)
	}
	for _, op := range roundTripOps {
		b.Run("op="+op.name+"/cache=warm", func(b *testing.B) {
			for b.Loop() {
				stats := &roundTripStats{}
				for i := range warmRoundTripRequests {
					req, err := op.prepare(ctx, warm.cl, merchant, i)
					if err != nil {
						b.Fatal(err)
					}
					stats.add(b, log, func() error { return req(ctx, warm.cl) })
				}
				stats.report(b)
			}
		})
	}

	// Cold requests are prepared in the warm process, each for a merchant
	// of its own that already has keys, then sent to fresh processes.
	cold := make(map[string][]measured)
	for _, op := range roundTripOps {
		for i := range coldRoundTripRequests {
			m := fmt.Sprintf("m_cold_%s_%d", op.name, i)
			if _, err := warm.cl.VaultCard(ctx, merchantCard(m, "cus_seed")); err != nil {
				b.Fatal(err)
			}
			req, err := op.prepare(ctx, warm.cl, m, i)
			if err != nil {
				b.Fatal(err)
			}
			cold[op.name] = append(cold[op.name], req)
		}
	}
	warm.close()
	for _, op := range roundTripOps {
		b.Run("op="+op.name+"/cache=cold", func(b *testing.B) {
			for b.Loop() {
				fresh := startRoundTripVault(b, dir, db.Endpoint, log)
				stats := &roundTripStats{}
				for _, req := range cold[op.name] {
					stats.add(b, log, func() error { return req(ctx, fresh.cl) })
				}
				fresh.close()
				stats.report(b)
			}
		})
	}
}

// The forward row's destination and the merchant secret that is its
// credential.
const (
	benchDestination = "loopback"
	benchCredential  = "loopback_key"
)

// useLoopbackDestination starts a TLS provider on 127.0.0.1 that answers
// at once, and makes it a destination every client of env's registry may
// forward to. The documents are files under env's directory, so the fresh
// processes of the cold rows find them too.
func useLoopbackDestination(b *testing.B, env *localmode.Env) {
	b.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"pm_1","object":"payment_method","type":"card"}`))
	}))
	b.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	doc, err := json.Marshal(map[string]any{"destinations": []any{map[string]any{
		"id":                    benchDestination,
		"url":                   srv.URL,
		"routes":                []any{map[string]string{"method": "POST", "path": "/v1/payment_methods"}},
		"credential":            map[string]string{"secret": benchCredential, "header": "Authorization", "prefix": "Bearer "},
		"ca_pem":                string(ca),
		"allow_private_network": true,
	}}})
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(env.Settings.DestinationsFile, doc, 0o600); err != nil {
		b.Fatal(err)
	}
	var reg struct {
		Clients []map[string]any `json:"clients"`
	}
	raw, err := os.ReadFile(env.Settings.ClientsFile)
	if err != nil {
		b.Fatal(err)
	}
	if err := json.Unmarshal(raw, &reg); err != nil {
		b.Fatal(err)
	}
	for _, c := range reg.Clients {
		c["destinations"] = []string{benchDestination}
	}
	if raw, err = json.Marshal(reg); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(env.Settings.ClientsFile, raw, 0o600); err != nil {
		b.Fatal(err)
	}
}

// roundTripVault is a local-mode vault behind net/http on 127.0.0.1 and a
// client of it.
type roundTripVault struct {
	env       *localmode.Env
	srv       *http.Server
	transport *http.Transport
	cl        *client.Client
}

func startRoundTripVault(b *testing.B, dir, endpoint string, log *callLog) *roundTripVault {
	b.Helper()
	ctx := context.Background()
	env, err := localmode.Start(ctx, localmode.Settings{
		Dir: dir, DynamoDBEndpoint: endpoint, Table: "card-vault-roundtrips",
		WrapDynamo: func(d store.DynamoAPI) store.DynamoAPI { return countingDB{DynamoAPI: d, log: log} },
	}, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	env.Components.Background = func(*vault.KeyLifecycle) vault.BackgroundWork { return droppedWork{} }
	api, err := env.API(app.Functions...)
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	v := &roundTripVault{env: env, srv: &http.Server{Handler: httpapi.HTTPHandler(api), ReadHeaderTimeout: 5 * time.Second}}
	go func() { _ = v.srv.Serve(l) }()
	creds, err := client.LoadCredentials(filepath.Join(dir, localmode.DemoClientFile))
	if err != nil {
		b.Fatal(err)
	}
	v.transport = &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}
	v.cl = client.New("http://"+l.Addr().String(), creds,
		client.WithHTTPClient(&http.Client{Transport: v.transport, Timeout: 30 * time.Second}))
	return v
}

func (v *roundTripVault) close() {
	v.transport.CloseIdleConnections()
	_ = v.srv.Close()
	v.env.Close()
}

// droppedWork is background work that is not run: in AWS it is an event
// for rotate-dek, outside the request.
type droppedWork struct{}

var _ vault.BackgroundWork = droppedWork{}

func (droppedWork) Start(context.Context, vault.WorkRequest) error { return nil }

// roundTripStats gathers the requests of one operation.
type roundTripStats struct {
	latency  []time.Duration
	calls    []int
	paths    []int
	byAction map[string]int
	// readUnits and writeUnits sum the table capacity dynalite reported.
	readUnits, writeUnits float64
}

// add sends one request with the call log recording, and keeps its
// latency, its calls and its critical path.
func (s *roundTripStats) add(b *testing.B, log *callLog, req func() error) {
	b.Helper()
	log.record()
	start := time.Now()
	err := req()
	lat := time.Since(start)
	calls := log.stop()
	if err != nil {
		b.Fatal(err)
	}
	if s.byAction == nil {
		s.byAction = map[string]int{}
	}
	for _, c := range calls {
		s.byAction[c.action]++
		if c.action == "GetItem" {
			s.readUnits += c.units
		} else {
			s.writeUnits += c.units
		}
	}
	s.latency = append(s.latency, lat)
	s.calls = append(s.calls, len(calls))
	s.paths = append(s.paths, criticalPath(calls))
}

func (s *roundTripStats) report(b *testing.B) {
	n := len(s.latency)
	slices.Sort(s.latency)
	slices.Sort(s.calls)
	slices.Sort(s.paths)
	b.ReportMetric(float64(s.calls[n/2]), "calls")
	b.ReportMetric(float64(s.calls[n-1]), "max-calls")
	b.ReportMetric(float64(s.paths[n/2]), "path")
	b.ReportMetric(float64(s.paths[n-1]), "max-path")
	for _, a := range actions {
		b.ReportMetric(float64(s.byAction[a])/float64(n), a+"/req")
	}
	b.ReportMetric(s.readUnits/float64(n), "get-RCU/req")
	b.ReportMetric(s.writeUnits/float64(n), "write-WCU/req")
	b.ReportMetric(ms(s.latency[n/2]), "p50-ms")
	b.ReportMetric(ms(s.latency[min(n-1, n*99/100)]), "p99-ms")
	b.ReportMetric(float64(n), "requests")
}
