// Package vaulttest runs a complete local vault for tests: the local
// server's handlers behind an httptest server, on a dynalite table of the
// test's own, with a controllable clock, captured logs and test clients
// that build requests with go-jose directly (not with the vault's own
// JOSE code), so the tests check the wire contract and not the code
// against itself.
package vaulttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/httpapi"
	"github.com/cardvault/vault/shared/internal/dynalite"
	"github.com/cardvault/vault/shared/localmode"
	"github.com/cardvault/vault/shared/logging"
	"github.com/cardvault/vault/shared/store"
)

// Vault is a running local vault.
type Vault struct {
	t      testing.TB
	Env    *localmode.Env
	API    *httpapi.API
	Server *httptest.Server
	Logs   *SyncBuffer
	Dir    string

	clockMu sync.Mutex
	offset  time.Duration

	clientsMu sync.Mutex
	clients   []*Client
}

// Start runs a vault serving every function, with the given clients in
// its registry (see NewClient).
func Start(t testing.TB, clients ...*Client) *Vault {
	t.Helper()
	return StartWith(t, Options{}, clients...)
}

// Options tune a test vault.
type Options struct {
	// KeyTTL and PrimaryTTL shorten the key cache, so that a rotation can
	// finish within a test.
	KeyTTL, PrimaryTTL time.Duration
	// InlineWork runs background work inside the request that starts it.
	InlineWork bool
	// JobBatchSize is the rows per import checkpoint (default 200).
	JobBatchSize int
	// Wrap hooks put test doubles around the adapters (see localmode).
	WrapDynamo  func(store.DynamoAPI) store.DynamoAPI
	WrapKeyring func(envelope.Keyring) envelope.Keyring
	WrapAudit   func(audit.Sink) audit.Sink
	// WrapHandler wraps the HTTP handler (to mark or inspect requests).
	WrapHandler func(http.Handler) http.Handler
}

// StartWith runs a vault with options.
func StartWith(t testing.TB, opts Options, clients ...*Client) *Vault {
	t.Helper()
	endpoint := dynalite.ForTest(t)
	dir := t.TempDir()
	v := &Vault{t: t, Dir: dir, Logs: &SyncBuffer{}}
	v.guardLeaks()
	logger := logging.New(v.Logs, slog.LevelDebug)
	env, err := localmode.Start(context.Background(), localmode.Settings{
		Dir:              dir,
		DynamoDBEndpoint: endpoint,
		Table:            "t_" + randomHex(8),
		Now:              v.Now,
		KeyOptions:       envelope.Options{KeyTTL: opts.KeyTTL, PrimaryTTL: opts.PrimaryTTL},
		InlineWork:       opts.InlineWork,
		JobBatchSize:     opts.JobBatchSize,
		WrapDynamo:       opts.WrapDynamo,
		WrapKeyring:      opts.WrapKeyring,
		WrapAudit:        opts.WrapAudit,
	}, logger)
	if err != nil {
		t.Fatalf("local vault: %v", err)
	}
	t.Cleanup(env.Close)
	v.Env = env
	v.SetClients(clients...)
	v.API, err = env.API(app.Functions...)
	if err != nil {
		t.Fatal(err)
	}
	handler := env.Handler(v.API)
	if opts.WrapHandler != nil {
		handler = opts.WrapHandler(handler)
	}
	// The local server's own configuration and listener, so that tests
	// see what make run answers (its header bound included).
	v.Server = httptest.NewUnstartedServer(handler)
	config := httpapi.NewServer(v.API)
	config.Handler = handler
	v.Server.Config = config
	v.Server.Listener = httpapi.Listener(v.Server.Listener, v.API)
	v.Server.Start()
	env.SetFilesBaseURL(v.Server.URL)
	t.Cleanup(v.Server.Close)
	return v
}

// Now is the vault's clock: real time plus the test's offset.
func (v *Vault) Now() time.Time {
	v.clockMu.Lock()
	defer v.clockMu.Unlock()
	return time.Now().Add(v.offset)
}

// Advance moves the vault's clock (and the clients' iat) forward.
func (v *Vault) Advance(d time.Duration) {
	v.clockMu.Lock()
	defer v.clockMu.Unlock()
	v.offset += d
}

// SetClients replaces the registry file with the given clients.
func (v *Vault) SetClients(clients ...*Client) {
	v.t.Helper()
	v.clientsMu.Lock()
	defer v.clientsMu.Unlock()
	entries := make([]json.RawMessage, 0, len(clients))
	for _, c := range clients {
		c.vault = v
		entries = append(entries, c.registryEntry())
	}
	v.clients = clients
	doc, _ := json.Marshal(map[string]any{"clients": entries})
	path := v.Env.Settings.ClientsFile
	// Write a new file and rename it over the old one, so the vault never
	// reads a half-written registry; bump the time so a rewrite within the
	// same clock tick is still noticed.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, doc, 0o600); err != nil {
		v.t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		v.t.Fatal(err)
	}
	future := time.Now().Add(time.Duration(len(v.clients)+1) * time.Second)
	_ = os.Chtimes(path, future, future)
}

// SetDestinations replaces the forward destinations file with doc, the
// way an operator's edit would (the vault follows it without a restart).
func (v *Vault) SetDestinations(doc string) {
	v.t.Helper()
	replaceFile(v.t, v.Env.Settings.DestinationsFile, []byte(doc))
}

// replaceFile writes a new file and renames it over path, with a
// modification time no earlier file of the test had, so that a rewrite
// within one clock tick is still noticed.
func replaceFile(t testing.TB, path string, doc []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	stamp := nextStamp()
	_ = os.Chtimes(path, stamp, stamp)
}

var stamps struct {
	sync.Mutex
	last time.Time
}

func nextStamp() time.Time {
	stamps.Lock()
	defer stamps.Unlock()
	now := time.Now().Add(time.Hour)
	if !now.After(stamps.last) {
		now = stamps.last.Add(time.Second)
	}
	stamps.last = now
	return now
}

// Items returns every item of the vault's table.
func (v *Vault) Items() []map[string]types.AttributeValue {
	v.t.Helper()
	items, err := v.Env.Store.ScanAll(context.Background())
	if err != nil {
		v.t.Fatal(err)
	}
	return items
}

// TableDump is a canonical text form of the whole table, for comparing
// before and after a request and for searching for leaked values.
func (v *Vault) TableDump() string {
	v.t.Helper()
	var lines []string
	for _, item := range v.Items() {
		lines = append(lines, dumpItem(item))
	}
	sortStrings(lines)
	return strings.Join(lines, "\n")
}

// AuditEvents reads the audit file.
func (v *Vault) AuditEvents() []map[string]any {
	v.t.Helper()
	data, err := os.ReadFile(filepath.Join(v.Dir, localmode.AuditFile))
	if err != nil {
		v.t.Fatal(err)
	}
	var events []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var e map[string]any
		if err := json.Unmarshal(line, &e); err != nil {
			v.t.Fatalf("audit line is not JSON: %v", err)
		}
		events = append(events, e)
	}
	return events
}

// AuditText is the raw audit file, for leak searches.
func (v *Vault) AuditText() string {
	data, _ := os.ReadFile(filepath.Join(v.Dir, localmode.AuditFile))
	return string(data)
}

// Do sends a request to the vault.
func (v *Vault) Do(method, path string, headers map[string]string, body string) *Response {
	v.t.Helper()
	req, err := http.NewRequest(method, v.Server.URL+path, strings.NewReader(body))
	if err != nil {
		v.t.Fatal(err)
	}
	for k, val := range headers {
		req.Header.Set(k, val)
	}
	resp, err := v.Server.Client().Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	r := &Response{Status: resp.StatusCode, Header: resp.Header, Body: buf.String()}
	_ = json.Unmarshal(buf.Bytes(), &r.JSON)
	return r
}

// Response is a vault answer.
type Response struct {
	Status int
	Header http.Header
	Body   string
	JSON   map[string]any
}

// Code is the error code of an error answer.
func (r *Response) Code() string {
	e, _ := r.JSON["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
