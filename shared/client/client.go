package client

import (
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Audience is the "aud" of every request and the "iss" of every reveal
// answer.
const Audience = "card-vault"

// defaultJWKSMaxAge bounds how long the vault's public keys are trusted
// from cache. The vault keeps an old encryption kid live while it rotates,
// so an hour is well inside the overlap and still picks up a new key the
// same day.
const defaultJWKSMaxAge = time.Hour

// defaultTimeout bounds a request when the caller's context has no
// deadline, so a stuck vault cannot hold an app server's goroutine forever.
const defaultTimeout = 30 * time.Second

// Client calls the vault for one client identity. It is safe for concurrent
// use; create one per credentials and share it.
type Client struct {
	baseURL    string
	creds      *Credentials
	httpClient *http.Client
	now        func() time.Time
	// credentialHeader carries a Bearer route's JWS: Authorization, or
	// Vault-Authorization when SigV4 takes Authorization (WithSigV4).
	credentialHeader string

	preferredKeyAlg jose.KeyAlgorithm
	// strictKeyAlg is set when the caller named the key algorithm: then a
	// vault without a key of that algorithm is an error rather than a
	// fallback.
	strictKeyAlg bool
	jwksMaxAge   time.Duration

	keys keyCache
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (timeouts, TLS, proxies). The default
// has a 30 s timeout and does not follow redirects, so a credential is never
// replayed to another address.
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) {
		if h != nil {
			c.httpClient = h
		}
	}
}

// WithClock sets the clock used for "iat" and the key cache's age.
func WithClock(now func() time.Time) Option {
	return func(c *Client) {
		if now != nil {
			c.now = now
		}
	}
}

// WithKeyAlgorithm makes requests use only vault encryption keys of alg
// (KeyAlgECDH or KeyAlgRSA). Without it the client prefers ECDH-ES+A256KW,
// the cheaper one for the vault to open, and falls back to RSA-OAEP-256.
func WithKeyAlgorithm(alg string) Option {
	return func(c *Client) {
		c.preferredKeyAlg = jose.KeyAlgorithm(alg)
		c.strictKeyAlg = true
	}
}

// WithJWKSMaxAge sets how long fetched vault keys are used before they are
// fetched again (default one hour).
func WithJWKSMaxAge(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.jwksMaxAge = d
		}
	}
}

// New returns a client of the vault at baseURL (for example
// "https://vault.example.com" or an API Gateway stage URL) acting with
// creds.
func New(baseURL string, creds *Credentials, opts ...Option) *Client {
	c := &Client{
		baseURL: strings.TrimRight(baseURL, "/"),
		creds:   creds,
		httpClient: &http.Client{
			Timeout: defaultTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		now:              time.Now,
		credentialHeader: "Authorization",
		preferredKeyAlg:  jose.ECDH_ES_A256KW,
		jwksMaxAge:       defaultJWKSMaxAge,
		keys:             newKeyCache(),
	}
	for _, opt := range opts {
		opt(c)
	}
	return c
}
