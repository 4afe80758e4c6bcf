package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func TestCardsListPrintsATableAndTheRawAnswer(t *testing.T) {
	const answer = `{"merchant_id":"m_1","cards":[{"token":"4242730195584242","merchant_id":"m_1","customer_id":"c_9",
		"fingerprint":"fp_1","masked":{"first4":"4242","last4":"4242","display":"4242 **** **** 4242","brand":"visa","exp_month":12,"exp_year":2030},
		"created_at":"2026-11-22T10:00:00Z"}],"next_cursor":"AQID"}`
	var (
		mu     sync.Mutex
		claims []map[string]any
		paths  []string
	)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/merchants/{m}/{kind}/{subject}/cards", func(w http.ResponseWriter, r *http.Request) {
		jws, err := jose.ParseSignedCompact(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Errorf("no Bearer JWS: %v", err)
			return
		}
		var c map[string]any
		json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c)
		mu.Lock()
		claims = append(claims, c)
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		io.WriteString(w, answer)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	env := writeCreds(t, srv.URL)

	code, stdout, stderr := runCLI(t, "", env, "cards", "list", "--merchant", "m_1", "--customer", "c_9", "--limit", "10")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.HasPrefix(stdout, "TOKEN") || !strings.Contains(stdout, "4242730195584242") || !strings.Contains(stdout, "4242 **** **** 4242") || !strings.Contains(stdout, "12/2030") {
		t.Errorf("table:\n%s", stdout)
	}
	if !strings.Contains(stderr, "--cursor AQID") {
		t.Errorf("stderr %q does not say how to get the next page", stderr)
	}
	code, stdout, stderr = runCLI(t, "", env, "cards", "list", "--merchant", "m_1", "--fingerprint", "fp_1", "--cursor", "AQID", "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var raw, want map[string]any
	json.Unmarshal([]byte(stdout), &raw)
	json.Unmarshal([]byte(answer), &want)
	if got, _ := json.Marshal(raw); string(got) != mustJSON(want) {
		t.Errorf("--json printed %s, want the answer %s", got, mustJSON(want))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(claims) != 2 || paths[0] != "/v1/merchants/m_1/customers/c_9/cards" || paths[1] != "/v1/merchants/m_1/fingerprints/fp_1/cards" {
		t.Fatalf("requests %v", paths)
	}
	if claims[0]["op"] != "list_cards" || claims[0]["customer_id"] != "c_9" || claims[0]["limit"] != float64(10) {
		t.Errorf("claims %v", claims[0])
	}
	if claims[1]["fingerprint"] != "fp_1" || claims[1]["cursor"] != "AQID" {
		t.Errorf("claims %v", claims[1])
	}
	if code, _, _ := runCLI(t, "", env, "cards", "list", "--merchant", "m_1"); code != exitUsage {
		t.Errorf("neither --customer nor --fingerprint: exit %d", code)
	}
	if code, _, _ := runCLI(t, "", env, "cards", "list", "--merchant", "m_1", "--customer", "c", "--fingerprint", "f"); code != exitUsage {
		t.Errorf("both: exit %d", code)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
