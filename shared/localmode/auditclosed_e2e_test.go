package localmode_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/internal/vaulttest"
)

// refusingSink refuses every event while down is set; with recordFirst it
// records the event and then reports a failure, as an EventBridge call
// that timed out after the bus took the event does.
type refusingSink struct {
	audit.Sink
	down        atomic.Bool
	recordFirst atomic.Bool
}

func (s *refusingSink) Record(ctx context.Context, e audit.Event) error {
	if !s.down.Load() {
		return s.Sink.Record(ctx, e)
	}
	if s.recordFirst.Load() {
		if err := s.Sink.Record(ctx, e); err != nil {
			return err
		}
	}
	return errors.New("audit bus unreachable")
}

// tableWithoutReplayIDs is the table, one JSON line per item in sorted
// order, without the request ids a request spends at step 10, which a
// request failed after it keeps spent, and without secret version
// tombstones, which an undone put leaves for the version number it took
// (so that no put can take that number again: docs/table.md). A
// tombstone must hold nothing but its keys, merchant, name, number, kind
// and expiry; one that replaced a live version still shows, as that
// version's line is gone.
func tableWithoutReplayIDs(t *testing.T, v *vaulttest.Vault) string {
	t.Helper()
	var lines []string
	for _, item := range v.Items() {
		var it map[string]any
		if err := attributevalue.UnmarshalMap(item, &it); err != nil {
			t.Fatal(err)
		}
		if pk, _ := it["pk"].(string); strings.HasPrefix(pk, "JTI#") {
			continue
		}
		if _, ok := it["tombstone"]; ok {
			for attr := range it {
				switch attr {
				case "pk", "sk", "merchant_id", "name", "version", "tombstone", "ttl":
				default:
					t.Fatalf("a secret version tombstone keeps %s", attr)
				}
			}
			continue
		}
		line, err := json.Marshal(it)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(line))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestWritesFailClosedWhenAuditIsDown: with the audit trail refusing
// every event, each operation that stores, reveals or destroys card data
// or secrets answers 503 unavailable and leaves the table as it was: a
// write it made before its event was refused is undone (vault_card,
// put_secret), and a destruction is not made at all, because its event
// is recorded before it (delete_card, delete_secret, shred_merchant).
// rotate_keys answers 503 too, and its new key version stays (documented:
// it cannot be taken back and holds no data). Reads answer.
func TestWritesFailClosedWhenAuditIsDown(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	var sink *refusingSink
	v := vaulttest.StartWith(t, vaulttest.Options{WrapAudit: func(s audit.Sink) audit.Sink {
		sink = &refusingSink{Sink: s}
		return sink
	}}, c)
	const m = "m_closed"
	tok := vaultOne(t, c, m, testPAN)
	putSecret(t, c, m, "api-key", testSecret)
	secretPath := "/v1/merchants/" + m + "/secrets/api-key"

	newCard := testCard("5555555555554444")
	renewed := testCard(testPAN)
	renewed["exp_month"] = 3
	steps := []struct {
		op   string
		send func() *vaulttest.Response
	}{
		{"vault_card (new card)", func() *vaulttest.Response {
			return c.VaultCard(t, m, map[string]any{"customer_id": "c_1", "card": newCard}, jose.ECDH_ES_A256KW)
		}},
		{"vault_card (duplicate, new expiry)", func() *vaulttest.Response {
			return c.VaultCard(t, m, map[string]any{"customer_id": "c_1", "card": renewed}, jose.ECDH_ES_A256KW)
		}},
		{"put_secret (new secret)", func() *vaulttest.Response {
			claims := c.Claims("put_secret", m, map[string]any{"name": "other", "value": testSecret})
			return c.PostJOSE(http.MethodPut, "/v1/merchants/"+m+"/secrets/other", c.Encrypt(t, c.Sign(t, claims), jose.ECDH_ES_A256KW))
		}},
		{"put_secret (new version)", func() *vaulttest.Response {
			claims := c.Claims("put_secret", m, map[string]any{"name": "api-key", "value": "sk_live_a_new_value_0123456789"})
			return c.PostJOSE(http.MethodPut, secretPath, c.Encrypt(t, c.Sign(t, claims), jose.ECDH_ES_A256KW))
		}},
		{"reveal_card", func() *vaulttest.Response { return reveal(t, c, m, tok) }},
		{"reveal_secret", func() *vaulttest.Response { return revealSecret(t, c, m, "api-key") }},
		{"delete_card", func() *vaulttest.Response {
			return c.Call(t, http.MethodDelete, "/v1/cards/"+tok, "delete_card", m, map[string]any{"token": tok})
		}},
		{"delete_secret", func() *vaulttest.Response {
			return c.Call(t, http.MethodDelete, secretPath, "delete_secret", m, map[string]any{"name": "api-key"})
		}},
		{"shred_merchant", func() *vaulttest.Response {
			return c.Call(t, http.MethodDelete, "/v1/merchants/"+m, "shred_merchant", m, nil)
		}},
	}
	for _, s := range steps {
		before, events := tableWithoutReplayIDs(t, v), len(v.AuditEvents())
		sink.down.Store(true)
		r := s.send()
		sink.down.Store(false)
		if r.Status != http.StatusServiceUnavailable || r.Code() != "unavailable" || r.Header.Get("Retry-After") == "" {
			t.Fatalf("%s with the audit trail down: %d %s", s.op, r.Status, r.Body)
		}
		if strings.Contains(r.Body, testPAN) || strings.Contains(r.Body, testSecret) || strings.Contains(r.Body, "tok_") {
			t.Fatalf("%s: the 503 carried data: %s", s.op, r.Body)
		}
		if after := tableWithoutReplayIDs(t, v); after != before {
			t.Fatalf("%s with the audit trail down changed the table:\nbefore:\n%s\nafter:\n%s", s.op, before, after)
		}
		if n := len(v.AuditEvents()); n != events {
			t.Fatalf("%s: %d events recorded by a sink that refused them all", s.op, n-events)
		}
	}

	// Reads release nothing that needs a key and change nothing: they
	// answer, and their events are logged.
	sink.down.Store(true)
	for what, r := range map[string]*vaulttest.Response{
		"get_masked": c.GetMasked(t, m, tok),
		"get_secret": c.Call(t, http.MethodGet, secretPath, "get_secret", m, map[string]any{"name": "api-key"}),
		"get_keys":   c.Call(t, http.MethodGet, "/v1/merchants/"+m+"/keys", "get_keys", m, nil),
	} {
		if r.Status != http.StatusOK {
			t.Fatalf("%s with the audit trail down: %d %s", what, r.Status, r.Body)
		}
	}
	r := c.Call(t, http.MethodPost, "/v1/merchants/"+m+"/keys/rotate", "rotate_keys", m, nil)
	sink.down.Store(false)
	if r.Status != http.StatusServiceUnavailable || r.Code() != "unavailable" {
		t.Fatalf("rotate_keys with the audit trail down: %d %s", r.Status, r.Body)
	}

	// Everything is as it was before the outage.
	if r := reveal(t, c, m, tok); r.Status != http.StatusOK || c.OpenResponse(t, r.Body)["card"].(map[string]any)["exp_month"] != float64(12) {
		t.Fatalf("the card after the outage: %d %s", r.Status, r.Body)
	}
	if r := revealSecret(t, c, m, "api-key"); r.Status != http.StatusOK || c.OpenResponse(t, r.Body)["value"] != testSecret {
		t.Fatalf("the secret after the outage: %d %s", r.Status, r.Body)
	}
	if r := c.VaultCard(t, m, map[string]any{"customer_id": "c_1", "card": newCard}, jose.ECDH_ES_A256KW); r.Status != http.StatusCreated {
		t.Fatalf("vault_card of the card whose first vaulting was undone: %d %s, want 201 (a new card)", r.Status, r.Body)
	}
	if r := c.Call(t, http.MethodGet, "/v1/merchants/"+m+"/secrets/other", "get_secret", m, map[string]any{"name": "other"}); r.Status != http.StatusNotFound {
		t.Fatalf("get_secret of the secret whose put was undone: %d %s", r.Status, r.Body)
	}
}

// TestUndoneWriteLeavesItsOutcomeInTheTrail: when the sink takes an event
// but reports a failure (a timeout after the bus accepted it), the vault
// cannot know the event is kept, so it undoes the write and answers 503;
// the trail then holds the allowed event and, after it, a failed one for
// the same request, which is the request's outcome.
func TestUndoneWriteLeavesItsOutcomeInTheTrail(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	var sink *refusingSink
	v := vaulttest.StartWith(t, vaulttest.Options{WrapAudit: func(s audit.Sink) audit.Sink {
		sink = &refusingSink{Sink: s}
		return sink
	}}, c)
	const m = "m_undone"
	vaultOne(t, c, m, testPAN)
	before := len(v.AuditEvents())
	sink.recordFirst.Store(true)
	sink.down.Store(true)
	r := c.VaultCard(t, m, map[string]any{"customer_id": "c_2", "card": testCard(testPAN)}, jose.ECDH_ES_A256KW)
	sink.down.Store(false)
	if r.Status != http.StatusServiceUnavailable || r.Code() != "unavailable" {
		t.Fatalf("vault_card with an unconfirmed audit event: %d %s", r.Status, r.Body)
	}
	var outcomes []string
	for _, e := range v.AuditEvents()[before:] {
		if e["request_id"] == r.Header.Get("X-Request-Id") {
			outcomes = append(outcomes, e["outcome"].(string)+"/"+stringOf(e["error_code"]))
		}
	}
	if strings.Join(outcomes, " ") != "allowed/ failed/unavailable" {
		t.Fatalf("events of the undone request: %v, want allowed then failed", outcomes)
	}
	if r := c.VaultCard(t, m, map[string]any{"customer_id": "c_2", "card": testCard(testPAN)}, jose.ECDH_ES_A256KW); r.Status != http.StatusCreated {
		t.Fatalf("vault_card after the undone one: %d %s, want 201", r.Status, r.Body)
	}
	verifyChain(t, v.Dir)
}

func stringOf(v any) string {
	s, _ := v.(string)
	return s
}
