// Command coldinit is one cold start of one vault function, measured from
// inside: it builds the function's components on local backends (local
// mode against an already running dynalite, keys and registry read from
// files, as AWS mode reads them from Secrets Manager), builds the
// function's API and serves one request, then prints the timings as one
// JSON line. cmd/coldstart runs it in a fresh process per measurement.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/localmode"
	"github.com/cardvault/vault/shared/vault"
)

// Result is what one run reports.
type Result struct {
	Function string  `json:"function"`
	InitMS   float64 `json:"init_ms"`  // components and API built
	FirstMS  float64 `json:"first_ms"` // the first request, alone
	TotalMS  float64 `json:"total_ms"` // from main to the first answer
	Status   int     `json:"status"`
}

func main() {
	start := time.Now()
	fn := flag.String("function", "", "function name (functions/<name>)")
	dir := flag.String("dir", "", "local mode directory (keys, registry)")
	endpoint := flag.String("endpoint", "", "DynamoDB endpoint")
	table := flag.String("table", "card-vault", "table")
	eventPath := flag.String("event", "", "the first request: an API Gateway v2 event, or a work request for rotate-dek")
	flag.Parse()
	res, err := run(start, *fn, *dir, *endpoint, *table, *eventPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "coldinit:", err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
}

func run(start time.Time, fn, dir, endpoint, table, eventPath string) (Result, error) {
	ctx := context.Background()
	raw, err := os.ReadFile(eventPath)
	if err != nil {
		return Result{}, err
	}
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	env, err := localmode.Start(ctx, localmode.Settings{Dir: dir, DynamoDBEndpoint: endpoint, Table: table}, logger)
	if err != nil {
		return Result{}, err
	}
	defer env.Close()
	res := Result{Function: fn}
	if fn == "rotate-dek" {
		life, err := env.KeyLifecycle()
		if err != nil {
			return res, err
		}
		var req vault.WorkRequest
		if err := json.Unmarshal(raw, &req); err != nil {
			return res, err
		}
		ready := time.Now()
		if _, err := life.RunWork(ctx, req); err != nil {
			return res, err
		}
		res.Status = 200
		return finish(res, start, ready), nil
	}
	f, err := app.FunctionNamed(fn)
	if err != nil {
		return res, err
	}
	api, err := env.API(f)
	if err != nil {
		return res, err
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		return res, err
	}
	ready := time.Now()
	resp, err := api.Handle(ctx, ev)
	if err != nil {
		return res, err
	}
	res.Status = resp.StatusCode
	if resp.StatusCode >= 300 {
		return res, fmt.Errorf("%s answered %d: %s", fn, resp.StatusCode, resp.Body)
	}
	return finish(res, start, ready), nil
}

func finish(res Result, start, ready time.Time) Result {
	now := time.Now()
	res.InitMS = msSince(start, ready)
	res.FirstMS = msSince(ready, now)
	res.TotalMS = msSince(start, now)
	return res
}

func msSince(a, b time.Time) float64 { return float64(b.Sub(a).Microseconds()) / 1000 }
