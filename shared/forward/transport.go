package forward

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/cardvault/vault/shared/vaulterr"
)

// MaxAnswerBytes caps a provider's answer body.
const MaxAnswerBytes = 1 << 20

// Answer is a provider's answer as received, before redaction.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Sender sends a built request to its destination.
type Sender interface {
	Send(ctx context.Context, d *Destination, out *Outgoing) (Answer, error)
}

var _ Sender = (*Transports)(nil)

// Transports keeps one HTTP client per destination for the life of the
// process (a warm Lambda container), so forwards reuse the provider's
// TLS connections instead of paying a handshake each. A destination whose
// entry changed (a local file edit) gets a new client; the old one's idle
// connections are closed. Safe for concurrent use.
type Transports struct {
	mu   sync.Mutex
	byID map[string]*destinationClient
}

type destinationClient struct {
	config string
	client *http.Client
	tr     *http.Transport
}

// NewTransports returns an empty set of destination clients.
func NewTransports() *Transports { return &Transports{byID: map[string]*destinationClient{}} }

// Client returns the destination's HTTP client, made on first use.
func (t *Transports) Client(d *Destination) *http.Client {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.byID[d.ID]; ok {
		if c.config == d.config {
			return c.client
		}
		c.tr.CloseIdleConnections()
	}
	c := newDestinationClient(d)
	t.byID[d.ID] = c
	return c.client
}

// newDestinationClient is the SSRF-safe client of one destination.
func newDestinationClient(d *Destination) *destinationClient {
	dialer := &net.Dialer{
		Timeout:   d.Timeout,
		KeepAlive: 30 * time.Second,
		// The address check runs on the address actually dialled.
		Control: controlFor(d.AllowPrivateNetwork),
	}
	tr := &http.Transport{
		// Never a proxy from the environment: the address check must
		// judge the provider, not a proxy, and HTTPS_PROXY must not be
		// a way to send card data elsewhere.
		Proxy:       nil,
		DialContext: dialer.DialContext,
		TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			// nil: the system roots; with ca_pem, the system roots plus
			// this destination's, for this destination only.
			RootCAs: d.roots,
		},
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    d.Timeout,
		MaxIdleConns:           32,
		MaxIdleConnsPerHost:    16,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &destinationClient{
		config: d.config,
		tr:     tr,
		client: &http.Client{
			Transport: tr,
			// A redirect is answered to the client as the provider sent
			// it; following it could take card data to another host.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// Send sends out to d within d's timeout, end to end (connection, TLS,
// request, the whole answer), and reads at most MaxAnswerBytes of the
// answer. A connection failure (refused address, TLS, reset, an answer
// over the cap) is 502 destination_error; the timeout is 504
// destination_timeout. Errors never hold the request.
func (t *Transports) Send(ctx context.Context, d *Destination, out *Outgoing) (Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, out.Method, out.URL, bytes.NewReader(out.Body))
	if err != nil {
		return Answer{}, vaulterr.Wrap(vaulterr.DestinationError, "the provider request could not be made", errors.New("invalid request"))
	}
	req.Header = out.Header
	if len(out.Body) == 0 {
		req.Body = http.NoBody
	}
	resp, err := t.Client(d).Do(req)
	if err != nil {
		return Answer{}, connectionError(ctx, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes+1))
	if err == nil && ctx.Err() != nil {
		// The deadline passed while the body was read: the transport may
		// end such a body as if it were complete, and a truncated answer
		// must never pass for the provider's.
		err = ctx.Err()
	}
	if err != nil {
		return Answer{}, connectionError(ctx, err)
	}
	if len(body) > MaxAnswerBytes {
		return Answer{}, vaulterr.New(vaulterr.DestinationError, "the provider's answer is over 1 MiB")
	}
	return Answer{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

func connectionError(ctx context.Context, err error) error {
	// A timer of the transport (the TLS handshake's, the dial's) within
	// the destination's timeout is the same timeout, reached earlier.
	var timeout interface{ Timeout() bool }
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &timeout) && timeout.Timeout() {
		return vaulterr.Wrap(vaulterr.DestinationTimeout, "the provider did not answer in time", err)
	}
	var refused errRefusedAddress
	if errors.As(err, &refused) {
		return vaulterr.Wrap(vaulterr.DestinationError, "the destination resolved to an address it may not be reached at", err)
	}
	return vaulterr.Wrap(vaulterr.DestinationError, "the provider connection failed", err)
}
