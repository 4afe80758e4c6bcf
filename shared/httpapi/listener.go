package httpapi

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cardvault/vault/shared/vaulterr"
)

// Listener wraps the local server's listener so that the answers net/http
// writes by itself, before any handler runs, are the contract's error
// JSON too. net/http reads a request's header section before it calls a
// handler, and refuses one over Server.MaxHeaderBytes (or one that is not
// HTTP/1.x) by writing a plain-text answer straight to the connection:
// "431 Request Header Fields Too Large", "400 Bad Request" and a few more.
// No handler can intercept that, and raising MaxHeaderBytes only moves
// the bound, so the connection itself recognises that answer and sends
// in its place what the API answers for the same refusal (audit event and
// log line included).
//
// Status 431 is not in the contract; a header section too large is
// answered 413 payload_too_large, the contract's answer for a request too
// large. Every other refusal of net/http is 400 malformed_request.
func Listener(l net.Listener, api *API) net.Listener {
	return contractListener{Listener: l, api: api}
}

type contractListener struct {
	net.Listener
	api *API
}

func (l contractListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &contractConn{Conn: c, api: l.api}, nil
}

// contractConn replaces net/http's own plain-text refusals.
type contractConn struct {
	net.Conn
	api *API
}

func (c *contractConn) Write(p []byte) (int, error) {
	status, ok := netHTTPRefusal(p)
	if !ok {
		return c.Conn.Write(p)
	}
	refusal := vaulterr.New(vaulterr.Malformed, "not a valid HTTP/1.1 request")
	if status == http.StatusRequestHeaderFieldsTooLarge {
		refusal = vaulterr.New(vaulterr.PayloadTooLarge, "request headers over 64 KiB")
	}
	resp := c.api.Refuse(context.Background(), sourceIP(c.RemoteAddr().String()), refusal)
	if _, err := c.Conn.Write(rawResponse(resp)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// CloseWrite lets net/http half-close the connection after such an answer
// (so the client reads it before the connection is reset), as it would on
// the bare TCP connection.
func (c *contractConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// netHTTPErrorHeaders is what net/http's server puts between the status
// line and the body of the answers it writes itself. The vault's handler
// never answers text/plain, so a whole write of this shape is net/http's.
const netHTTPErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// netHTTPRefusal reports whether p is, in full, one of net/http's own
// refusals, and its status.
func netHTTPRefusal(p []byte) (int, bool) {
	const prefix = "HTTP/1.1 "
	if !bytes.HasPrefix(p, []byte(prefix)) || len(p) < len(prefix)+3 {
		return 0, false
	}
	line, rest, found := bytes.Cut(p, []byte(netHTTPErrorHeaders))
	if !found || bytes.ContainsAny(line, "\r\n") || bytes.ContainsAny(rest, "\r\n") {
		return 0, false
	}
	status, err := strconv.Atoi(string(line[len(prefix) : len(prefix)+3]))
	if err != nil || status < 400 || status > 599 {
		return 0, false
	}
	return status, true
}

// rawResponse is resp as HTTP/1.1 bytes, closing the connection (net/http
// closes it after its own refusals).
func rawResponse(resp events.APIGatewayV2HTTPResponse) []byte {
	var b strings.Builder
	b.WriteString("HTTP/1.1 " + strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode) + "\r\n")
	names := make([]string, 0, len(resp.Headers))
	for k := range resp.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		b.WriteString(http.CanonicalHeaderKey(k) + ": " + resp.Headers[k] + "\r\n")
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(resp.Body)) + "\r\nConnection: close\r\n\r\n")
	b.WriteString(resp.Body)
	return []byte(b.String())
}
