package inproc

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/bench/internal/fixture"
	"github.com/cardvault/vault/bench/internal/kmssim"
	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/forward"
	"github.com/cardvault/vault/shared/httpapi"
	"github.com/cardvault/vault/shared/memstore"
	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/wire"
)

// BenchmarkForward measures what POST /v1/forward adds over calling the
// provider directly. Three sides run interleaved in one loop, in an order
// that rotates call by call:
//
//	forward  the whole request through httpapi.API.Handle (JWE open, JWS
//	         verify, claims, destination and route checks, card and
//	         credential reads and opens over in-memory ports, the audit
//	         event before sending, the form body built, the provider call,
//	         redaction, the JSON answer)
//	direct   the same provider call made directly: the same form body and
//	         credential header, to the same loopback TLS server, over an
//	         http.Client with the same TLS settings and its own warm
//	         connection
//	floor    the bare go-jose work of the same JWE (parse + decrypt, parse
//	         + verify)
//
// Reported: ns/op (forward), direct-ns/op, added-ns/op (their difference:
// the latency the vault adds), floor-ns/op and added-x-floor (the added
// latency over the JOSE floor; the design's target is the floor plus one
// table round trip, which in-memory ports make zero here); CPU the same
// way, as process CPU time for forward and direct (the HTTP client's
// connection goroutines run on other threads) and thread CPU for the
// floor: cpu-ns/op, direct-cpu-ns/op, added-cpu-ns/op, floor-cpu-ns/op,
// and x-floor-cpu = added CPU / floor CPU, the vault's own CPU per forward
// against the bare JOSE floor. The provider (an httptest TLS server in
// the same process) costs both forward and direct the same and cancels
// out of the differences. Connections are reused on both sides: after the
// warm-up neither opens a TLS connection in the loop (checked).
func BenchmarkForward(b *testing.B) {
	for _, a := range algs {
		b.Run("stripe-form/"+a.name, func(b *testing.B) { benchForward(b, a.alg) })
	}
}

// providerAnswer is the size and shape of a Stripe PaymentMethod answer.
var providerAnswer = []byte(`{"id":"pm_1Q0PsIJvEtkwdCNYMSaVuRz6","object":"payment_method","allow_redisplay":"unspecified",` +
	`"billing_details":{"address":{"city":null,"country":null,"line1":null,"line2":null,"postal_code":null,"state":null},"email":null,"name":null,"phone":null},` +
	`"card":{"brand":"visa","checks":{"address_line1_check":null,"address_postal_code_check":null,"cvc_check":null},"country":"US","display_brand":"visa",` +
	`"exp_month":12,"exp_year":2030,"fingerprint":"Xt5EWLLDS7FJjR1c","funding":"credit","generated_from":null,"last4":"4242",` +
	`"networks":{"available":["visa"],"preferred":null},"three_d_secure_usage":{"supported":true},"wallet":null},` +
	`"created":1726673582,"customer":null,"livemode":false,"metadata":{},"type":"card"}`)

type forwardEnv struct {
	api      *httpapi.API
	token    string
	provider *httptest.Server
	conns    func() int
	direct   *http.Client
	// form is the body the vault sends, for the direct side to send too.
	form string
}

const benchAPIKey = "sk_test_4eC39HqLyjWDarjtT1zdp7dc" // #nosec G101 -- Stripe's public documentation test key

func newForwardEnv(b *testing.B) *forwardEnv {
	b.Helper()
	e := &forwardEnv{}
	opened := 0
	e.provider = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Request-Id", "req_bench")
		_, _ = w.Write(providerAnswer)
	}))
	e.provider.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened++
		}
	}
	e.provider.StartTLS()
	b.Cleanup(e.provider.Close)
	e.conns = func() int { return opened }

	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.provider.Certificate().Raw}))
	destDoc, err := json.Marshal(map[string]any{"destinations": []any{map[string]any{
		"id": fixture.Destination, "url": e.provider.URL,
		"routes":                []map[string]string{{"method": "POST", "path": "/v1/payment_methods"}},
		"request_headers":       []string{"Idempotency-Key"},
		"response_headers":      []string{"Request-Id"},
		"credential":            map[string]string{"secret": "stripe_api_key", "header": "Authorization", "prefix": "Bearer "},
		"ca_pem":                caPEM,
		"allow_private_network": true,
	}}})
	if err != nil {
		b.Fatal(err)
	}
	dests, err := forward.ParseDestinations(destDoc)
	if err != nil {
		b.Fatal(err)
	}
	if err := forward.CheckRegistry(fx.Registry, dests); err != nil {
		b.Fatal(err)
	}

	store := memstore.New()
	secrets := store
	keyring, err := kmssim.NewLocalKeyring(0)
	if err != nil {
		b.Fatal(err)
	}
	keys := envelope.NewManager(keyring, store, envelope.Options{})
	cards := vault.NewCardVault(store, store, store, keys, time.Now)
	deps := httpapi.Deps{Opener: fx.Opener, Audit: audit.Discard{}, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Now: time.Now}
	fwd := vault.NewForwarder(vault.ForwarderDeps{
		Cards: store, Secrets: secrets, Replay: store, Merchants: store, Keys: keys,
		Destinations: forward.StaticSource(dests), Sender: forward.NewTransports(), Audit: audit.Discard{}, Now: time.Now,
	})
	e.api = httpapi.New(deps, httpapi.VaultCardRoutes(cards), httpapi.ForwardRoutes(fwd))

	// The card and the merchant's key, through the operations themselves.
	jwe, err := fx.VaultCardJWE(fx.ClientEC, jose.ECDH_ES_A256KW, fixture.Merchant, "cus_fwd", fixture.CardNumber)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := e.api.Handle(context.Background(), fixture.VaultCardEvent(jwe))
	if err != nil || resp.StatusCode != http.StatusCreated {
		b.Fatalf("vault_card: %d %s %v", resp.StatusCode, resp.Body, err)
	}
	e.token = tokenOf(b, resp.Body)
	sv := vault.NewSecretVault(secrets, store, store, keys, time.Now)
	if _, _, err := sv.PutSecret(context.Background(), vault.PutSecretInput{
		Caller: vault.Caller{ClientID: fx.ClientEC.ID, MerchantID: fixture.Merchant, JTI: fixture.NewJTI()},
		Name:   "stripe_api_key", Value: secret.New(benchAPIKey),
	}); err != nil {
		b.Fatal(err)
	}

	// The direct side: the same TLS settings as a destination's client.
	roots := x509.NewCertPool()
	roots.AddCert(e.provider.Certificate())
	e.direct = &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots},
		ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second,
	}}
	e.form = "card%5Bexp_month%5D=12&card%5Bexp_year%5D=2030&card%5Bnumber%5D=" + fixture.CardNumber + "&type=card"
	return e
}

func (e *forwardEnv) forwardJWE(c *fixture.Client, alg jose.KeyAlgorithm) (string, error) {
	claims := c.Claims(wire.OpForward, fixture.Merchant)
	claims["destination"] = fixture.Destination
	claims["token"] = e.token
	claims["request"] = map[string]any{
		"method": "POST", "path": "/v1/payment_methods",
		"headers":      map[string]string{"Idempotency-Key": "idem_" + fixture.NewJTI()},
		"content_type": "application/x-www-form-urlencoded",
		"body": map[string]string{
			"type": "card", "card[number]": "{{card.number}}",
			"card[exp_month]": "{{card.exp_month}}", "card[exp_year]": "{{card.exp_year}}",
		},
	}
	jws, err := c.Sign(claims)
	if err != nil {
		return "", err
	}
	return fx.Encrypt(jws, alg)
}

func (e *forwardEnv) callDirect() error {
	req, err := http.NewRequest(http.MethodPost, e.provider.URL+"/v1/payment_methods", strings.NewReader(e.form))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+benchAPIKey)
	req.Header.Set("Content-Type", forward.ContentForm)
	req.Header.Set("Idempotency-Key", "idem_direct")
	resp, err := e.direct.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, forward.MaxAnswerBytes+1))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("payment_method")) {
		return fmt.Errorf("direct call answered %d", resp.StatusCode)
	}
	return nil
}

func benchForward(b *testing.B, alg jose.KeyAlgorithm) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := newForwardEnv(b)
	ctx := context.Background()
	forwardOnce := func(jwe string) error {
		resp, err := e.api.Handle(ctx, forwardEvent(jwe))
		if err == nil && (resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, `"status":200`)) {
			err = fmt.Errorf("forward answered %d: %s", resp.StatusCode, resp.Body)
		}
		return err
	}
	// Warm both connections (and the merchant's key cache).
	for i := 0; i < 3; i++ {
		jwe, err := e.forwardJWE(fx.ClientEC, alg)
		if err != nil {
			b.Fatal(err)
		}
		if err := forwardOnce(jwe); err != nil {
			b.Fatal(err)
		}
		if err := e.callDirect(); err != nil {
			b.Fatal(err)
		}
	}
	warmConns := e.conns()

	var fwdWall, directWall, floorWall, fwdCPU, directCPU, floorCPU time.Duration
	n := 0
	for b.Loop() {
		jwe, err := e.forwardJWE(fx.ClientEC, alg)
		if err != nil {
			b.Fatal(err)
		}
		sides := []func(){
			func() {
				c, t := processCPU(), time.Now()
				err := forwardOnce(jwe)
				fwdWall += time.Since(t)
				fwdCPU += processCPU() - c
				if err != nil {
					b.Fatal(err)
				}
			},
			func() {
				c, t := processCPU(), time.Now()
				err := e.callDirect()
				directWall += time.Since(t)
				directCPU += processCPU() - c
				if err != nil {
					b.Fatal(err)
				}
			},
			func() {
				c, t := threadCPU(), time.Now()
				err := fx.FloorOpen(fx.ClientEC, alg, jwe)
				floorWall += time.Since(t)
				floorCPU += threadCPU() - c
				if err != nil {
					b.Fatal(err)
				}
			},
		}
		for i := range sides {
			sides[(n+i)%len(sides)]()
		}
		n++
	}
	if opened := e.conns() - warmConns; opened > 0 {
		b.Fatalf("%d TLS connections were opened in the loop: the connections are not reused", opened)
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(n) }
	added, addedCPU := fwdWall-directWall, fwdCPU-directCPU
	b.ReportMetric(per(fwdWall), "ns/op")
	b.ReportMetric(per(directWall), "direct-ns/op")
	b.ReportMetric(per(added), "added-ns/op")
	b.ReportMetric(per(floorWall), "floor-ns/op")
	b.ReportMetric(float64(added)/float64(floorWall), "added-x-floor")
	b.ReportMetric(per(fwdCPU), "cpu-ns/op")
	b.ReportMetric(per(directCPU), "direct-cpu-ns/op")
	b.ReportMetric(per(addedCPU), "added-cpu-ns/op")
	b.ReportMetric(per(floorCPU), "floor-cpu-ns/op")
	b.ReportMetric(float64(addedCPU)/float64(floorCPU), "x-floor-cpu")
}

func forwardEvent(jwe string) events.APIGatewayV2HTTPRequest {
	return fixture.Event("POST", "/v1/forward", "POST /v1/forward", nil, map[string]string{"content-type": "application/jose"}, jwe)
}
