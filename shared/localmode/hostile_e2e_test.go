package localmode_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/internal/vaulttest"
)

// panShaped makes a Luhn-valid 16-digit number from a 15-digit prefix:
// something a careless or hostile client could put anywhere.
func panShaped(prefix string) string {
	sum := 0
	for i := len(prefix) - 1; i >= 0; i-- {
		d := int(prefix[i] - '0')
		if (len(prefix)-i)%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return prefix + string(rune('0'+(10-sum%10)%10))
}

// One card-number-shaped value per place a client chooses, so a leak
// names its way in.
var hostile = struct {
	merchant, customer, secretName, jti, kid, pathToken, claimToken string
	query, userAgent, header, unknownPath, replayJTI                string
}{
	merchant:    panShaped("438474075555679"),
	customer:    panShaped("438474075555680"),
	secretName:  panShaped("438474075555681"),
	jti:         panShaped("438474075555682"),
	kid:         panShaped("438474075555683"),
	pathToken:   panShaped("438474075555684"),
	claimToken:  panShaped("438474075555685"),
	query:       panShaped("438474075555686"),
	userAgent:   panShaped("438474075555687"),
	header:      panShaped("438474075555688"),
	unknownPath: panShaped("438474075555689"),
	replayJTI:   panShaped("438474075555690"),
}

func init() {
	vaulttest.Sensitive(hostile.merchant, hostile.customer, hostile.secretName, hostile.jti, hostile.kid,
		hostile.pathToken, hostile.claimToken, hostile.query, hostile.userAgent, hostile.header,
		hostile.unknownPath, hostile.replayJTI)
}

// TestCardNumbersInEveryClientChosenPlaceReachNoOutput sends card-number
// shaped values in every place a client chooses (path segments, merchant,
// customer, secret name, jti, kid, token, query string, headers) through
// requests that succeed, are refused and start background work, and
// scans everything the vault wrote: its log lines (request log, error
// and background work lines), its audit trail and its answers. Answers
// may echo the caller's own merchant, customer and secret name where the
// contract says so, and nothing else.
func TestCardNumbersInEveryClientChosenPlaceReachNoOutput(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	// The audit sink refuses get_secret's event with an error quoting the
	// event, so that an error log line carries every client-chosen value.
	v := vaulttest.StartWith(t, vaulttest.Options{WrapAudit: func(s audit.Sink) audit.Sink {
		return quotingFailSink{Sink: s, action: "get_secret"}
	}}, c)
	m := hostile.merchant
	secretPath := "/v1/merchants/" + m + "/secrets/" + hostile.secretName
	claims := func(op string, extra map[string]any) map[string]any { return c.Claims(op, m, extra) }
	withHeaders := func(jws string, more map[string]string) map[string]string {
		h := map[string]string{"Authorization": "Bearer " + jws, "User-Agent": hostile.userAgent, "X-Card": hostile.header}
		for k, val := range more {
			h[k] = val
		}
		return h
	}
	replayed := c.Sign(t, claims("get_keys", map[string]any{"jti": hostile.replayJTI}))

	steps := []struct {
		name   string
		send   func() *vaulttest.Response
		status int
	}{
		{"vault_card with merchant, customer and jti", func() *vaulttest.Response {
			jwe := c.Encrypt(t, c.Sign(t, claims("vault_card", map[string]any{
				"customer_id": hostile.customer, "jti": hostile.jti, "card": testCard(testPAN)})), jose.ECDH_ES_A256KW)
			return v.Do(http.MethodPost, "/v1/cards?q="+hostile.query, map[string]string{
				"Content-Type": "application/jose", "User-Agent": hostile.userAgent, "X-Card": hostile.header}, jwe)
		}, http.StatusCreated},
		{"get_masked of a card-shaped token", func() *vaulttest.Response {
			jws := c.Sign(t, claims("get_masked", map[string]any{"token": hostile.pathToken}))
			return v.Do(http.MethodGet, "/v1/cards/"+hostile.pathToken, withHeaders(jws, nil), "")
		}, http.StatusNotFound},
		{"token claim differing from the path", func() *vaulttest.Response {
			jws := c.Sign(t, claims("get_masked", map[string]any{"token": hostile.claimToken}))
			return v.Do(http.MethodGet, "/v1/cards/"+hostile.pathToken, withHeaders(jws, nil), "")
		}, http.StatusForbidden},
		{"put_secret under a card-shaped name", func() *vaulttest.Response {
			jwe := c.Encrypt(t, c.Sign(t, claims("put_secret", map[string]any{
				"name": hostile.secretName, "value": testSecret, "metadata": map[string]string{"k": "v"}})), jose.ECDH_ES_A256KW)
			return v.Do(http.MethodPut, secretPath+"?q="+hostile.query, map[string]string{"Content-Type": "application/jose", "User-Agent": hostile.userAgent}, jwe)
		}, http.StatusCreated},
		{"get_secret", func() *vaulttest.Response {
			return v.Do(http.MethodGet, secretPath, withHeaders(c.Sign(t, claims("get_secret", map[string]any{"name": hostile.secretName})), nil), "")
		}, http.StatusOK},
		{"get_keys with a query string", func() *vaulttest.Response {
			return v.Do(http.MethodGet, "/v1/merchants/"+m+"/keys?merchant_id="+hostile.query, withHeaders(c.Sign(t, claims("get_keys", nil)), nil), "")
		}, http.StatusOK},
		{"a jti", func() *vaulttest.Response {
			return v.Do(http.MethodGet, "/v1/merchants/"+m+"/keys", withHeaders(replayed, nil), "")
		}, http.StatusOK},
		{"the same jti again", func() *vaulttest.Response {
			return v.Do(http.MethodGet, "/v1/merchants/"+m+"/keys", withHeaders(replayed, nil), "")
		}, http.StatusConflict},
		{"unknown kid", func() *vaulttest.Response {
			return v.Do(http.MethodGet, "/v1/merchants/"+m+"/keys", withHeaders(c.SignWith(t, claims("get_keys", nil), hostile.kid, nil), nil), "")
		}, http.StatusUnauthorized},
		{"merchant of the path differing from the claims", func() *vaulttest.Response {
			return v.Do(http.MethodGet, "/v1/merchants/"+hostile.customer+"/keys", withHeaders(c.Sign(t, claims("get_keys", nil)), nil), "")
		}, http.StatusForbidden},
		{"unknown route", func() *vaulttest.Response {
			return v.Do(http.MethodGet, "/v1/"+hostile.unknownPath+"?"+url.Values{"x": {hostile.query}}.Encode(), withHeaders("x", nil), "")
		}, http.StatusNotFound},
		{"rotate_keys (background re-encryption logs the merchant)", func() *vaulttest.Response {
			return v.Do(http.MethodPost, "/v1/merchants/"+m+"/keys/rotate", withHeaders(c.Sign(t, claims("rotate_keys", nil)), nil), "")
		}, http.StatusAccepted},
		{"delete_secret", func() *vaulttest.Response {
			return v.Do(http.MethodDelete, secretPath, withHeaders(c.Sign(t, claims("delete_secret", map[string]any{"name": hostile.secretName})), nil), "")
		}, http.StatusNoContent},
		{"shred_merchant (background purge logs the merchant)", func() *vaulttest.Response {
			return v.Do(http.MethodDelete, "/v1/merchants/"+m, withHeaders(c.Sign(t, claims("shred_merchant", nil)), nil), "")
		}, http.StatusNoContent},
	}
	needles := []string{hostile.merchant, hostile.customer, hostile.secretName, hostile.jti, hostile.kid,
		hostile.pathToken, hostile.claimToken, hostile.query, hostile.userAgent, hostile.header,
		hostile.unknownPath, hostile.replayJTI}
	for _, s := range steps {
		r := s.send()
		if r.Status != s.status {
			t.Errorf("%s: %d %s, want %d", s.name, r.Status, r.Body, s.status)
			continue
		}
		for _, leak := range vaulttest.FindLeaks(answerWithoutEchoes(t, r), needles) {
			t.Errorf("%s: answer: %s", s.name, leak)
		}
	}
	// The leak guard scans the log output and the audit trail when the
	// test ends, after background work has stopped; scan them now too so
	// that a failure names this test's requests.
	v.Env.Close()
	for _, leak := range v.Leaks() {
		t.Errorf("%s", leak)
	}
	logs := v.Logs.String()
	if !strings.Contains(logs, `"merchant_id":"4384********6791"`) {
		t.Errorf("the request log does not name the merchant masked:\n%s", logs)
	}
	if !strings.Contains(logs, "audit event not recorded") {
		t.Errorf("no error line was logged:\n%s", logs)
	}
}

// quotingFailSink refuses the events of one action with an error that
// quotes the event's client-chosen members, as a careless adapter might.
type quotingFailSink struct {
	audit.Sink
	action string
}

func (s quotingFailSink) Record(ctx context.Context, e audit.Event) error {
	if e.Action == s.action {
		return fmt.Errorf("event for merchant %s, secret %s, jti %s, agent %s refused", e.Merchant, e.Secret, e.JTI, e.UserAgent)
	}
	return s.Sink.Record(ctx, e)
}

// answerWithoutEchoes is an answer's headers and body as text, with the
// members the contract echoes (the caller's merchant, customer and secret
// name) taken out of a JSON body.
func answerWithoutEchoes(t *testing.T, r *vaulttest.Response) string {
	t.Helper()
	var b strings.Builder
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		b.WriteString(k + ": " + strings.Join(r.Header[k], ",") + "\n")
	}
	if r.JSON == nil {
		b.WriteString(r.Body)
		return b.String()
	}
	body := map[string]any{}
	for k, val := range r.JSON {
		body[k] = val
	}
	for _, echoed := range []string{"merchant_id", "customer_id", "name"} {
		delete(body, echoed)
	}
	rest, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	b.Write(rest)
	return b.String()
}
