package deploy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/client"
	"github.com/cardvault/vault/shared/deploy"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/internal/dynalite"
	"github.com/cardvault/vault/shared/invoke"
	"github.com/cardvault/vault/shared/localmode"
	"github.com/cardvault/vault/shared/store"
)

func TestMain(m *testing.M) { dynalite.Main(m) }

// sample is what one events/ file must do.
type sample struct {
	function string
	// status lists the acceptable answers of an HTTP function; nil for a
	// non-HTTP function.
	status []int
}

// samples lists every file under events/.
var samples = map[string]sample{
	"vault-card.json":                  {"vault-card", []int{201, 200}},
	"get-masked.json":                  {"get-masked", []int{200}},
	"get-masked-list-customer.json":    {"get-masked", []int{200}},
	"get-masked-list-fingerprint.json": {"get-masked", []int{200}},
	"reveal-card.json":                 {"reveal-card", []int{200}},
	"delete-card.json":                 {"delete-card", []int{204}},
	"put-secret.json":                  {"put-secret", []int{201, 200}},
	"reveal-secret.json":               {"reveal-secret", []int{200}},
	"secret-metadata.json":             {"secret-metadata", []int{200}},
	"secret-metadata-delete.json":      {"secret-metadata", []int{204}},
	"jwks.json":                        {"jwks", []int{200}},
	"jwks-health.json":                 {"jwks", []int{200}},
	"merchant-keys.json":               {"merchant-keys", []int{200}},
	"merchant-keys-rotate.json":        {"merchant-keys", []int{202}},
	"merchant-keys-shred.json":         {"merchant-keys", []int{204}},
	"rotate-dek.json":                  {"rotate-dek", nil},
	"rotate-dek-purge.json":            {"rotate-dek", nil},
	"rotate-dek-continue.json":         {"rotate-dek", nil},
	"rotate-dek-due.json":              {"rotate-dek", nil},
	"rotate-dek-force.json":            {"rotate-dek", nil},
	"rotate-dek-rewrap.json":           {"rotate-dek", nil},
	"forward.json":                     {"forward", []int{200}},
	"jwks-import-key.json":             {"jwks", []int{200}},
	"jobs-import.json":                 {"jobs", []int{201}},
	"jobs-export.json":                 {"jobs", []int{201}},
	// An unknown job: the sample's job exists only once an import made it.
	"jobs-get.json":         {"jobs", []int{404}},
	"migrate-continue.json": {"migrate", nil},
	"migrate-upload.json":   {"migrate", nil},
}

func readEvent(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestEverySampleEventTargetsARouteOfItsFunction(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join(repoRoot, "events"))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		files = append(files, e.Name())
		if _, ok := samples[e.Name()]; !ok {
			t.Errorf("events/%s is not listed in this test's samples", e.Name())
		}
	}
	for name := range samples {
		if !slices.Contains(files, name) {
			t.Errorf("events/%s is missing", name)
		}
	}
	routes := httpRoutes(t)
	fns := functions(t)
	for _, name := range sortedKeys(samples) {
		s := samples[name]
		spec, ok := fns[s.function]
		if !ok {
			t.Errorf("events/%s targets %s, which the template does not declare", name, s.function)
			continue
		}
		var ev struct {
			RouteKey       string            `json:"routeKey"`
			RawPath        string            `json:"rawPath"`
			PathParameters map[string]string `json:"pathParameters"`
			Request        *struct {
				Op string `json:"op"`
			} `json:"x-vault-request"`
		}
		if err := json.Unmarshal(readEvent(t, name), &ev); err != nil {
			t.Errorf("events/%s: %v", name, err)
			continue
		}
		if !spec.http {
			if ev.RouteKey != "" {
				t.Errorf("events/%s: %s is not an HTTP function, but the event has a routeKey", name, s.function)
			}
			continue
		}
		if routes[ev.RouteKey] != s.function {
			t.Errorf("events/%s: route %q is served by %q, not %s", name, ev.RouteKey, routes[ev.RouteKey], s.function)
		}
		open := slices.Contains(unauthenticatedRoutes, ev.RouteKey)
		if open != (ev.Request == nil) {
			t.Errorf("events/%s: x-vault-request present = %v on route %s", name, ev.Request != nil, ev.RouteKey)
		}
	}
}

// localVault starts local mode's backends on the test binary's dynalite,
// with recorders in front of the table and the keyring.
func localVault(t *testing.T, rec *recorder) *localmode.Env {
	t.Helper()
	endpoint := dynalite.ForTest(t)
	dir := t.TempDir()
	logger := app.NewLogger()
	env, err := localmode.Start(context.Background(), localmode.Settings{
		Dir:              dir,
		DynamoDBEndpoint: endpoint,
		Table:            "deploy_" + randomHex(t),
		// Short key lifetimes let a rotation settle quickly; nothing here
		// depends on how quickly.
		KeyOptions: envelope.Options{KeyTTL: 20 * time.Millisecond, PrimaryTTL: 10 * time.Millisecond},
	}, logger)
	if err != nil {
		t.Fatalf("local vault: %v", err)
	}
	t.Cleanup(env.Close)
	env.Components.Store = store.New(recordingDB{DynamoAPI: store.NewLocalClient(endpoint), rec: rec}, env.Settings.Table)
	keyring, err := envelope.LoadOrCreateLocalKeyring(filepath.Join(dir, localmode.MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	env.UseKeyring(func() (envelope.Keyring, error) { return recordingKeyring{Keyring: keyring, rec: rec}, nil })
	return env
}

func randomHex(t *testing.T) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// TestSampleEventsRunAndStayWithinTheirRoles invokes every sample through
// the invoke code path, checks each answer, and checks every DynamoDB and
// KMS call each function made against that function's role in the
// template: the policy is tested against what the code does, not against
// a list kept by hand.
func TestSampleEventsRunAndStayWithinTheirRoles(t *testing.T) {
	rec := enforcingRecorder(t)
	ctx := context.Background()
	for _, name := range sortedKeys(samples) {
		s := samples[name]
		t.Run(name, func(t *testing.T) {
			// A vault of its own: samples change state (one shreds the
			// demo merchant) and must not depend on each other's order.
			env := localVault(t, rec)
			if s.function == "forward" {
				useEchoDestination(t, env)
			}
			iv, err := invoke.New(env.Components, filepath.Join(env.Settings.Dir, localmode.DemoClientFile))
			if err != nil {
				t.Fatal(err)
			}
			res, err := iv.Invoke(ctx, s.function, readEvent(t, name))
			if err != nil {
				t.Fatalf("events/%s: %v", name, err)
			}
			if s.status == nil {
				var out struct {
					Action string `json:"action"`
				}
				if json.Unmarshal(res.Output, &out) != nil || out.Action == "" {
					t.Errorf("events/%s: %s returned %s, want a work result", name, s.function, res.Output)
				}
				return
			}
			if !slices.Contains(s.status, res.HTTP.StatusCode) {
				t.Errorf("events/%s: %s answered %d, want one of %v: %s", name, s.function, res.HTTP.StatusCode, s.status, res.HTTP.Body)
			}
			if strings.HasPrefix(name, "get-masked-list-") && !strings.Contains(res.HTTP.Body, `"last4":"4242"`) {
				t.Errorf("events/%s: the listing lacks the setup card: %s", name, res.HTTP.Body)
			}
			checkIAMCallerAudited(t, env, name)
		})
	}

	called := map[string]bool{}
	for _, c := range rec.all() {
		if c.function == "" {
			t.Errorf("call outside any function: %s", c)
			continue
		}
		called[c.function] = true
		_, stmts := roleOf(t, c.function)
		if !allows(stmts, c) {
			t.Errorf("the template's role for %s does not allow a call it makes: %s", c.function, c)
		}
	}
	// Every function that stores or reads anything was observed (else the
	// recorders are not in the path and the check above proves nothing).
	for _, fn := range []string{"vault-card", "get-masked", "reveal-card", "delete-card", "put-secret", "reveal-secret", "secret-metadata", "merchant-keys", "rotate-dek", "forward", "jobs", "migrate"} {
		if !called[fn] {
			t.Errorf("no call of %s was recorded", fn)
		}
	}
}

// checkIAMCallerAudited: the audit event of a sample's request names the
// IAM principal of its authorizer context beside the JWS issuer.
func checkIAMCallerAudited(t *testing.T, env *localmode.Env, name string) {
	t.Helper()
	var ev struct {
		RequestContext struct {
			Authorizer *struct {
				IAM struct {
					UserARN   string `json:"userArn"`
					AccountID string `json:"accountId"`
					CallerID  string `json:"callerId"`
				} `json:"iam"`
			} `json:"authorizer"`
		} `json:"requestContext"`
		Request *struct {
			Op string `json:"op"`
		} `json:"x-vault-request"`
	}
	if err := json.Unmarshal(readEvent(t, name), &ev); err != nil || ev.RequestContext.Authorizer == nil {
		return // an unauthenticated route: no IAM authorizer
	}
	data, err := os.ReadFile(filepath.Join(env.Settings.Dir, localmode.AuditFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var last struct {
		Action       string `json:"action"`
		ClientID     string `json:"client_id"`
		IAMUserARN   string `json:"iam_user_arn"`
		IAMAccountID string `json:"iam_account_id"`
		IAMCallerID  string `json:"iam_caller_id"`
	}
	// The request's own event is the last one naming a client with the
	// request's operation: background work the request handed on (a
	// shred's purge, an export's run, which names the job's client) is
	// recorded after it.
	op := ""
	if ev.Request != nil {
		op = ev.Request.Op
	}
	for i := len(lines) - 1; i >= 0; i-- {
		last.Action, last.ClientID = "", ""
		if err := json.Unmarshal([]byte(lines[i]), &last); err != nil {
			t.Fatal(err)
		}
		if last.ClientID != "" && (op == "" || last.Action == op) {
			break
		}
	}
	iam := ev.RequestContext.Authorizer.IAM
	if last.IAMUserARN != iam.UserARN || last.IAMAccountID != iam.AccountID || last.IAMCallerID != iam.CallerID || last.ClientID == "" {
		t.Errorf("events/%s: audit event names client %q and IAM caller %q/%q/%q, want the JWS issuer and %q/%q/%q",
			name, last.ClientID, last.IAMUserARN, last.IAMAccountID, last.IAMCallerID, iam.UserARN, iam.AccountID, iam.CallerID)
	}
}

func TestTableSchemaEqualsEnsureTable(t *testing.T) {
	env := localVault(t, &recorder{})
	out, err := store.NewLocalClient(env.DynamoDBEndpoint()).DescribeTable(context.Background(),
		&dynamodb.DescribeTableInput{TableName: aws.String(env.Settings.Table)})
	if err != nil {
		t.Fatal(err)
	}
	made := out.Table
	table := template(t).Resources["VaultTable"]

	want := map[string]string{}
	for _, a := range made.AttributeDefinitions {
		want[aws.ToString(a.AttributeName)] = string(a.AttributeType)
	}
	got := map[string]string{}
	for _, a := range deploy.List(table.Prop("AttributeDefinitions")) {
		m, _ := a.(map[string]any)
		name, _ := m["AttributeName"].(string)
		typ, _ := m["AttributeType"].(string)
		got[name] = typ
	}
	if !maps.Equal(got, want) {
		t.Errorf("AttributeDefinitions = %v, EnsureTable makes %v", got, want)
	}
	wantKeys := map[string]string{}
	for _, k := range made.KeySchema {
		wantKeys[aws.ToString(k.AttributeName)] = string(k.KeyType)
	}
	if got := keySchema(table.Prop("KeySchema")); !maps.Equal(got, wantKeys) {
		t.Errorf("KeySchema = %v, EnsureTable makes %v", got, wantKeys)
	}
	indexes := map[string]map[string]any{}
	for _, raw := range deploy.List(table.Prop("GlobalSecondaryIndexes")) {
		idx, _ := raw.(map[string]any)
		name, _ := idx["IndexName"].(string)
		indexes[name] = idx
	}
	if len(indexes) != len(made.GlobalSecondaryIndexes) {
		t.Errorf("template declares %d indexes, EnsureTable makes %d", len(indexes), len(made.GlobalSecondaryIndexes))
	}
	for _, gsi := range made.GlobalSecondaryIndexes {
		name := aws.ToString(gsi.IndexName)
		idx, ok := indexes[name]
		if !ok {
			t.Errorf("template lacks index %s, which EnsureTable makes", name)
			continue
		}
		wantGSIKeys := map[string]string{}
		for _, k := range gsi.KeySchema {
			wantGSIKeys[aws.ToString(k.AttributeName)] = string(k.KeyType)
		}
		if got := keySchema(idx["KeySchema"]); !maps.Equal(got, wantGSIKeys) {
			t.Errorf("index %s keys %v, EnsureTable makes %v", name, got, wantGSIKeys)
		}
		proj, _ := idx["Projection"].(map[string]any)
		if proj["ProjectionType"] != string(gsi.Projection.ProjectionType) {
			t.Errorf("index %s projection %v, EnsureTable makes %s", name, proj["ProjectionType"], gsi.Projection.ProjectionType)
		}
		var attrs []string
		for _, a := range deploy.List(proj["NonKeyAttributes"]) {
			s, _ := a.(string)
			attrs = append(attrs, s)
		}
		if !slices.Equal(attrs, gsi.Projection.NonKeyAttributes) {
			t.Errorf("index %s projects %v, EnsureTable makes %v", name, attrs, gsi.Projection.NonKeyAttributes)
		}
		if name != "by_merchant" && slices.Contains(attrs, "sealed") {
			t.Errorf("listing index %s projects the ciphertext; its reader holds no key and must see masked views only", name)
		}
	}
}

func keySchema(v any) map[string]string {
	out := map[string]string{}
	for _, k := range deploy.List(v) {
		m, _ := k.(map[string]any)
		name, _ := m["AttributeName"].(string)
		typ, _ := m["KeyType"].(string)
		out[name] = typ
	}
	return out
}

// TestVaultInvokeCommand runs the command's code path end to end: flags,
// local backends from the environment, the event file, the printed answer.
func TestVaultInvokeCommand(t *testing.T) {
	endpoint := dynalite.ForTest(t)
	dir := t.TempDir()
	vars := map[string]string{
		"VAULT_LOCAL_DIR":         dir,
		"VAULT_DYNAMODB_ENDPOINT": endpoint,
		"VAULT_TABLE":             "invoke_" + randomHex(t),
	}
	getenv := func(k string) string { return vars[k] }
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := invoke.Run(context.Background(), args, &stdout, &stderr, getenv)
		return code, stdout.String(), stderr.String()
	}

	code, out, errOut := run("--function", "get-masked", "--event", filepath.Join(repoRoot, "events", "get-masked.json"))
	if code != invoke.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var resp struct {
		StatusCode int               `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
		Body       string            `json:"body"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("stdout is not a response event: %v\n%s", err, out)
	}
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, `"last4":"4242"`) {
		t.Errorf("get-masked answered %d %s", resp.StatusCode, resp.Body)
	}
	if strings.Contains(out+errOut, "4242424242424242") {
		t.Error("the card number of the setup card reached the output")
	}

	// rotate-dek is not HTTP: its input is the schedule's, its output the
	// work result.
	code, out, errOut = run("--function", "rotate-dek", "--event", filepath.Join(repoRoot, "events", "rotate-dek.json"))
	if code != invoke.ExitOK || !strings.Contains(out, `"action": "rotate-due"`) {
		t.Errorf("rotate-dek: exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	if code, _, _ := run("--function", "no-such-function", "--event", filepath.Join(repoRoot, "events", "jwks.json")); code != invoke.ExitNotHTTP {
		t.Errorf("unknown function: exit %d, want %d", code, invoke.ExitNotHTTP)
	}
	if code, _, _ := run("--event", "x.json"); code != invoke.ExitUsage {
		t.Errorf("no --function: exit %d, want %d", code, invoke.ExitUsage)
	}
	if code, _, _ := run("--function", "jwks", "--event", filepath.Join(dir, "missing.json")); code != invoke.ExitUsage {
		t.Errorf("missing event file: exit %d, want %d", code, invoke.ExitUsage)
	}
}

// TestDemoClientGetsEveryOperation: the registry local mode writes on
// first start lets its demo client call every operation of the contract,
// v1.1's included.
func TestDemoClientGetsEveryOperation(t *testing.T) {
	env := localVault(t, &recorder{})
	data, err := os.ReadFile(env.Settings.ClientsFile)
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		Clients []struct {
			ID         string   `json:"id"`
			Operations []string `json:"operations"`
		} `json:"clients"`
	}
	if err := json.Unmarshal(data, &reg); err != nil || len(reg.Clients) != 1 {
		t.Fatalf("demo registry: %v (%d clients)", err, len(reg.Clients))
	}
	got := slices.Sorted(slices.Values(reg.Clients[0].Operations))
	want := slices.Sorted(slices.Values(client.Operations()))
	if !slices.Equal(got, want) {
		t.Errorf("demo client operations %v, want every operation %v", got, want)
	}
	for _, op := range []string{"list_cards", "forward", "import_cards", "export_cards", "get_job"} {
		if !slices.Contains(got, op) {
			t.Errorf("demo client lacks %s", op)
		}
	}
}
