package localmode_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/internal/vaulttest"
)

// TestOversizedHeadersGetTheContractsErrorJSON sends header sections over
// the local server's bound, which net/http refuses before any handler
// runs: each must be answered with the contract's error JSON (413
// payload_too_large, since the contract has no 431) and a request id,
// leave a refused audit event and change nothing. So must a request that
// is not HTTP at all (400 malformed_request).
func TestOversizedHeadersGetTheContractsErrorJSON(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"m_1"})
	v := vaulttest.Start(t, c)
	jws := c.Sign(t, c.Claims("get_keys", "m_1", nil))
	manyHeaders := map[string]string{"Authorization": "Bearer " + jws}
	for i := range 3000 {
		manyHeaders["X-Pad-"+strconv.Itoa(i)] = strings.Repeat("p", 64)
	}
	before := v.TableDump()
	cases := []struct {
		name    string
		headers map[string]string
	}{
		{"one header just over 64 KiB", map[string]string{"Authorization": "Bearer " + jws, "X-Pad": strings.Repeat("p", 69<<10)}},
		{"3,000 headers", manyHeaders},
		{"2 MiB of headers", map[string]string{"X-Pad": strings.Repeat("p", 2<<20)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			events := len(v.AuditEvents())
			r := v.Do(http.MethodGet, "/v1/merchants/m_1/keys", tc.headers, "")
			checkContractError(t, r.Status, r.Header, r.Body, http.StatusRequestEntityTooLarge, "payload_too_large")
			after := v.AuditEvents()
			if len(after) != events+1 {
				t.Fatalf("%d audit events, want 1", len(after)-events)
			}
			if last := after[len(after)-1]; last["outcome"] != "refused" || last["error_code"] != "payload_too_large" {
				t.Fatalf("audit event: %v", last)
			}
		})
	}
	t.Run("not HTTP", func(t *testing.T) {
		status, header, body := rawExchange(t, v, "GET /v1/health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
		checkContractError(t, status, header, body, http.StatusBadRequest, "malformed_request")
	})
	if v.TableDump() != before {
		t.Error("a refused request changed the table")
	}
	t.Run("headers within the bound are served", func(t *testing.T) {
		r := v.Do(http.MethodGet, "/v1/merchants/m_1/keys", map[string]string{"Authorization": "Bearer " + jws, "X-Pad": strings.Repeat("p", 32<<10)}, "")
		if r.Status != http.StatusOK {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
}

func checkContractError(t *testing.T, status int, header http.Header, body string, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus || header.Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q %q, want %d application/json", status, header.Get("Content-Type"), body, wantStatus)
	}
	var e struct {
		Error struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("answer is not JSON: %q", body)
	}
	if e.Error.Code != wantCode || e.Error.Message == "" {
		t.Fatalf("error %+v, want %s", e.Error, wantCode)
	}
	if id := header.Get("X-Request-Id"); id == "" || id != e.Error.RequestID {
		t.Fatalf("request id %q missing or not the one of the body %s", id, body)
	}
}

// rawExchange writes request bytes on a fresh connection to the vault and
// reads one answer.
func rawExchange(t *testing.T, v *vaulttest.Vault, request string) (int, http.Header, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(v.Server.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}
