// Command coldstart measures each vault function's cold start and Lambda
// binary size, and prints the figures as Go benchmark lines (benchstat
// reads them; cmd/benchreport turns them into docs/BENCHMARKS.md):
//
//	BenchmarkColdStart/fn=<name>   medians over -runs fresh processes of
//	                               cmd/coldinit (built for this machine
//	                               with the Lambda flags): init-ms (local
//	                               components and API built), first-ms
//	                               (the first request), total-ms (main to
//	                               first answer) and process-ms (exec to
//	                               first answer, including the Go runtime
//	                               and package initialisation)
//	BenchmarkBinarySize/fn=<name>  the linux/arm64 Lambda binary in MB
//
// It starts its own in-memory dynalite and local mode directory, and
// prepares what each function's first request needs (a card to read, a
// card per run to delete, a secret).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cardvault/vault/bench/internal/fixture"
	"github.com/cardvault/vault/bench/internal/localdb"
	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/httpapi"
	"github.com/cardvault/vault/shared/localmode"
	"github.com/cardvault/vault/shared/vault"
)

const (
	merchant   = "m_cold"
	secretName = "psp_api_key"
	table      = "card-vault"
)

// lambdaFlags are the Makefile's Lambda build flags.
var lambdaFlags = []string{"-trimpath", "-tags", "lambda.norpc", "-ldflags", "-s -w"}

func main() {
	root := flag.String("root", "..", "repository root (holds functions/)")
	runs := flag.Int("runs", 5, "fresh processes per function")
	flag.Parse()
	if err := run(*root, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "coldstart:", err)
		os.Exit(1)
	}
}

func run(root string, runs int) error {
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	functions, err := functionNames(root)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "vault-coldstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	if err := binarySizes(root, work, functions); err != nil {
		return err
	}

	initBin := filepath.Join(work, "coldinit")
	build := exec.Command("go", append(append([]string{"build"}, lambdaFlags...), "-o", initBin, "./cmd/coldinit")...)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build coldinit: %w", err)
	}

	ctx := context.Background()
	db, err := localdb.Start(ctx)
	if err != nil {
		return err
	}
	defer db.Stop()
	dir := filepath.Join(work, "local")
	p, err := prepare(ctx, dir, db.Endpoint, runs+1)
	if err != nil {
		return err
	}

	// One discarded run first: the first exec of a new binary also pays
	// for reading it from disk.
	if _, err := coldRun(initBin, dir, db.Endpoint, work, "jwks", p.event("jwks", 0)); err != nil {
		return err
	}
	for _, fn := range functions {
		if why, ok := sizeOnly[fn]; ok {
			fmt.Fprintf(os.Stderr, "coldstart: %s: binary size only, no cold start (%s)\n", fn, why)
			continue
		}
		var results []result
		for i := range runs {
			r, err := coldRun(initBin, dir, db.Endpoint, work, fn, p.event(fn, i))
			if err != nil {
				return err
			}
			results = append(results, r)
		}
		fmt.Printf("BenchmarkColdStart/fn=%s \t%d\t%.0f ns/op\t%.2f init-ms\t%.2f first-ms\t%.2f total-ms\t%.2f process-ms\n",
			fn, len(results), median(results, func(r result) float64 { return r.ProcessMS })*1e6,
			median(results, func(r result) float64 { return r.InitMS }),
			median(results, func(r result) float64 { return r.FirstMS }),
			median(results, func(r result) float64 { return r.TotalMS }),
			median(results, func(r result) float64 { return r.ProcessMS }))
	}
	return nil
}

// sizeOnly are the functions whose first request a local run cannot make
// up, and why: their binaries are measured, their cold starts are not. A
// function neither here nor in build fails the run.
var sizeOnly = map[string]string{
	"forward": "its first request needs a provider to forward to",
	"migrate": "it is started by an upload or a job work event, not a request",
}

// functionNames lists functions/*.
func functionNames(root string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

func binarySizes(root, work string, functions []string) error {
	for _, fn := range functions {
		out := filepath.Join(work, "arm64-"+fn)
		cmd := exec.Command("go", append(append([]string{"build"}, lambdaFlags...), "-o", out, "./functions/"+fn)...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %w", fn, err)
		}
		st, err := os.Stat(out)
		if err != nil {
			return err
		}
		fmt.Printf("BenchmarkBinarySize/fn=%s \t1\t%.2f MB\t%d bytes\n", fn, float64(st.Size())/(1<<20), st.Size())
	}
	return nil
}

type result struct {
	InitMS    float64 `json:"init_ms"`
	FirstMS   float64 `json:"first_ms"`
	TotalMS   float64 `json:"total_ms"`
	ProcessMS float64 `json:"-"`
}

// coldRun runs coldinit once in a fresh process and times it from exec to
// its answer line.
func coldRun(bin, dir, endpoint, work, fn string, event []byte) (result, error) {
	eventPath := filepath.Join(work, "event.json")
	if err := os.WriteFile(eventPath, event, 0o600); err != nil {
		return result{}, err
	}
	cmd := exec.Command(bin, "-function", fn, "-dir", dir, "-endpoint", endpoint, "-table", table, "-event", eventPath)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	line, readErr := bufio.NewReader(stdout).ReadBytes('\n')
	elapsed := time.Since(start)
	waitErr := cmd.Wait()
	if waitErr != nil {
		return result{}, fmt.Errorf("%s: %w", fn, waitErr)
	}
	if readErr != nil {
		return result{}, fmt.Errorf("%s: no answer: %w", fn, readErr)
	}
	var r result
	if err := json.Unmarshal(line, &r); err != nil {
		return result{}, err
	}
	r.ProcessMS = float64(elapsed.Microseconds()) / 1000
	return r, nil
}

func median(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// prepared is what the first requests refer to.
type prepared struct {
	f      *fixture.Fixture
	token  string   // a card to read
	doomed []string // a card per run to delete
}

// prepare makes the local mode directory and the records the first
// requests need, then closes local mode so that each measured process
// opens it afresh.
func prepare(ctx context.Context, dir, endpoint string, deletions int) (*prepared, error) {
	env, err := localmode.Start(ctx, localmode.Settings{Dir: dir, DynamoDBEndpoint: endpoint, Table: table},
		slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		return nil, err
	}
	defer env.Close()
	api, err := env.API(app.Functions...)
	if err != nil {
		return nil, err
	}
	creds, err := os.ReadFile(filepath.Join(dir, localmode.DemoClientFile))
	if err != nil {
		return nil, err
	}
	f, err := fixture.ForLocalVault(env.VaultKeys.PublicJWKS(), creds)
	if err != nil {
		return nil, err
	}
	p := &prepared{f: f}
	vaultOne := func(customer string) (string, error) {
		jwe, err := f.VaultCardJWE(f.ClientEC, "ECDH-ES+A256KW", merchant, customer, fixture.CardNumber)
		if err != nil {
			return "", err
		}
		return send(ctx, api, fixture.VaultCardEvent(jwe), http.StatusCreated)
	}
	if p.token, err = vaultOne("cus_read"); err != nil {
		return nil, err
	}
	for i := range deletions {
		t, err := vaultOne(fmt.Sprintf("cus_delete_%d", i))
		if err != nil {
			return nil, err
		}
		p.doomed = append(p.doomed, t)
	}
	body, err := f.SealedBody(f.ClientEC, "put_secret", merchant, map[string]any{"name": secretName, "value": "sk_live_0123456789abcdef"})
	if err != nil {
		return nil, err
	}
	if _, err := send(ctx, api, secretEvent("PUT", "", body), http.StatusCreated); err != nil {
		return nil, err
	}
	return p, nil
}

func send(ctx context.Context, api *httpapi.API, ev events.APIGatewayV2HTTPRequest, want int) (string, error) {
	resp, err := api.Handle(ctx, ev)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != want {
		return "", fmt.Errorf("%s answered %d: %s", ev.RouteKey, resp.StatusCode, resp.Body)
	}
	var v struct {
		Token string `json:"token"`
	}
	_ = json.Unmarshal([]byte(resp.Body), &v)
	return v.Token, nil
}

func secretEvent(method, suffix, jweOrEmpty string, bearer ...string) events.APIGatewayV2HTTPRequest {
	path := "/v1/merchants/" + merchant + "/secrets/" + secretName + suffix
	routeKey := method + " /v1/merchants/{merchant_id}/secrets/{name}" + suffix
	headers := map[string]string{}
	if jweOrEmpty != "" {
		headers["content-type"] = "application/jose"
	}
	if len(bearer) > 0 {
		headers["authorization"] = "Bearer " + bearer[0]
	}
	return fixture.Event(method, path, routeKey, map[string]string{"merchant_id": merchant, "name": secretName}, headers, jweOrEmpty)
}

// event is the first request of fn's run i, sealed now (fresh iat, jti).
func (p *prepared) event(fn string, i int) []byte {
	ev, err := p.build(fn, i)
	if err != nil {
		fmt.Fprintln(os.Stderr, "coldstart: prepare request:", err)
		os.Exit(1)
	}
	return ev
}

func (p *prepared) build(fn string, i int) ([]byte, error) {
	c := p.f.ClientEC
	var signErr error // the first failure of bearer, checked once the event is built
	bearer := func(op string, extra map[string]any) string {
		b, err := c.Bearer(op, merchant, extra)
		if signErr == nil {
			signErr = err
		}
		return b
	}
	var ev events.APIGatewayV2HTTPRequest
	switch fn {
	case "vault-card":
		jwe, err := p.f.VaultCardJWE(c, "ECDH-ES+A256KW", merchant, fmt.Sprintf("cus_cold_%d", i), fixture.CardNumber)
		if err != nil {
			return nil, err
		}
		ev = fixture.VaultCardEvent(jwe)
	case "get-masked":
		ev = fixture.MaskedEvent(p.token, bearer("get_masked", map[string]any{"token": p.token}))
	case "reveal-card":
		ev = fixture.RevealEvent(p.token, bearer("reveal_card", map[string]any{"token": p.token}))
	case "delete-card":
		t := p.doomed[i]
		ev = fixture.Event("DELETE", "/v1/cards/"+t, "DELETE /v1/cards/{token}", map[string]string{"token": t},
			map[string]string{"authorization": "Bearer " + bearer("delete_card", map[string]any{"token": t})}, "")
	case "put-secret":
		body, err := p.f.SealedBody(c, "put_secret", merchant, map[string]any{"name": secretName, "value": fmt.Sprintf("sk_live_%d_0123456789", i)})
		if err != nil {
			return nil, err
		}
		ev = secretEvent("PUT", "", body)
	case "reveal-secret":
		ev = secretEvent("POST", "/reveal", "", bearer("reveal_secret", map[string]any{"name": secretName}))
	case "secret-metadata":
		ev = secretEvent("GET", "", "", bearer("get_secret", map[string]any{"name": secretName}))
	case "merchant-keys":
		ev = fixture.Event("GET", "/v1/merchants/"+merchant+"/keys", "GET /v1/merchants/{merchant_id}/keys",
			map[string]string{"merchant_id": merchant}, map[string]string{"authorization": "Bearer " + bearer("get_keys", nil)}, "")
	case "jobs":
		ev = fixture.Event("POST", "/v1/merchants/"+merchant+"/imports", "POST /v1/merchants/{merchant_id}/imports",
			map[string]string{"merchant_id": merchant}, map[string]string{"authorization": "Bearer " + bearer("import_cards", nil)}, "")
	case "jwks":
		ev = fixture.Event("GET", "/v1/jwks", "GET /v1/jwks", nil, map[string]string{}, "")
	case "rotate-dek":
		return json.Marshal(vault.WorkRequest{Action: vault.ActionContinueRotation, MerchantID: merchant})
	default:
		return nil, fmt.Errorf("no first request known for function %q", fn)
	}
	if signErr != nil {
		return nil, signErr
	}
	if strings.TrimSpace(ev.RouteKey) == "" {
		return nil, fmt.Errorf("%s: no route", fn)
	}
	return json.Marshal(ev)
}
