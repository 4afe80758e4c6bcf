// Package stripemock runs stripe-mock (Stripe's own API emulator, which
// validates every request against Stripe's OpenAPI spec) on loopback
// behind a TLS front whose certificate is signed by a CA made here, so a
// forward to it takes the vault's real TLS path: a destination with
// ca_pem set to CAPEM and allow_private_network. The tests and `make
// stripe-mock` both use it.
package stripemock

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Version is the stripe-mock release used, installed from the Go module
// proxy.
const Version = "v0.203.0"

// Module is stripe-mock's module path.
const Module = "github.com/stripe/stripe-mock"

// DestinationID is the id the local demo gives the destination.
const DestinationID = "stripe-mock"

// BinaryPath is where the binary is installed under a module root:
// .tools/stripe-mock-<version>/stripe-mock (git-ignored), the same
// layout the Makefile uses for its other pinned tools.
func BinaryPath(root string) string {
	return filepath.Join(root, ".tools", "stripe-mock-"+Version, "stripe-mock")
}

// ModuleRoot walks up from dir to the directory holding go.mod.
func ModuleRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("stripemock: no go.mod above " + dir)
		}
	}
}

// Install makes sure the binary exists at BinaryPath(root), installing it
// with `go install` (from the Go module proxy) when it does not.
func Install(ctx context.Context, root string) (string, error) {
	bin := BinaryPath(root)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	goTool := os.Getenv("GO")
	if goTool == "" {
		goTool = "go"
	}
	cmd := exec.CommandContext(ctx, goTool, "install", Module+"@"+Version) // #nosec G204 -- the go tool installing a pinned module
	cmd.Env = append(os.Environ(), "GOBIN="+filepath.Dir(bin))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("stripemock: go install %s@%s: %v\n%s", Module, Version, err, out)
	}
	return bin, nil
}

// Server is a running stripe-mock with its TLS front.
type Server struct {
	// URL is the TLS front, https://127.0.0.1:<port>.
	URL string
	// CAPEM is the certificate of the CA that signed the front's
	// certificate: the destination's ca_pem.
	CAPEM string

	cmd     *exec.Cmd
	front   *http.Server
	exited  chan struct{} // closed when stripe-mock has exited
	waitErr error
}

// Start runs the binary on free loopback ports and the TLS front on
// frontAddr ("127.0.0.1:0" for any port); stripe-mock's own log goes to
// logs (nil: discarded).
func Start(ctx context.Context, bin, frontAddr string, logs io.Writer) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	// stripe-mock serves HTTPS too, by default on every interface at a
	// fixed port; it is held to a free loopback port and not used (its
	// certificate is its own, not one a destination could pin).
	tlsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	backend := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "-http-addr", backend, "-https-addr", fmt.Sprintf("127.0.0.1:%d", tlsPort)) // #nosec G204 -- the pinned stripe-mock binary
	if logs == nil {
		logs = io.Discard
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("stripemock: starting %s: %w", bin, err)
	}
	s := &Server{cmd: cmd, exited: make(chan struct{})}
	go func() { s.waitErr = cmd.Wait(); close(s.exited) }()
	if err := s.waitFor(ctx, backend); err != nil {
		s.Close()
		return nil, err
	}
	ca, cert, err := makeCertificates()
	if err != nil {
		s.Close()
		return nil, err
	}
	s.CAPEM = ca
	target := &url.URL{Scheme: "http", Host: backend}
	proxy := httputil.NewSingleHostReverseProxy(target)
	ln, err := net.Listen("tcp", frontAddr)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.front = &http.Server{
		Handler:           proxy,
		ReadHeaderTimeout: 5 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	go func() { _ = s.front.ServeTLS(ln, "", "") }()
	s.URL = "https://" + ln.Addr().String()
	return s, nil
}

func (s *Server) waitFor(ctx context.Context, addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("stripemock: stripe-mock exited: %v", s.waitErr)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("stripemock: stripe-mock did not listen within 30 s")
}

// Close stops the front and stripe-mock.
func (s *Server) Close() {
	if s.front != nil {
		_ = s.front.Close()
	}
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// Wait blocks until stripe-mock exits.
func (s *Server) Wait() error {
	<-s.exited
	return s.waitErr
}

// Destination is the destinations-document entry for this server: Stripe's
// PaymentMethod and PaymentIntent routes, the Idempotency-Key and
// Stripe-Version headers, the merchant's secret credentialSecret as the
// Bearer credential, trusted through CAPEM on loopback.
func (s *Server) Destination(id, credentialSecret string) map[string]any {
	return map[string]any{
		"id":  id,
		"url": s.URL,
		"routes": []map[string]string{
			{"method": "POST", "path": "/v1/payment_methods"},
			{"method": "GET", "path": "/v1/payment_methods/*"},
			{"method": "POST", "path": "/v1/payment_intents"},
			{"method": "POST", "path": "/v1/payment_intents/*/confirm"},
			{"method": "GET", "path": "/v1/payment_intents/*"},
		},
		"request_headers":       []string{"Idempotency-Key", "Stripe-Version"},
		"response_headers":      []string{"Request-Id", "Idempotency-Key"},
		"credential":            map[string]string{"secret": credentialSecret, "header": "Authorization", "prefix": "Bearer "},
		"ca_pem":                s.CAPEM,
		"allow_private_network": true,
		"timeout_ms":            10000,
	}
}

// DestinationJSON is Destination encoded.
func (s *Server) DestinationJSON(id, credentialSecret string) json.RawMessage {
	b, _ := json.Marshal(s.Destination(id, credentialSecret))
	return b
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// makeCertificates makes a CA and a certificate it signs for 127.0.0.1,
// ::1 and localhost. The keys live in memory only.
func makeCertificates() (caPEM string, leaf tls.Certificate, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", tls.Certificate{}, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "card vault stripe-mock test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", tls.Certificate{}, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return "", tls.Certificate{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "stripe-mock"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return "", tls.Certificate{}, err
	}
	caPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	return caPEM, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
