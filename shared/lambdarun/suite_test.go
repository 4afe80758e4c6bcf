package lambdarun_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/deploy"
	"github.com/cardvault/vault/shared/deploy/iampolicy"
	"github.com/cardvault/vault/shared/deploy/iamproxy"
	"github.com/cardvault/vault/shared/internal/dynalite"
	"github.com/cardvault/vault/shared/invoke"
	"github.com/cardvault/vault/shared/lambdarun"
	"github.com/cardvault/vault/shared/pgpfile"
	"github.com/cardvault/vault/shared/vault"
)

const root = "../.."

var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lambdarun-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	defer os.RemoveAll(dir)
	dynalite.Main(m)
}

// bootstraps builds every function once per test binary.
var bootstraps = sync.OnceValues(func() (map[string]string, error) {
	return lambdarun.BuildAll(context.Background(), root, filepath.Join(buildDir, "bootstraps"))
})

// suiteParameters are the parameter overrides of the suite's stacks:
// key caches short enough for a rotation to settle within the test, and
// a record limit of one, so the scheduled run finds a merchant with two
// cards due.
var suiteParameters = map[string]string{
	"KeyCacheTTL":        "150ms",
	"PrimaryTTL":         "50ms",
	"RotationMaxRecords": "1",
}

func startStack(t *testing.T, placeholders bool) *lambdarun.Stack {
	t.Helper()
	boots, err := bootstraps()
	if err != nil {
		t.Fatalf("building the bootstraps: %v", err)
	}
	s, err := lambdarun.Start(context.Background(), lambdarun.Options{
		Root:             root,
		Dir:              t.TempDir(),
		DynamoDBEndpoint: dynalite.ForTest(t),
		Owner:            t,
		Parameters:       suiteParameters,
		Placeholders:     placeholders,
	}, boots)
	if err != nil {
		// Under CI=true as anywhere: an emulator that cannot start fails
		// the suite, it never skips it.
		t.Fatalf("the emulators could not start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// sampleEvents are the files under events/, by name.
func sampleEvents(t *testing.T) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, "events"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, "events", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = data
	}
	return out
}

// functionOf is the function a sample event is for: the longest function
// name its file name starts with (merchant-keys-shred.json: merchant-keys).
func functionOf(s *lambdarun.Stack, name string) string {
	best := ""
	base := strings.TrimSuffix(name, ".json")
	for fn := range s.Functions {
		if (base == fn || strings.HasPrefix(base, fn+"-")) && len(fn) > len(best) {
			best = fn
		}
	}
	return best
}

// driver drives one sample event on the stack: it runs what the event
// needs first, invokes it and checks the answer. Events without a driver
// of their own get runOnce.
type driver func(t *testing.T, s *lambdarun.Stack, fn string, event []byte)

// drivers are the events whose path needs more than one invocation.
var drivers = map[string]driver{
	// Vaulting again once the key cache has expired unwraps the
	// merchant's key (kms:Decrypt) instead of making it.
	"vault-card.json": func(t *testing.T, s *lambdarun.Stack, fn string, event []byte) {
		runOnce(t, s, fn, event)
		waitKeyCache()
		runOnce(t, s, fn, event)
	},
	// Putting again once the key cache has expired unwraps the key; a
	// third version prunes the oldest (vault.KeptSecretVersions).
	"put-secret.json": func(t *testing.T, s *lambdarun.Stack, fn string, event []byte) {
		runOnce(t, s, fn, event)
		waitKeyCache()
		for range vault.KeptSecretVersions {
			runOnce(t, s, fn, event)
		}
	},
	// An import round trip: the job, the file PUT to its presigned URL
	// (the jobs role's s3:PutObject), the bucket's notification starting
	// migrate (GetObject, rows vaulted, the result written, the upload
	// deleted), then get_job with the job's id and the result downloaded
	// through its presigned URL (the jobs role's s3:GetObject).
	"jobs-get.json": func(t *testing.T, s *lambdarun.Stack, fn string, event []byte) {
		importRoundTrip(t, s, fn, event)
	},
	// An export to the sample's recipient key, run by migrate from the
	// work event it puts on the bus, streamed into the bucket.
	"jobs-export.json": func(t *testing.T, s *lambdarun.Stack, fn string, event []byte) {
		var ev map[string]any
		if err := json.Unmarshal(event, &ev); err != nil {
			t.Fatal(err)
		}
		merchant := ev["x-vault-request"].(map[string]any)["merchant_id"].(string)
		vaultCard(t, s, sampleEvents(t), merchant, "4111111111111111")
		res := invokeHTTP(t, s, fn, event, 201)
		job := jobOf(t, res)
		if err := s.DeliverWork(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := getJob(t, s, withJob(t, sampleEvents(t)["jobs-get.json"], merchant, job.JobID))
		if got.State != "succeeded" || got.Rows != 1 || got.Result == nil {
			t.Fatalf("export job: %+v", got)
		}
	},
	// A forward to the stack's loopback TLS destination: the card read
	// and the merchant secret read (the credential), filled in and sent,
	// and the destination took them.
	"forward.json": func(t *testing.T, s *lambdarun.Stack, fn string, event []byte) {
		before := s.DestinationAccepted()
		runOnce(t, s, fn, event)
		if s.DestinationAccepted() != before+1 {
			t.Errorf("the destination accepted no request from forward\n%s", s.Output(fn))
		}
	},
	// A forced rotation of a merchant with a card, carried on by the
	// continuation work events it puts on the bus.
	"rotate-dek-force.json": func(t *testing.T, s *lambdarun.Stack, fn string, event []byte) {
		res := runOnce(t, s, fn, event)
		if res.Rotated == 0 {
			t.Errorf("the forced rotation rotated no merchant: %+v", res)
		}
	},
}

// populated are the samples whose merchant gets a card and a secret
// first: the work they start (re-encryption, purging) then has records of
// both kinds to move or delete.
var populated = []string{"rotate-dek-force.json", "merchant-keys-rotate.json", "merchant-keys-shred.json"}

// populate vaults a card and puts a secret for merchant.
func populate(t *testing.T, s *lambdarun.Stack, events map[string][]byte, merchant string) {
	t.Helper()
	vaultCard(t, s, events, merchant, "5555555555554444")
	runOnce(t, s, "put-secret", withMerchant(events["put-secret.json"], merchant))
}

// waitKeyCache sleeps past the suite's KeyCacheTTL.
func waitKeyCache() {
	d, _ := time.ParseDuration(suiteParameters["KeyCacheTTL"])
	time.Sleep(2 * d)
}

// withMerchant gives a sample its own merchant, so that samples do not
// depend on each other's order (one of them shreds its merchant).
func withMerchant(event []byte, merchant string) []byte {
	return []byte(strings.ReplaceAll(string(event), "m_demo", merchant))
}

// runOnce invokes the sample and checks it succeeded: an HTTP answer of
// 2xx, or a work result.
func runOnce(t *testing.T, s *lambdarun.Stack, fn string, event []byte) vault.WorkResult {
	t.Helper()
	res, err := s.InvokeEvent(context.Background(), fn, event)
	if err != nil {
		t.Fatalf("%s: %v\n%s", fn, err, s.Output(fn))
	}
	if err := s.DeliverWork(context.Background()); err != nil {
		t.Errorf("after %s: %v", fn, err)
	}
	var work vault.WorkResult
	if res.HTTP != nil {
		if res.HTTP.StatusCode < 200 || res.HTTP.StatusCode > 299 {
			t.Errorf("%s answered %d: %s", fn, res.HTTP.StatusCode, res.HTTP.Body)
		}
		return work
	}
	if err := json.Unmarshal(res.Output, &work); err != nil || work.Action == "" {
		t.Errorf("%s returned %s, not a work result", fn, res.Output)
	}
	return work
}

// vaultCard vaults a card for merchant through vault-card, as the sample
// does but with the given number, and returns the token.
func vaultCard(t *testing.T, s *lambdarun.Stack, events map[string][]byte, merchant, number string) {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(withMerchant(events["vault-card.json"], merchant), &ev); err != nil {
		t.Fatal(err)
	}
	ev["x-vault-request"].(map[string]any)["claims"].(map[string]any)["card"].(map[string]any)["number"] = number
	raw, _ := json.Marshal(ev)
	runOnce(t, s, "vault-card", raw)
}

// TestBootstrapsUnderTheirRoles runs every function's built bootstrap
// under aws-lambda-rie, in AWS mode against local-kms, dynalite and the
// loopback Secrets Manager and EventBridge, every call held to its role
// in template.yaml by the proxy: every route and work event of events/,
// the scheduled run of a due key, the work events the bus carries between
// functions, a re-wrap under a new KMS key, and a cold start on the
// template's placeholder secrets. It fails on any call a role does not
// allow and on any grant of a role no call used.
func TestBootstrapsUnderTheirRoles(t *testing.T) {
	events := sampleEvents(t)
	main := startStack(t, false)
	var stacks []*lambdarun.Stack

	t.Run("coverage", func(t *testing.T) { checkEveryRouteHasAnEvent(t, main, events) })

	t.Run("samples", func(t *testing.T) {
		stacks = append(stacks, main)
		names := make([]string, 0, len(events))
		for name := range events {
			names = append(names, name)
		}
		sort.Strings(names)
		for i, name := range names {
			fn := functionOf(main, name)
			if fn == "" {
				t.Errorf("events/%s names no function of the template", name)
				continue
			}
			merchant := fmt.Sprintf("m_sample%02d", i)
			t.Run(name, func(t *testing.T) {
				if slices.Contains(populated, name) {
					populate(t, main, events, merchant)
				}
				run := drivers[name]
				if run == nil {
					run = func(t *testing.T, s *lambdarun.Stack, fn string, event []byte) { runOnce(t, s, fn, event) }
				}
				run(t, main, fn, withMerchant(events[name], merchant))
			})
		}
	})

	t.Run("schedules", func(t *testing.T) {
		schedules, err := main.Schedules()
		if err != nil {
			t.Fatal(err)
		}
		if len(schedules) == 0 {
			t.Fatal("the template schedules no function")
		}
		for _, sch := range schedules {
			t.Run(sch.ID, func(t *testing.T) {
				// Two cards under one key: more than RotationMaxRecords,
				// so the merchant is due.
				merchant := "m_due_" + strings.ToLower(sch.ID)
				vaultCard(t, main, events, merchant, "4111111111111111")
				populate(t, main, events, merchant)
				res := runOnce(t, main, sch.Function, []byte(sch.Input))
				if res.Rotated == 0 {
					t.Errorf("the scheduled run (%s) rotated no merchant: %+v", sch.Input, res)
				}
				if err := main.DeliverWork(context.Background()); err != nil {
					t.Error(err)
				}
			})
		}
	})

	t.Run("unaudited card", func(t *testing.T) { unauditedCardIsTakenBack(t, main, events) })
	t.Run("refused requests", func(t *testing.T) { refusedRequestsTakeBackTheirSpend(t, main, events) })

	// Last on the main stack: it changes the stack's key.
	moved := map[string]string{}
	t.Run("rewrap", func(t *testing.T) {
		oldARN, newARN := rewrapUnderANewKey(t, main, events)
		moved[newARN] = oldARN
	})

	t.Run("placeholder secrets", func(t *testing.T) {
		s := startStack(t, true)
		stacks = append(stacks, s)
		coldStartOnPlaceholders(t, s, events)
	})

	// The work the functions hand each other reached rotate-dek.
	delivered := map[string]bool{}
	for _, d := range main.Deliveries() {
		var req vault.WorkRequest
		if json.Unmarshal([]byte(d.Input), &req) == nil && d.Err == nil {
			delivered[req.Action] = true
		}
	}
	for _, action := range []string{vault.ActionContinueRotation, vault.ActionPurgeMerchant} {
		if !delivered[action] {
			t.Errorf("no %s work event was delivered", action)
		}
	}
	for _, failure := range deliveryFailures(stacks) {
		t.Errorf("a work event failed: %s", failure)
	}
	var all []iamproxy.Call
	for _, s := range stacks {
		all = append(all, s.Proxy.Calls()...)
	}
	for _, c := range all {
		if c.Denied() {
			t.Errorf("denied: %s", c)
		}
	}
	checkEveryGrantWasUsed(t, main, all, moved)
}

func deliveryFailures(stacks []*lambdarun.Stack) []string {
	var out []string
	for _, s := range stacks {
		for _, d := range s.Deliveries() {
			if d.Err != nil {
				out = append(out, fmt.Sprintf("%s %s: %v", d.Function, d.Input, d.Err))
			}
		}
	}
	return out
}

// job is the part of a job answer the drivers read.
type job struct {
	JobID  string `json:"job_id"`
	State  string `json:"state"`
	Rows   int    `json:"rows"`
	Upload *struct {
		URL     string            `json:"url"`
		Method  string            `json:"method"`
		Headers map[string]string `json:"headers"`
	} `json:"upload"`
	Result *struct {
		URL string `json:"url"`
	} `json:"result"`
	Vaulted, Duplicates, Rejected int
}

func invokeHTTP(t *testing.T, s *lambdarun.Stack, fn string, event []byte, status int) string {
	t.Helper()
	res, err := s.InvokeEvent(context.Background(), fn, event)
	if err != nil {
		t.Fatalf("%s: %v\n%s", fn, err, s.Output(fn))
	}
	if res.HTTP == nil || res.HTTP.StatusCode != status {
		t.Fatalf("%s answered %+v, want %d", fn, res.HTTP, status)
	}
	return res.HTTP.Body
}

func jobOf(t *testing.T, body string) job {
	t.Helper()
	var j job
	if err := json.Unmarshal([]byte(body), &j); err != nil || j.JobID == "" {
		t.Fatalf("not a job: %s", body)
	}
	return j
}

func getJob(t *testing.T, s *lambdarun.Stack, event []byte) job {
	t.Helper()
	return jobOf(t, invokeHTTP(t, s, "jobs", event, 200))
}

// withJob is the get_job sample for merchant's job id.
func withJob(t *testing.T, event []byte, merchant, id string) []byte {
	t.Helper()
	return []byte(strings.ReplaceAll(string(withMerchant(event, merchant)), "job_AAAAAAAAAAAAAAAAAAAAAA", id))
}

// importRoundTrip runs an import through the bucket; event is the
// get_job sample (its merchant set).
func importRoundTrip(t *testing.T, s *lambdarun.Stack, fn string, event []byte) {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(event, &ev); err != nil {
		t.Fatal(err)
	}
	merchant := ev["x-vault-request"].(map[string]any)["merchant_id"].(string)
	created := jobOf(t, invokeHTTP(t, s, fn, withMerchant(sampleEvents(t)["jobs-import.json"], merchant), 201))
	if created.Upload == nil {
		t.Fatalf("an import job without an upload link: %+v", created)
	}
	file := importFile(t, s, "card_number,card_exp_month,card_exp_year,name,old_customer_id,old_card_id\n"+
		"4242424242424242,12,2031,Jane Doe,cus_1,card_1\n"+
		"5555555555554444,01,2032,,cus_2,card_2\n"+
		"4242424242424241,01,2032,,cus_3,card_3\n"+
		// A repeat of the first row's card: a duplicate, found through
		// the duplicate index (GetItem on CIDX#, as vault-card finds one).
		"4242424242424242,11,2031,,cus_1,card_4\n")
	req, err := http.NewRequest(created.Upload.Method, created.Upload.URL, bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range created.Upload.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upload through the presigned URL: %d %s", resp.StatusCode, answer)
	}
	if err := s.DeliverWork(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := getJob(t, s, withJob(t, event, merchant, created.JobID))
	if got.State != "succeeded" || got.Rows != 4 || got.Vaulted != 2 || got.Duplicates != 1 || got.Rejected != 1 || got.Result == nil {
		t.Fatalf("import job: %+v", got)
	}
	resp, err = http.Get(got.Result.URL)
	if err != nil {
		t.Fatal(err)
	}
	result, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.Count(string(result), "\n") != 5 || !strings.Contains(string(result), ",vaulted,") {
		t.Fatalf("result through the presigned URL: %d %s", resp.StatusCode, result)
	}
}

// importFile is csv encrypted to the stack's import key, as a provider's
// export is.
func importFile(t *testing.T, s *lambdarun.Stack, csv string) []byte {
	t.Helper()
	ring, err := pgpfile.ParseKeyRing(s.ImportKey, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	public, err := pgpfile.PublicKeyOf(s.ImportKey)
	if err != nil {
		t.Fatal(err)
	}
	to, err := pgpfile.ParseRecipient(string(public), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := ring.EncryptTo(&buf, to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, csv); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkEveryRouteHasAnEvent: every route of every function has a sample
// event, and every function an event, so adding a function or a route
// without its event fails here.
func checkEveryRouteHasAnEvent(t *testing.T, s *lambdarun.Stack, events map[string][]byte) {
	covered := map[string]bool{}
	hasEvent := map[string]bool{}
	for name, data := range events {
		var ev struct {
			RouteKey string `json:"routeKey"`
		}
		_ = json.Unmarshal(data, &ev)
		covered[ev.RouteKey] = true
		hasEvent[functionOf(s, name)] = true
	}
	for name, fn := range s.Functions {
		if !hasEvent[name] {
			t.Errorf("%s has no event under events/ (%s.json)", name, name)
		}
		for _, route := range fn.HTTP {
			if !covered[route] {
				t.Errorf("route %s of %s has no event under events/", route, name)
			}
		}
		if _, err := app.FunctionNamed(name); err != nil && len(fn.HTTP) > 0 {
			t.Errorf("%s serves routes in the template but is not in app.Functions", name)
		}
	}
}

// unauditedCardIsTakenBack: a card whose audit event the bus refuses is
// not kept (docs/audit.md): vault-card answers 503 and deletes the record
// and its duplicate-index entry, as its role's UndoUnauditedCard allows.
// Vaulting the card again then makes a new record, not a duplicate.
func unauditedCardIsTakenBack(t *testing.T, s *lambdarun.Stack, events map[string][]byte) {
	ctx := context.Background()
	event := withMerchant(events["vault-card.json"], "m_unaudited")
	// Refused as a whole and not retryable: the SDK makes one attempt.
	s.Events.FailNext(1, "AccessDeniedException", 400)
	res, err := s.InvokeEvent(ctx, "vault-card", event)
	if err != nil {
		t.Fatalf("vault-card: %v\n%s", err, s.Output("vault-card"))
	}
	if res.HTTP == nil || res.HTTP.StatusCode != 503 {
		t.Fatalf("vault-card answered %+v with its audit event refused, want 503", res.HTTP)
	}
	res, err = s.InvokeEvent(ctx, "vault-card", event)
	if err != nil {
		t.Fatalf("vault-card: %v", err)
	}
	if res.HTTP == nil || res.HTTP.StatusCode != 201 {
		t.Errorf("vaulting the taken-back card again answered %+v, want 201 (a new record)", res.HTTP)
	}
}

// refusedRequestsTakeBackTheirSpend: forward and vault-card spend the
// request id while they read what may refuse the request, and a refused
// request deletes the replay entry it wrote, as their roles'
// ReplayWindow allows: a forward naming an unknown token, and a
// vault-card of a shredded merchant, each answered 404.
func refusedRequestsTakeBackTheirSpend(t *testing.T, s *lambdarun.Stack, events map[string][]byte) {
	const merchant = "m_refused"
	before := s.DestinationAccepted()
	unknown := strings.ReplaceAll(string(withMerchant(events["forward.json"], merchant)), invoke.TokenPlaceholder, "tok_AAAAAAAAAAAAAAAAAAAAAA")
	invokeHTTP(t, s, "forward", []byte(unknown), 404)
	if s.DestinationAccepted() != before {
		t.Errorf("a forward of an unknown token reached the destination")
	}

	populate(t, s, events, merchant)
	runOnce(t, s, "merchant-keys", withMerchant(events["merchant-keys-shred.json"], merchant))
	invokeHTTP(t, s, "vault-card", withMerchant(events["vault-card.json"], merchant), 404)
}

// rewrapUnderANewKey: a merchant's key is wrapped under the template's
// key; the deployment then moves to a new key (docs/deploy.md: the roles
// hold the same statements on both while the move runs), and the rewrap
// run moves every stored key to it (kms:ReEncrypt), after which a fresh
// container reveals the card through the new key.
func rewrapUnderANewKey(t *testing.T, s *lambdarun.Stack, events map[string][]byte) (oldARN, newARN string) {
	ctx := context.Background()
	merchant := "m_rewrap"
	populate(t, s, events, merchant)
	runOnce(t, s, "reveal-card", withMerchant(events["reveal-card.json"], merchant))
	oldARN = s.StandIns.Attrs["MerchantKeysKey.Arn"][0]
	newARN, err := s.NewKMSKey(ctx, "the key moved to")
	if err != nil {
		t.Fatal(err)
	}
	s.StandIns.Attr("MerchantKeysKey", "Arn", newARN, oldARN)
	s.StandIns.Ref("MerchantKeysKey", newARN[strings.LastIndex(newARN, "/")+1:])
	if err := s.ResolveEnvironments(); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	res := runOnce(t, s, "rotate-dek", events["rotate-dek-rewrap.json"])
	if res.ReWrapped == 0 {
		t.Fatalf("the rewrap run re-wrapped nothing: %+v", res)
	}
	s.Restart()
	runOnce(t, s, "reveal-card", withMerchant(events["reveal-card.json"], merchant))
	runOnce(t, s, "reveal-secret", withMerchant(events["reveal-secret.json"], merchant))
	return oldARN, newARN
}

// coldStartOnPlaceholders: each function's first invocation on a fresh
// deployment, whose secrets still hold the template's placeholders. A
// function that reads such a secret must not serve (its cold start fails,
// or it refuses the request); what it calls on the way is held to its
// role like everything else.
func coldStartOnPlaceholders(t *testing.T, s *lambdarun.Stack, events map[string][]byte) {
	ctx := context.Background()
	for _, name := range sortedFunctions(s) {
		fn := s.Functions[name]
		readsSecret := false
		for k := range fn.Env {
			if strings.HasSuffix(k, "_SECRET_ARN") {
				readsSecret = true
			}
		}
		event := firstEvent(s, events, name)
		out, err := s.Invoke(ctx, name, event)
		if !readsSecret {
			continue
		}
		if err == nil {
			var resp struct {
				StatusCode int `json:"statusCode"`
			}
			if json.Unmarshal(out, &resp) == nil && resp.StatusCode >= 200 && resp.StatusCode < 300 {
				t.Errorf("%s served on placeholder secrets: %s", name, out)
			}
		}
	}
}

func sortedFunctions(s *lambdarun.Stack) []string {
	var names []string
	for name := range s.Functions {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// firstEvent is the function's first sample event, as stored (unsigned:
// no client exists on placeholder secrets).
func firstEvent(s *lambdarun.Stack, events map[string][]byte, fn string) []byte {
	var names []string
	for name := range events {
		if functionOf(s, name) == fn {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return events[names[0]]
}

// usedByLambda are the resources Lambda itself uses with the function's
// role, on its behalf, which no code path of the function reaches: the
// log group it writes the function's logs to (LoggingConfig), the dead
// letter queue or failure destination of its asynchronous invocations,
// and the KMS key such a queue is encrypted with. Grants on them are not
// expected to be used by a call.
func usedByLambda(t *testing.T, s *lambdarun.Stack, function string) []string {
	t.Helper()
	res := s.Template.Resources[s.Functions[function].LogicalID]
	var refs []any
	refs = append(refs, res.Prop("LoggingConfig", "LogGroup"), res.Prop("DeadLetterQueue", "TargetArn"))
	for _, dest := range []string{"OnFailure", "OnSuccess"} {
		refs = append(refs, res.Prop("EventInvokeConfig", "DestinationConfig", dest, "Destination"))
	}
	var ids []string
	for _, ref := range refs {
		for id := range s.Template.Resources {
			if ref != nil && deploy.Refers(ref, id) {
				ids = append(ids, id)
			}
		}
	}
	var out []string
	for _, id := range ids {
		if arn, err := s.StandIns.ResolveString(map[string]any{"Fn::GetAtt": []any{id, "Arn"}}); err == nil {
			out = append(out, arn)
		}
		// A queue's encryption key.
		if key := s.Template.Resources[id].Prop("KmsMasterKeyId"); key != nil {
			for keyID := range s.Template.OfType(deploy.TypeKMSKey) {
				if deploy.Refers(key, keyID) {
					arn, _ := s.StandIns.ResolveString(map[string]any{"Fn::GetAtt": []any{keyID, "Arn"}})
					out = append(out, arn)
				}
			}
		}
	}
	return out
}

// format1Only are grants that only a record sealed in record format 1
// (before the clear fields were bound) makes a function use: rotation
// reads such a record's clear fields once (vault.RotationStore
// WithClearFields) to bind them when it first re-encrypts it. Every
// record written now is in format 2, so no path of this stack reaches
// them; shared/localmode's TestFormat1RecordsRevealAndMoveToFormat2OnRotation
// drives that path, with local mode's keys.
var format1Only = map[string][]iampolicy.Grant{
	"rotate-dek": {{Statement: "ReencryptAndPurgeSecretVersions", Action: "dynamodb:GetItem"}},
}

// failureOnly are grants only a failed result upload makes migrate use:
// an export whose stream into the bucket fails aborts its multipart
// upload (the SDK uploader's s3:AbortMultipartUpload) and deletes what
// may be left of the result (s3:DeleteObject). No path of this stack
// fails an upload; shared/jobfiles' TestS3PutThatFailsMidwayLeavesNoResult
// runs that path against s3rver.
var failureOnly = map[string][]iampolicy.Grant{
	"migrate": {{Statement: "WriteResults", Action: "s3:AbortMultipartUpload"}, {Statement: "WriteResults", Action: "s3:DeleteObject"}},
}

// isExempt: g is a format1Only or failureOnly grant of fn.
func isExempt(fn string, g iampolicy.Grant) bool {
	for _, f := range append(slices.Clone(format1Only[fn]), failureOnly[fn]...) {
		// Statement is "Role/policy[i Sid]"; f names the Sid.
		if strings.HasSuffix(g.Statement, " "+f.Statement+"]") && strings.EqualFold(f.Action, g.Action) {
			return true
		}
	}
	return false
}

// checkEveryGrantWasUsed: least privilege the other way. Every action of
// every statement of every function's role, on each of its resources,
// allowed some call of the main stack (grants on what Lambda itself uses
// for the function, usedByLambda, aside). A grant on a key the stack moved
// to counts for the template's key (moved: new ARN -> old).
func checkEveryGrantWasUsed(t *testing.T, s *lambdarun.Stack, calls []iamproxy.Call, moved map[string]string) {
	used := map[string]map[iampolicy.Grant]bool{}
	for _, c := range calls {
		for _, ch := range c.Checks {
			for _, g := range ch.Decision.Grants {
				if old, ok := moved[g.Resource]; ok {
					g.Resource = old
				}
				if used[c.Function] == nil {
					used[c.Function] = map[iampolicy.Grant]bool{}
				}
				used[c.Function][g] = true
			}
		}
	}
	for _, name := range sortedFunctions(s) {
		p, err := s.Policy(name)
		if err != nil {
			t.Fatal(err)
		}
		lambdas := usedByLambda(t, s, name)
		// The code learns what it calls from its environment: nothing it
		// is given there may be exempted as Lambda's own.
		for k, v := range s.Functions[name].Env {
			for _, arn := range lambdas {
				if v == arn {
					t.Errorf("%s: %s (%s) is exempted as used by Lambda, but the code is given it", name, arn, k)
				}
			}
		}
		for _, g := range p.Grants() {
			if _, ok := moved[g.Resource]; ok || slices.Contains(lambdas, g.Resource) || isExempt(name, g) {
				continue
			}
			if !used[name][g] {
				t.Errorf("%s: its role grants %s, which no call used", name, g)
			}
		}
	}
}
