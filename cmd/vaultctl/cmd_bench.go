package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/cardvault/vault/shared/card"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cardvault/vault/shared/client"
	"github.com/cardvault/vault/shared/secret"
)

// bench is a load test against a running vault: workers vault a new
// card, read its masked view and reveal it, over and over, for a few
// merchants, until the duration or the request budget is spent. It is
// meant for the local server (make load, make soak): it refuses any host
// but loopback unless told otherwise, so it cannot be pointed at a
// production vault by a stray --url.

// benchOps are the operations a bench iteration runs, in order.
var benchOps = []string{client.OpVaultCard, client.OpGetMasked, client.OpRevealCard}

// benchGrace bounds how long requests in flight when the duration ends may
// take to finish before the bench gives up on them.
const benchGrace = 30 * time.Second

type benchConfig struct {
	Duration    time.Duration
	MaxRequests int64
	Workers     int
	Merchants   int
	PID         int
	AllowRemote bool
	JSON        bool
}

func runBench(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("bench", "")
	var cfg benchConfig
	fs.DurationVar(&cfg.Duration, "duration", 60*time.Second, "how long to send requests")
	fs.Int64Var(&cfg.MaxRequests, "requests", 1_000_000, "stop after this many requests in all")
	fs.IntVar(&cfg.Workers, "concurrency", 8, "concurrent workers")
	fs.IntVar(&cfg.Merchants, "merchants", 4, "merchants the cards are spread over")
	fs.IntVar(&cfg.PID, "pid", 0, "the server's process id, to report its memory and threads (Linux /proc)")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow a vault that is not on loopback")
	fs.BoolVar(&cfg.JSON, "json", false, "print the report as JSON")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	switch {
	case cfg.Duration <= 0:
		return usageError("--duration must be positive")
	case cfg.MaxRequests <= 0:
		return usageError("--requests must be positive")
	case cfg.Workers < 1 || cfg.Workers > 1024:
		return usageError("--concurrency must be between 1 and 1024")
	case cfg.Merchants < 1 || cfg.Merchants > 1000:
		return usageError("--merchants must be between 1 and 1000")
	}
	if err := checkLoopback(a.url, cfg.AllowRemote); err != nil {
		return err
	}
	creds, err := client.LoadCredentials(a.credentials)
	if err != nil {
		return err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = cfg.Workers
	c := client.New(a.url, creds, client.WithHTTPClient(&http.Client{
		Timeout:   benchGrace,
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}))
	defer transport.CloseIdleConnections()
	if err := c.Health(ctx); err != nil {
		return fmt.Errorf("the vault at %s is not ready: %w", a.url, err)
	}
	rep, err := benchRun(ctx, c, cfg, transport.CloseIdleConnections)
	if err != nil {
		return err
	}
	rep.URL = a.url
	if cfg.JSON {
		return printJSON(a.stdout, rep)
	}
	rep.writeText(a.stdout)
	return nil
}

// checkLoopback refuses a vault URL whose host is not a loopback address,
// unless allowRemote.
func checkLoopback(raw string, allowRemote bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return usageError("--url %q is not a URL", raw)
	}
	if allowRemote {
		return nil
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return usageError("bench only targets a vault on loopback (127.0.0.1); %s is not (--allow-remote to override)", host)
}

// benchRun runs the workers and collects the report. closeIdle drops the
// client's idle connections before the last sample, so that the bench's
// own figures after the run compare like with like.
func benchRun(ctx context.Context, c *client.Client, cfg benchConfig, closeIdle func()) (*benchReport, error) {
	runID, err := randomDigits(6)
	if err != nil {
		return nil, err
	}
	merchants := make([]string, cfg.Merchants)
	for i := range merchants {
		merchants[i] = fmt.Sprintf("m_bench_%s_%d", runID, i)
	}
	rep := newBenchReport(cfg)
	rep.Client.Before = sampleSelf()
	if cfg.PID > 0 {
		s, err := sampleProcess(cfg.PID)
		if err != nil {
			return nil, err
		}
		rep.Server = &serverSamples{PID: cfg.PID, Before: s, Peak: s}
	}

	// Requests in flight when the duration ends may finish (within
	// benchGrace); no new iteration starts after it.
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration+benchGrace)
	defer cancel()
	deadline := time.Now().Add(cfg.Duration)
	var budget atomic.Int64
	budget.Store(cfg.MaxRequests)
	take := func() bool { return time.Now().Before(deadline) && ctx.Err() == nil && budget.Add(-1) >= 0 }

	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	if rep.Server != nil {
		sampling.Add(1)
		go func() {
			defer sampling.Done()
			rep.Server.watch(stopSampling, cfg.Duration/10)
		}()
	}

	start := time.Now()
	var wg sync.WaitGroup
	for w := range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			benchWorker(runCtx, c, rep, merchants[w%len(merchants)], fmt.Sprintf("c_bench_%d", w), take)
		}()
	}
	wg.Wait()
	rep.Elapsed = time.Since(start)
	close(stopSampling)
	sampling.Wait()

	switch {
	case ctx.Err() != nil:
		rep.StoppedBy = "interrupted"
	case budget.Load() < 0:
		rep.StoppedBy = "request budget"
	default:
		rep.StoppedBy = "duration"
	}
	closeIdle()
	// Connection goroutines end asynchronously once their connection is
	// closed; give them a moment before counting.
	time.Sleep(100 * time.Millisecond)
	runtime.GC()
	rep.Client.After = sampleSelf()
	if rep.Server != nil {
		s, err := sampleProcess(cfg.PID)
		if err != nil {
			return nil, err
		}
		rep.Server.After = s
		rep.Server.Peak = rep.Server.Peak.max(s)
	}
	rep.finish()
	return rep, nil
}

// benchWorker runs iterations (vault, masked, reveal of a new card) until
// take refuses.
func benchWorker(ctx context.Context, c *client.Client, rep *benchReport, merchant, customer string, take func() bool) {
	for take() {
		pan, err := testPAN()
		if err != nil {
			rep.record(client.OpVaultCard, 0, "card_generation")
			return
		}
		var rec *client.CardRecord
		ok := rep.timed(client.OpVaultCard, func() error {
			rec, err = c.VaultCard(ctx, client.VaultCardRequest{
				MerchantID: merchant,
				CustomerID: customer,
				Card: client.Card{
					Number: secret.New(pan), ExpMonth: 12, ExpYear: time.Now().Year() + 3,
					HolderName: secret.New("Bench Holder"),
				},
			})
			return err
		})
		if !ok || !take() {
			continue
		}
		if !rep.timed(client.OpGetMasked, func() error {
			masked, err := c.GetMasked(ctx, merchant, rec.Token)
			if err == nil && masked.Masked.Last4 != pan[len(pan)-4:] {
				return errBenchMismatch
			}
			return err
		}) || !take() {
			continue
		}
		rep.timed(client.OpRevealCard, func() error {
			card, err := c.RevealCard(ctx, merchant, rec.Token)
			if err == nil && card.Card.Number.Reveal() != pan {
				return errBenchMismatch
			}
			return err
		})
	}
}

// errBenchMismatch is an answer that does not match what was vaulted.
var errBenchMismatch = errors.New("answer does not match the vaulted card")

// errorLabel names an error for the report: the contract code, or what
// failed when there is none.
func errorLabel(err error) string {
	var apiErr *client.APIError
	switch {
	case errors.Is(err, errBenchMismatch):
		return "wrong_answer"
	case errors.As(err, &apiErr) && apiErr.Code != "":
		return apiErr.Code
	case errors.As(err, &apiErr):
		return fmt.Sprintf("http_%d", apiErr.Status)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "timeout"
	case errors.Is(err, client.ErrInvalidAnswer):
		return "invalid_answer"
	default:
		return "transport"
	}
}

// testPAN is a random Luhn-valid 16-digit Visa test number (BIN 400000):
// every bench card is new, so the vault does real work for each.
func testPAN() (string, error) {
	body, err := randomDigits(9)
	if err != nil {
		return "", err
	}
	partial := "400000" + body
	return partial + string(card.LuhnCheckDigit(partial)), nil
}

func randomDigits(n int) (string, error) {
	var b strings.Builder
	for range n {
		d, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			return "", err
		}
		b.WriteByte(byte('0' + d.Int64())) // #nosec G115 -- d is a digit, 0 to 9
	}
	return b.String(), nil
}
