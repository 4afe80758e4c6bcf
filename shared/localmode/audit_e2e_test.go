package localmode_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/awsfake"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/envelope/kmskeyring"
	"github.com/cardvault/vault/shared/internal/vaulttest"
	"github.com/cardvault/vault/shared/localmode"
	"github.com/cardvault/vault/shared/vaulterr"
)

// TestEveryOperationLeavesOneAuditEvent runs each operation of the
// contract once, successfully, and checks that exactly one event with
// the right fields was recorded for it, and that no event holds a
// sensitive value. The keyring is a KMS keyring against a loopback KMS,
// so events of operations that caused a KMS call carry its request id.
func TestEveryOperationLeavesOneAuditEvent(t *testing.T) {
	kms := awsfake.NewKMS(t)
	arn := kms.CreateKey()
	kmsClient := awsfake.NewKMSClient(t, kms.URL)
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	v := vaulttest.StartWith(t, vaulttest.Options{
		WrapKeyring: func(envelope.Keyring) envelope.Keyring { return kmskeyring.New(kmsClient, arn) },
		// The steps expect a warm key after vault_card (no KMS call for
		// the reveal): a key cache long enough for a loaded machine to take
		// those steps, short enough for rotate_keys, which runs inline here
		// and waits one key cache TTL before destroying the old version.
		KeyTTL:     3 * time.Second,
		PrimaryTTL: fastKeys.PrimaryTTL,
		InlineWork: true,
	}, c)
	const m = "m_audit"
	secretPath := "/v1/merchants/" + m + "/secrets/api-key"

	type step struct {
		op     string
		status int
		send   func() *vaulttest.Response
		token  bool
		secret bool
		kms    bool
	}
	var tok string
	steps := []step{
		{"vault_card", 201, func() *vaulttest.Response {
			r := c.VaultCard(t, m, map[string]any{"card": testCard(testPAN)}, jose.ECDH_ES_A256KW)
			tok, _ = r.JSON["token"].(string)
			return r
		}, true, false, true},
		{"get_masked", 200, func() *vaulttest.Response { return c.GetMasked(t, m, tok) }, true, false, false},
		{"reveal_card", 200, func() *vaulttest.Response { return reveal(t, c, m, tok) }, true, false, false},
		{"put_secret", 201, func() *vaulttest.Response {
			claims := c.Claims("put_secret", m, map[string]any{"name": "api-key", "value": testSecret})
			return c.PostJOSE(http.MethodPut, secretPath, c.Encrypt(t, c.Sign(t, claims), jose.RSA_OAEP_256))
		}, false, true, false},
		{"get_secret", 200, func() *vaulttest.Response {
			return c.Call(t, http.MethodGet, secretPath, "get_secret", m, map[string]any{"name": "api-key"})
		}, false, true, false},
		{"reveal_secret", 200, func() *vaulttest.Response { return revealSecret(t, c, m, "api-key") }, false, true, false},
		{"rotate_keys", 202, func() *vaulttest.Response {
			return c.Call(t, http.MethodPost, "/v1/merchants/"+m+"/keys/rotate", "rotate_keys", m, nil)
		}, false, false, true},
		{"get_keys", 200, func() *vaulttest.Response {
			return c.Call(t, http.MethodGet, "/v1/merchants/"+m+"/keys", "get_keys", m, nil)
		}, false, false, false},
		{"delete_secret", 204, func() *vaulttest.Response {
			return c.Call(t, http.MethodDelete, secretPath, "delete_secret", m, map[string]any{"name": "api-key"})
		}, false, true, false},
		{"delete_card", 204, func() *vaulttest.Response {
			return c.Call(t, http.MethodDelete, "/v1/cards/"+tok, "delete_card", m, map[string]any{"token": tok})
		}, true, false, false},
		{"shred_merchant", 204, func() *vaulttest.Response {
			return c.Call(t, http.MethodDelete, "/v1/merchants/"+m, "shred_merchant", m, nil)
		}, false, false, false},
		{"get_jwks", 200, func() *vaulttest.Response { return v.Do(http.MethodGet, "/v1/jwks", nil, "") }, false, false, false},
		{"health", 200, func() *vaulttest.Response { return v.Do(http.MethodGet, "/v1/health", nil, "") }, false, false, false},
	}
	for _, s := range steps {
		before := len(v.AuditEvents())
		r := s.send()
		if r.Status != s.status {
			t.Fatalf("%s: %d %s", s.op, r.Status, r.Body)
		}
		var mine []map[string]any
		for _, e := range v.AuditEvents()[before:] {
			if e["request_id"] != nil && e["action"] == s.op {
				mine = append(mine, e)
			}
		}
		if len(mine) != 1 {
			t.Fatalf("%s: %d request events, want exactly 1", s.op, len(mine))
		}
		e := mine[0]
		if e["outcome"] != "allowed" || e["event_id"] == "" || e["time"] == "" || e["request_id"] != r.Header.Get("X-Request-Id") ||
			e["source_ip"] != "127.0.0.1" || e["user_agent"] == nil {
			t.Fatalf("%s: event %v", s.op, e)
		}
		if !strings.HasPrefix(s.op, "get_jwks") && s.op != "health" {
			if e["client_id"] != "app" || e["merchant_id"] != m || e["jti"] == nil {
				t.Fatalf("%s: event lacks client, merchant or jti: %v", s.op, e)
			}
		}
		if s.token && e["token"] != tok {
			t.Fatalf("%s: event token %v, want %s", s.op, e["token"], tok)
		}
		if s.secret && e["secret_name"] != "api-key" {
			t.Fatalf("%s: event secret_name %v", s.op, e["secret_name"])
		}
		if ids, _ := e["kms_request_ids"].([]any); s.kms != (len(ids) > 0) {
			t.Fatalf("%s: kms_request_ids %v, want some: %v", s.op, ids, s.kms)
		}
		if s.op == "vault_card" || s.op == "reveal_card" {
			if e["key_version"] != float64(1) {
				t.Fatalf("%s: key_version %v", s.op, e["key_version"])
			}
		}
	}
	// Every KMS request id in the trail names a call the KMS really got.
	seen := map[string]bool{}
	for _, req := range kms.Requests() {
		seen[req.RequestID] = true
	}
	for _, e := range v.AuditEvents() {
		ids, _ := e["kms_request_ids"].([]any)
		for _, id := range ids {
			if !seen[id.(string)] {
				t.Fatalf("audit names KMS request %v, which KMS never answered", id)
			}
		}
	}
	text := v.AuditText()
	for _, needle := range []string{testPAN, testHolder, testSecret} {
		if strings.Contains(text, needle) {
			t.Fatal("an audit event holds a sensitive value")
		}
	}
	verifyChain(t, v.Dir)
}

func verifyChain(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, localmode.AuditFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := audit.Verify(f)
	if err != nil {
		t.Fatalf("the audit chain of a real run does not verify: %v", err)
	}
	if res.Events == 0 {
		t.Fatal("empty audit trail")
	}
}

// failingSink fails while down is set.
type failingSink struct {
	audit.Sink
	down atomic.Bool
}

func (s *failingSink) Record(ctx context.Context, e audit.Event) error {
	if s.down.Load() {
		return errors.New("audit bus unreachable")
	}
	return s.Sink.Record(ctx, e)
}

// TestRevealFailsClosedWhenAuditIsDown: card data never leaves the vault
// unaudited.
func TestRevealFailsClosedWhenAuditIsDown(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	var sink *failingSink
	v := vaulttest.StartWith(t, vaulttest.Options{WrapAudit: func(s audit.Sink) audit.Sink {
		sink = &failingSink{Sink: s}
		return sink
	}}, c)
	tok := vaultOne(t, c, "m_fc", testPAN)
	putSecret(t, c, "m_fc", "api-key", testSecret)
	sink.down.Store(true)
	for _, r := range []*vaulttest.Response{reveal(t, c, "m_fc", tok), revealSecret(t, c, "m_fc", "api-key")} {
		if r.Status != http.StatusServiceUnavailable || r.Code() != "unavailable" || r.Header.Get("Retry-After") == "" {
			t.Fatalf("reveal with the audit trail down: %d %s", r.Status, r.Body)
		}
		if strings.Contains(r.Body, testPAN) || strings.Contains(r.Body, "eyJ") {
			t.Fatal("a failed reveal carried data")
		}
	}
	// Operations that release nothing still answer; their events are
	// logged.
	if g := c.GetMasked(t, "m_fc", tok); g.Status != http.StatusOK {
		t.Fatalf("get_masked with the audit trail down: %d", g.Status)
	}
	sink.down.Store(false)
	if r := reveal(t, c, "m_fc", tok); r.Status != http.StatusOK {
		t.Fatalf("reveal after recovery: %d %s", r.Status, r.Body)
	}
	_ = v
}

// TestAuditChainDetectsTampering edits, removes and reorders lines of a
// real run's audit file.
func TestAuditChainDetectsTampering(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	v := vaulttest.Start(t, c)
	tok := vaultOne(t, c, "m_chain", testPAN)
	for range 3 {
		c.GetMasked(t, "m_chain", tok)
	}
	path := filepath.Join(v.Dir, localmode.AuditFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) < 4 {
		t.Fatalf("only %d audit lines", len(lines))
	}
	check := func(name string, lines []string, wantLine int) {
		t.Helper()
		_, err := audit.Verify(strings.NewReader(strings.Join(lines, "\n") + "\n"))
		var br *audit.ChainBreak
		if !errors.As(err, &br) || br.Line != wantLine {
			t.Fatalf("%s: got %v, want a break at line %d", name, err, wantLine)
		}
	}
	edited := append([]string(nil), lines...)
	edited[2] = strings.Replace(edited[2], `"outcome":"allowed"`, `"outcome":"refused"`, 1)
	check("edited", edited, 3)
	removed := append(append([]string(nil), lines[:1]...), lines[2:]...)
	check("removed", removed, 2)
	reordered := append([]string(nil), lines...)
	reordered[1], reordered[2] = reordered[2], reordered[1]
	check("reordered", reordered, 2)
	verifyChain(t, v.Dir)
}

// downKeyring fails every call while down is set, as the KMS keyring
// does when KMS cannot be reached.
type downKeyring struct {
	envelope.Keyring
	down atomic.Bool
}

func (k *downKeyring) Unwrap(ctx context.Context, w envelope.WrappedKey, ec envelope.EncryptionContext) ([]byte, envelope.Call, error) {
	if k.down.Load() {
		return nil, envelope.Call{}, vaulterr.New(vaulterr.Unavailable, "key service unavailable")
	}
	return k.Keyring.Unwrap(ctx, w, ec)
}

func (k *downKeyring) Wrap(ctx context.Context, key []byte, ec envelope.EncryptionContext) (envelope.WrappedKey, envelope.Call, error) {
	if k.down.Load() {
		return envelope.WrappedKey{}, envelope.Call{}, vaulterr.New(vaulterr.Unavailable, "key service unavailable")
	}
	return k.Keyring.Wrap(ctx, key, ec)
}

// TestRefusalAndFailureCodesAreAudited covers the codes the refusal suite
// cannot reach with a well-behaved vault: a refused secret, a tampered
// record and a key service outage each leave exactly one event with their
// code.
func TestRefusalAndFailureCodesAreAudited(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	var kr *downKeyring
	v := vaulttest.StartWith(t, vaulttest.Options{WrapKeyring: func(k envelope.Keyring) envelope.Keyring {
		kr = &downKeyring{Keyring: k}
		return kr
	}}, c)
	expect := func(name string, r *vaulttest.Response, before int, status int, code, outcome string) {
		t.Helper()
		if r.Status != status || r.Code() != code {
			t.Fatalf("%s: %d %s", name, r.Status, r.Body)
		}
		var mine []map[string]any
		for _, e := range v.AuditEvents()[before:] {
			if e["request_id"] == r.Header.Get("X-Request-Id") {
				mine = append(mine, e)
			}
		}
		if len(mine) != 1 || mine[0]["error_code"] != code || mine[0]["outcome"] != outcome {
			t.Fatalf("%s: events %v", name, mine)
		}
	}

	before := len(v.AuditEvents())
	claims := c.Claims("put_secret", "m_codes", map[string]any{"name": "api-key", "value": strings.Repeat("x", 32<<10+1)})
	r := c.PostJOSE(http.MethodPut, "/v1/merchants/m_codes/secrets/api-key", c.Encrypt(t, c.Sign(t, claims), jose.RSA_OAEP_256))
	expect("invalid_secret", r, before, http.StatusUnprocessableEntity, "invalid_secret", "refused")

	a, b := vaultOne(t, c, "m_codes", testPAN), vaultOne(t, c, "m_codes", "5555555555554444")
	moveSealed(t, v, a, b)
	before = len(v.AuditEvents())
	expect("integrity_error", reveal(t, c, "m_codes", b), before, http.StatusInternalServerError, "integrity_error", "failed")

	kr.down.Store(true)
	before = len(v.AuditEvents())
	r = c.VaultCard(t, "m_codes_new", map[string]any{"card": testCard(testPAN)}, jose.ECDH_ES_A256KW)
	expect("unavailable", r, before, http.StatusServiceUnavailable, "unavailable", "failed")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}
