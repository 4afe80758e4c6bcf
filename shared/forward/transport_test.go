package forward

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/vaulterr"
)

func TestPublicUnicast(t *testing.T) {
	refused := []string{
		"127.0.0.1", "127.255.255.254", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"169.254.169.254",               // the instance metadata service
		"100.64.0.1", "100.127.255.255", // carrier-grade NAT
		"0.0.0.0", "0.1.2.3", "255.255.255.255", "224.0.0.1", "239.1.1.1", "240.0.0.1",
		"192.0.2.1", "198.51.100.1", "203.0.113.1", "198.18.0.1", "192.0.0.8",
		"::", "::1", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "2001:db8::1",
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", // IPv4-mapped
		"64:ff9b::a00:1", "2002:a00:1::1", "2001:0:a00:1::1", // NAT64, 6to4, Teredo
	}
	for _, s := range refused {
		if PublicUnicast(netip.MustParseAddr(s)) {
			t.Errorf("%s judged public", s)
		}
	}
	allowed := []string{"8.8.8.8", "1.1.1.1", "54.187.174.169", "100.63.255.255", "100.128.0.1", "172.32.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"}
	for _, s := range allowed {
		if !PublicUnicast(netip.MustParseAddr(s)) {
			t.Errorf("%s judged not public", s)
		}
	}
}

func TestControlJudgesTheDialledAddress(t *testing.T) {
	strict, lax := controlFor(false), controlFor(true)
	for _, c := range []struct{ network, address string }{
		{"tcp4", "127.0.0.1:443"}, {"tcp6", "[::1]:443"}, {"tcp6", "[::ffff:127.0.0.1]:443"},
		{"tcp4", "169.254.169.254:80"}, {"tcp6", "[fd00::1]:443"}, {"tcp4", "100.64.1.1:443"},
	} {
		err := strict(c.network, c.address, nil)
		var refused errRefusedAddress
		if !errors.As(err, &refused) {
			t.Errorf("%s %s: %v, want refused", c.network, c.address, err)
		}
		if err := lax(c.network, c.address, nil); err != nil {
			t.Errorf("allow_private_network: %s refused: %v", c.address, err)
		}
	}
	if err := strict("tcp4", "93.184.215.14:443", nil); err != nil {
		t.Errorf("public address refused: %v", err)
	}
	if err := lax("udp", "127.0.0.1:53", nil); err == nil {
		t.Error("a non-TCP network was allowed")
	}
}

// testDestination points at srv, trusting its certificate through ca_pem
// unless noCA.
func testDestination(t *testing.T, srv *httptest.Server, noCA bool, extra string) *Destination {
	t.Helper()
	ca := ""
	if !noCA {
		ca = `, "ca_pem": ` + jsonQuote(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	}
	doc := `{"destinations": [{"id": "t", "url": "` + srv.URL + `", "allow_private_network": true, "routes": [{"method": "GET", "path": "/x"}]` + ca + extra + `}]}`
	ds, err := ParseDestinations([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := ds.Get("t")
	return d
}

func jsonQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

func get(d *Destination) *Outgoing {
	return &Outgoing{Method: "GET", URL: d.BaseURL.String() + "/x", Header: http.Header{}}
}

func codeOf(err error) vaulterr.Code { return vaulterr.CodeOf(err) }

func TestCAPEMTrustsForItsDestinationOnly(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer srv.Close()
	tr := NewTransports()
	withCA := testDestination(t, srv, false, "")
	a, err := tr.Send(context.Background(), withCA, get(withCA))
	if err != nil || string(a.Body) != "ok" {
		t.Fatalf("with ca_pem: %v %q", err, a.Body)
	}
	// Same server, another destination without its CA: the first
	// destination's roots must not leak into it.
	noCA := testDestination(t, srv, true, "")
	noCA.ID = "other"
	if _, err := tr.Send(context.Background(), noCA, get(noCA)); codeOf(err) != vaulterr.DestinationError {
		t.Fatalf("without ca_pem: %v, want destination_error (unknown authority)", err)
	}
}

func TestTLSBelow12IsRefused(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{MaxVersion: tls.VersionTLS11}
	srv.StartTLS()
	defer srv.Close()
	d := testDestination(t, srv, false, "")
	if _, err := NewTransports().Send(context.Background(), d, get(d)); codeOf(err) != vaulterr.DestinationError {
		t.Fatalf("TLS 1.1 server: %v, want destination_error", err)
	}
}

func TestNoProxyFromTheEnvironment(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("direct")) }))
	defer srv.Close()
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("NO_PROXY", "")
	d := testDestination(t, srv, false, "")
	a, err := NewTransports().Send(context.Background(), d, get(d))
	if err != nil || string(a.Body) != "direct" {
		t.Fatalf("with a proxy in the environment: %v %q", err, a.Body)
	}
}

func TestTimeoutCoversTheWholeAnswer(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		_, _ = w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		select { // headers sent, body never finished
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	d := testDestination(t, srv, false, `, "timeout_ms": 150`)
	start := time.Now()
	a, err := NewTransports().Send(context.Background(), d, get(d))
	if codeOf(err) != vaulterr.DestinationTimeout {
		t.Fatalf("stalled body: %v %+v, want destination_timeout", err, a)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v for a 150 ms timeout", took)
	}
}

func TestAnEditedDestinationGetsANewClient(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	tr := NewTransports()
	d1 := testDestination(t, srv, false, "")
	c1 := tr.Client(d1)
	if tr.Client(testDestination(t, srv, false, "")) != c1 {
		t.Error("an unchanged entry got a new client (connections would not stay warm)")
	}
	if tr.Client(testDestination(t, srv, false, `, "timeout_ms": 999`)) == c1 {
		t.Error("an edited entry kept its old client")
	}
}

func TestErrorsNeverHoldTheRequest(t *testing.T) {
	d := &Destination{ID: "t", Timeout: time.Second, config: "x"}
	out := &Outgoing{Method: "GET", URL: "https://127.0.0.1:1/x", Header: http.Header{"Authorization": {"Bearer sk_live_secret"}}, Body: []byte("4242424242424242")}
	_, err := NewTransports().Send(context.Background(), d, out)
	ve := vaulterr.As(err)
	if ve.Code != vaulterr.DestinationError {
		t.Fatalf("%v", err)
	}
	if strings.Contains(err.Error(), "sk_live") || strings.Contains(err.Error(), "4242") {
		t.Errorf("error holds the request: %v", err)
	}
}
