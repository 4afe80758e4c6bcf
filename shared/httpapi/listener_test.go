package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/httpapi"
)

type recordingAudit struct {
	mu     sync.Mutex
	events []audit.Event
}

func (r *recordingAudit) Record(_ context.Context, e audit.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

// serve runs the local server configuration for api on a loopback
// listener, wrapped by httpapi.Listener when wrap is set.
func serve(t *testing.T, api *httpapi.API, wrap bool) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := httpapi.NewServer(api)
	served := l
	if wrap {
		served = httpapi.Listener(l, api)
	}
	go func() { _ = server.Serve(served) }()
	t.Cleanup(func() { _ = server.Close() })
	return l.Addr().String()
}

func exchange(t *testing.T, addr, request string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	go func() { _, _ = io.WriteString(conn, request) }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// The requests net/http refuses before any handler runs: what it answers
// by itself (plain text; this is what the wrapper must recognise, so the
// test fails if net/http changes its answer), and what the wrapped
// listener answers instead.
func TestListenerAnswersNetHTTPRefusalsWithTheContractsJSON(t *testing.T) {
	sink := &recordingAudit{}
	api := httpapi.New(httpapi.Deps{Audit: sink, Logger: slog.New(slog.DiscardHandler)},
		httpapi.SystemRoutes([]byte(`{"keys":[]}`), nil))
	bare, wrapped := serve(t, api, false), serve(t, api, true)
	huge := "GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("p", httpapi.MaxHeaderBytes+8<<10) + "\r\n\r\n"
	cases := []struct {
		name, request string
		netHTTP       int
		status        int
		code          string
	}{
		{"header section over the bound", huge, http.StatusRequestHeaderFieldsTooLarge, http.StatusRequestEntityTooLarge, "payload_too_large"},
		{"malformed header line", "GET /v1/health HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n", http.StatusBadRequest, http.StatusBadRequest, "malformed_request"},
		{"no Host header", "GET /v1/health HTTP/1.1\r\n\r\n", http.StatusBadRequest, http.StatusBadRequest, "malformed_request"},
		{"unsupported transfer encoding", "POST /v1/health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", http.StatusNotImplemented, http.StatusBadRequest, "malformed_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := exchange(t, bare, tc.request)
			if resp.StatusCode != tc.netHTTP || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
				t.Fatalf("net/http itself answers %d %q %q; the wrapper expects %d text/plain", resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.netHTTP)
			}
			sink.mu.Lock()
			events := len(sink.events)
			sink.mu.Unlock()
			resp, body = exchange(t, wrapped, tc.request)
			var e struct {
				Error struct {
					Code      string `json:"code"`
					RequestID string `json:"request_id"`
				} `json:"error"`
			}
			if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(body), &e) != nil ||
				e.Error.Code != tc.code || e.Error.RequestID == "" || resp.Header.Get("X-Request-Id") != e.Error.RequestID {
				t.Fatalf("wrapped: %d %q %q, want %d %s", resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.status, tc.code)
			}
			sink.mu.Lock()
			defer sink.mu.Unlock()
			if len(sink.events) != events+1 || sink.events[len(sink.events)-1].Code != tc.code || sink.events[len(sink.events)-1].Outcome != audit.Refused {
				t.Fatalf("audit events: %+v", sink.events[events:])
			}
		})
	}
	t.Run("ordinary answers pass unchanged", func(t *testing.T) {
		resp, body := exchange(t, wrapped, "GET /v1/jwks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != http.StatusOK || body != `{"keys":[]}` {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		resp, body = exchange(t, wrapped, "GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `"not_found"`) {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	})
}
