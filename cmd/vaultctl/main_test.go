package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/client"
)

// runCLI runs vaultctl in-process and returns exit code, stdout and stderr.
func runCLI(t *testing.T, stdin string, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := newApp(strings.NewReader(stdin), &stdout, &stderr, func(k string) string { return env[k] })
	a.pollInterval = time.Millisecond
	code := a.run(context.Background(), args)
	return code, stdout.String(), stderr.String()
}

func TestKeysGenerateWritesPrivateFileAndPrintsPublicEntry(t *testing.T) {
	out := filepath.Join(t.TempDir(), "creds.json")
	code, stdout, stderr := runCLI(t, "", nil, "keys", "generate", "--id", "shop-app", "--enc", "RSA",
		"--merchants", "m_1,m_2", "--ops", "vault_card,reveal_card", "--out", out)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	info, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("credentials file mode %v, want 0600", info.Mode().Perm())
	}
	creds, err := client.LoadCredentials(out)
	if err != nil {
		t.Fatalf("written file does not load: %v", err)
	}
	if creds.ClientID != "shop-app" || creds.EncryptionAlgorithm() != client.KeyAlgRSA {
		t.Errorf("credentials = %v", creds)
	}

	var entry struct {
		ID         string   `json:"id"`
		Merchants  []string `json:"merchants"`
		Operations []string `json:"operations"`
		Keys       struct {
			Keys []map[string]any `json:"keys"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(stdout), &entry); err != nil {
		t.Fatalf("stdout is not the registry entry JSON: %v", err)
	}
	if entry.ID != "shop-app" || strings.Join(entry.Merchants, ",") != "m_1,m_2" ||
		strings.Join(entry.Operations, ",") != "vault_card,reveal_card" || len(entry.Keys.Keys) != 2 {
		t.Errorf("entry = %s", stdout)
	}
	for _, k := range entry.Keys.Keys {
		for _, member := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, has := k[member]; has {
				t.Errorf("registry entry key %v holds private member %q", k["kid"], member)
			}
		}
	}

	before, _ := os.ReadFile(out)
	if code, _, stderr := runCLI(t, "", nil, "keys", "generate", "--id", "shop-app", "--out", out); code != exitFailed || !strings.Contains(stderr, "--force") {
		t.Errorf("overwrite without --force: exit %d, %s", code, stderr)
	}
	if after, _ := os.ReadFile(out); !bytes.Equal(before, after) {
		t.Error("file changed without --force")
	}
	if code, _, stderr := runCLI(t, "", nil, "keys", "generate", "--id", "shop-app", "--out", out, "--force"); code != exitOK {
		t.Fatalf("--force: exit %d: %s", code, stderr)
	}
	if after, _ := os.ReadFile(out); bytes.Equal(before, after) {
		t.Error("--force did not replace the file")
	}
	if info, _ := os.Stat(out); info.Mode().Perm() != 0o600 {
		t.Errorf("replaced file mode %v", info.Mode().Perm())
	}
}

func TestKeysGenerateRefusesUnknownOperation(t *testing.T) {
	out := filepath.Join(t.TempDir(), "creds.json")
	code, _, stderr := runCLI(t, "", nil, "keys", "generate", "--id", "x", "--ops", "vault_card,steal", "--out", out)
	if code != exitFailed || !strings.Contains(stderr, `unknown operation "steal"`) {
		t.Errorf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("a credentials file was left behind")
	}
}

// writeCreds writes fresh credentials and returns the environment that
// points vaultctl at them and at url.
func writeCreds(t *testing.T, url string) map[string]string {
	t.Helper()
	creds, err := client.GenerateCredentials("app-server", client.KeyAlgECDH)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := creds.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "demo-client.json"), doc, 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"VAULT_URL": url, "VAULT_LOCAL_DIR": dir}
}

func TestAPIErrorIsPrintedWithCodeMessageAndRequestID(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"code":"not_found","message":"no such card","request_id":"req-9"}}`)
	}))
	defer srv.Close()
	code, stdout, stderr := runCLI(t, "", writeCreds(t, srv.URL), "masked", "tok_1", "--merchant", "m_1")
	if code != exitFailed || stderr != "error: not_found: no such card (request req-9)\n" || stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestVaultReadsTheNumberFromStdin(t *testing.T) {
	vaultKey := jose.JSONWebKey{Use: "enc", KeyID: "vault-enc-1", Algorithm: client.KeyAlgECDH}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	vaultKey.Key = priv
	var mu sync.Mutex
	var gotCard map[string]any
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{vaultKey.Public()}})
	})
	mux.HandleFunc("POST /v1/cards", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		obj, err := jose.ParseEncryptedCompact(string(body), []jose.KeyAlgorithm{jose.ECDH_ES_A256KW}, []jose.ContentEncryption{jose.A256GCM})
		if err != nil {
			t.Errorf("body is not a JWE: %v", err)
			return
		}
		plain, err := obj.Decrypt(priv)
		if err != nil {
			t.Errorf("decrypt: %v", err)
			return
		}
		jws, err := jose.ParseSignedCompact(string(plain), []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Errorf("not a JWS: %v", err)
			return
		}
		// The client package's tests verify signatures; here only the
		// card the CLI put in the claims matters.
		var claims struct {
			Card map[string]any `json:"card"`
		}
		json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims)
		mu.Lock()
		gotCard = claims.Card
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"token":"tok_1","merchant_id":"m_1","fingerprint":"fp_1","duplicate":false,
			"masked":{"first4":"4242","last4":"4242","display":"4242 **** **** 4242","brand":"visa","exp_month":12,"exp_year":2030},
			"created_at":"2026-11-22T10:00:00Z"}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	code, stdout, stderr := runCLI(t, "4242424242424242\n", writeCreds(t, srv.URL),
		"vault", "--merchant", "m_1", "--number", "-", "--exp", "12/2030", "--holder", "Jane Doe")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if gotCard["number"] != "4242424242424242" || gotCard["exp_month"] != float64(12) || gotCard["exp_year"] != float64(2030) || gotCard["holder_name"] != "Jane Doe" {
		t.Errorf("card claim = %v", gotCard != nil)
	}
	var rec client.CardRecord
	if err := json.Unmarshal([]byte(stdout), &rec); err != nil || rec.Token != "tok_1" || rec.Masked.Display != "4242 **** **** 4242" {
		t.Errorf("stdout = %s (%v)", stdout, err)
	}
	if strings.Contains(stdout+stderr, "4242424242424242") {
		t.Error("the card number was printed")
	}
}

func TestKeysStatusWatchDrawsProgressUntilIdle(t *testing.T) {
	var mu sync.Mutex
	polls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/merchants/m_1/keys" || !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
		}
		mu.Lock()
		polls++
		n := polls
		mu.Unlock()
		rotation := map[string]any{"state": "running", "reencrypted": 50 * n, "remaining": 150 - 50*n}
		if n == 3 {
			rotation["state"] = "idle"
		}
		json.NewEncoder(w).Encode(map[string]any{"merchant_id": "m_1", "primary_version": 2,
			"versions": []map[string]any{{"version": 2, "state": "primary", "records": 150}}, "rotation": rotation})
	}))
	defer srv.Close()
	code, stdout, stderr := runCLI(t, "", writeCreds(t, srv.URL), "keys", "status", "--merchant", "m_1", "--watch")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "rotation running [##########--------------------]  33.3% 50/150 records") ||
		!strings.Contains(stderr, "rotation running [####################----------]  66.7% 100/150 records") {
		t.Errorf("progress = %q", stderr)
	}
	var st client.KeyStatus
	if err := json.Unmarshal([]byte(stdout), &st); err != nil || st.Rotation.State != client.RotationIdle {
		t.Errorf("final status = %s (%v)", stdout, err)
	}
}

func TestWatchStopsWhenInterrupted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"merchant_id":"m_1","rotation":{"state":"running","reencrypted":1,"remaining":9}}`)
	}))
	defer srv.Close()
	env := writeCreds(t, srv.URL)
	drawn := &signalWriter{match: "rotation running", seen: make(chan struct{})}
	a := newApp(strings.NewReader(""), io.Discard, drawn, func(k string) string { return env[k] })
	a.pollInterval = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() { done <- a.run(ctx, []string{"keys", "status", "--merchant", "m_1", "--watch"}) }()
	// Interrupt once the first bar is drawn: the hour-long wait must end.
	<-drawn.seen
	cancel()
	if code := <-done; code != exitInterrupted {
		t.Errorf("exit %d, want %d", code, exitInterrupted)
	}
}

// signalWriter closes seen the first time a write contains match.
type signalWriter struct {
	match string
	seen  chan struct{}
	once  sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.match) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func TestShredNeedsConfirmation(t *testing.T) {
	code, _, stderr := runCLI(t, "", nil, "shred", "--merchant", "m_1")
	if code != exitUsage || !strings.Contains(stderr, "--yes") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"nope"},
		{"reveal", "--merchant", "m_1"},
		{"vault", "--merchant", "m_1", "--number", "4242424242424242", "--exp", "2030-12"},
		{"secret", "put", "--merchant", "m_1", "--name", "n"},
		{"keys", "generate", "--id", "x"},
	} {
		if code, _, _ := runCLI(t, "", nil, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

func TestRenderProgress(t *testing.T) {
	got := renderProgress(client.Rotation{State: "running", Reencrypted: 0, Remaining: 0})
	if got != "rotation running [------------------------------]   0.0% 0/0 records" {
		t.Errorf("empty rotation = %q", got)
	}
	got = renderProgress(client.Rotation{State: "running", Reencrypted: 116, Remaining: 4})
	if !strings.HasPrefix(got, "rotation running [#############################-]  96.7% 116/120") {
		t.Errorf("progress = %q", got)
	}
}
