package lambdarun

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/cardvault/vault/shared/awsfake"
	"github.com/cardvault/vault/shared/client"
	"github.com/cardvault/vault/shared/deploy"
	"github.com/cardvault/vault/shared/deploy/iampolicy"
	"github.com/cardvault/vault/shared/deploy/iamproxy"
	"github.com/cardvault/vault/shared/invoke"
	"github.com/cardvault/vault/shared/pgpfile"
	"github.com/cardvault/vault/shared/s3rver"
	"github.com/cardvault/vault/shared/store"
	"github.com/cardvault/vault/shared/wire"
)

// Where every stand-in lives: the loopback fakes' region and account,
// which local-kms is told to use too, so every ARN agrees.
var where = deploy.Stack{Name: "card-vault-local", Region: awsfake.Region, Account: awsfake.Account}

// Options configure a Stack.
type Options struct {
	// Root is the module root (template.yaml, functions/, events/).
	Root string
	// Dir holds the run's files: bootstraps, local-kms data.
	Dir string
	// DynamoDBEndpoint is a running dynalite.
	DynamoDBEndpoint string
	// Owner stops the loopback fakes when it is done (a test, or the
	// Stack's own Close).
	Owner awsfake.Cleaner
	// Parameters override template parameters' defaults (as
	// `sam deploy --parameter-overrides` would).
	Parameters map[string]string
	// Placeholders leaves the template's placeholder values in the
	// secrets (SecretString), as a fresh deployment has them, instead of
	// a generated vault JWKS and client registry.
	Placeholders bool
	// Echo, if set, receives every function's output.
	Echo io.Writer
}

// Function is one function of the template as it runs here.
type Function struct {
	Name      string
	LogicalID string
	RoleID    string
	// Env is the template's environment, resolved.
	Env map[string]string
	// HTTP lists the function's HttpApi routes ("POST /v1/cards").
	HTTP []string
}

// WorkDelivery is one event the bus delivered to a function (an
// EventBridge rule of the template), and what came of it.
type WorkDelivery struct {
	Function string
	Input    string
	Output   string
	Err      error
}

// Stack is the template's functions, each under its own emulator, on
// local stand-ins of the template's resources.
type Stack struct {
	Template  *deploy.Template
	StandIns  deploy.StandIns
	Functions map[string]Function
	Proxy     *iamproxy.Proxy
	KMS       *LocalKMSServer
	Secrets   *awsfake.SecretsManager
	Events    *awsfake.EventBridge
	// S3 is the stand-in of the template's buckets (nil if it has none).
	S3 *s3rver.Server
	// ImportKey is the OpenPGP import key ring the secrets hold (unless
	// Placeholders), armored.
	ImportKey []byte
	// VaultKeys and Client are the vault's keys and the demo client the
	// secrets hold (unless Placeholders).
	VaultKeys *wire.VaultKeys
	Client    *client.Credentials
	// KMSClient reaches local-kms directly (not through the proxy).
	KMSClient *kms.Client

	// destination is the forward destination the destinations document
	// holds (unless Placeholders).
	destination *demoDestination

	opts       Options
	rieBin     string
	bootstraps map[string]string
	invoker    *invoke.Invoker
	cleanups   []func()

	mu         sync.Mutex
	runtimes   map[string]*Runtime
	delivered  int
	deliveries []WorkDelivery
	// notified counts the proxy's calls whose bucket notifications were
	// delivered.
	notified int
}

// Build builds every function of the template once, into dir; Start
// takes the result.
func BuildAll(ctx context.Context, root, dir string) (map[string]string, error) {
	t, err := deploy.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		return nil, err
	}
	fns, err := templateFunctions(root, t)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(fns))
	for name := range fns {
		names = append(names, name)
	}
	sort.Strings(names)
	return Build(ctx, root, dir, names)
}

// templateFunctions maps the directories under functions/ to their
// resources in the template; a directory without one, or a function
// resource without a directory, is an error.
func templateFunctions(root string, t *deploy.Template) (map[string]Function, error) {
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		return nil, err
	}
	out := map[string]Function{}
	declared := t.OfType(deploy.TypeFunction)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		id := deploy.FunctionLogicalID(e.Name())
		res, ok := declared[id]
		if !ok {
			return nil, fmt.Errorf("functions/%s has no %s in the template", e.Name(), id)
		}
		role, _, ok := deploy.GetAttTarget(res.Prop("Role"))
		if !ok {
			return nil, fmt.Errorf("%s: Role is not !GetAtt <Role>.Arn", id)
		}
		fn := Function{Name: e.Name(), LogicalID: id, RoleID: role}
		for _, raw := range asMap(res.Prop("Events")) {
			ev, _ := raw.(map[string]any)
			if ev["Type"] != "HttpApi" {
				continue
			}
			props, _ := ev["Properties"].(map[string]any)
			fn.HTTP = append(fn.HTTP, fmt.Sprintf("%v %v", props["Method"], props["Path"]))
		}
		sort.Strings(fn.HTTP)
		out[e.Name()] = fn
		delete(declared, id)
	}
	for id := range declared {
		return nil, fmt.Errorf("%s has no directory under functions/", id)
	}
	return out, nil
}

// Start brings up the emulators, the proxy and the stand-ins; functions
// start on their first invocation. bootstraps are BuildAll's result, or
// nil to build each function when it is first invoked.
func Start(ctx context.Context, opts Options, bootstraps map[string]string) (_ *Stack, err error) {
	s := &Stack{opts: opts, bootstraps: map[string]string{}, runtimes: map[string]*Runtime{}}
	for k, v := range bootstraps {
		s.bootstraps[k] = v
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.Template, err = deploy.Load(filepath.Join(opts.Root, "template.yaml")); err != nil {
		return nil, err
	}
	if s.Functions, err = templateFunctions(opts.Root, s.Template); err != nil {
		return nil, err
	}
	if s.rieBin, err = RIE.Path(ctx, opts.Root); err != nil {
		return nil, err
	}
	kmsBin, err := LocalKMS.Path(ctx, opts.Root)
	if err != nil {
		return nil, err
	}
	if s.KMS, err = StartLocalKMS(ctx, kmsBin, filepath.Join(opts.Dir, "local-kms"), where.Region, where.Account); err != nil {
		return nil, err
	}
	s.cleanups = append(s.cleanups, s.KMS.Stop)
	s.KMSClient = kms.New(kms.Options{
		Region: where.Region, BaseEndpoint: aws.String(s.KMS.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("LOCALADMIN", "local", ""),
	})
	s.Secrets = awsfake.NewSecretsManager(opts.Owner)
	s.Events = awsfake.NewEventBridge(opts.Owner)

	s.StandIns = deploy.SyntheticStandIns(s.Template, where)
	for k, v := range opts.Parameters {
		s.StandIns.Ref(k, v)
	}
	if err := s.standInTable(ctx); err != nil {
		return nil, err
	}
	if err := s.standInKMSKeys(ctx); err != nil {
		return nil, err
	}
	buckets, err := s.standInBuckets(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.standInSecrets(); err != nil {
		return nil, err
	}
	if err := s.ResolveEnvironments(); err != nil {
		return nil, err
	}

	tables, err := s.tableSchemas()
	if err != nil {
		return nil, err
	}
	upstreams := map[string]string{
		iamproxy.DynamoDB:       opts.DynamoDBEndpoint,
		iamproxy.KMS:            s.KMS.Endpoint,
		iamproxy.SecretsManager: s.Secrets.URL,
		iamproxy.EventBridge:    s.Events.URL,
	}
	if s.S3 != nil {
		upstreams[iamproxy.S3] = s.S3.Endpoint
	}
	s.Proxy, err = iamproxy.Start(iamproxy.Where{Region: where.Region, Account: where.Account, Tables: tables, Buckets: buckets}, upstreams)
	if err != nil {
		return nil, err
	}
	s.Proxy.SignS3With(s3rver.AccessKey, s3rver.SecretKey)
	s.cleanups = append(s.cleanups, func() { _ = s.Proxy.Close() })
	if s.VaultKeys != nil {
		s.invoker = invoke.NewRemote(s.Client, s.VaultKeys, s.Invoke)
	}
	return s, nil
}

func randomName(prefix string) string { return prefix + strings.ToLower(rand.Text()[:10]) }

// standInTable makes the template's table in dynalite, as EnsureTable
// makes it for local mode (a test holds the two schemas together).
func (s *Stack) standInTable(ctx context.Context) error {
	for id := range s.Template.OfType(deploy.TypeTable) {
		name := randomName("vault_")
		if err := store.EnsureTable(ctx, store.NewLocalClient(s.opts.DynamoDBEndpoint), name); err != nil {
			return fmt.Errorf("table %s: %w", id, err)
		}
		s.StandIns.Ref(id, name)
		s.StandIns.Attr(id, "Arn", fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", where.Region, where.Account, name))
	}
	return nil
}

// tableSchemas are the template's key schemas, by stand-in table name.
func (s *Stack) tableSchemas() (map[string]iamproxy.Table, error) {
	out := map[string]iamproxy.Table{}
	for id, t := range s.Template.OfType(deploy.TypeTable) {
		name, err := s.StandIns.ResolveString(map[string]any{"Ref": id})
		if err != nil {
			return nil, err
		}
		schema := iamproxy.Table{HashKey: hashKey(t.Prop("KeySchema")), Indexes: map[string]string{}}
		for _, raw := range deploy.List(t.Prop("GlobalSecondaryIndexes")) {
			idx, _ := raw.(map[string]any)
			schema.Indexes[fmt.Sprint(idx["IndexName"])] = hashKey(idx["KeySchema"])
		}
		out[name] = schema
	}
	return out, nil
}

func hashKey(schema any) string {
	for _, raw := range deploy.List(schema) {
		k, _ := raw.(map[string]any)
		if k["KeyType"] == "HASH" {
			return fmt.Sprint(k["AttributeName"])
		}
	}
	return ""
}

// standInKMSKeys makes a local-kms key for every KMS key of the template.
func (s *Stack) standInKMSKeys(ctx context.Context) error {
	for id := range s.Template.OfType(deploy.TypeKMSKey) {
		arn, err := s.NewKMSKey(ctx, id)
		if err != nil {
			return err
		}
		s.StandIns.Ref(id, arn[strings.LastIndex(arn, "/")+1:])
		s.StandIns.Attr(id, "Arn", arn)
	}
	return nil
}

// NewKMSKey makes a symmetric key in local-kms and returns its ARN.
func (s *Stack) NewKMSKey(ctx context.Context, description string) (string, error) {
	out, err := s.KMSClient.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String(description)})
	if err != nil {
		return "", fmt.Errorf("local-kms CreateKey: %w", err)
	}
	return aws.ToString(out.KeyMetadata.Arn), nil
}

// standInBuckets runs s3rver with a bucket for every bucket of the
// template, and returns what the proxy must know of each (its SSE-KMS
// key).
func (s *Stack) standInBuckets(ctx context.Context) (map[string]iamproxy.Bucket, error) {
	declared := s.Template.OfType(deploy.TypeBucket)
	if len(declared) == 0 {
		return nil, nil
	}
	names := map[string]string{}
	for _, id := range sortedKeys(declared) {
		names[id] = randomName("card-vault-files-")
	}
	var err error
	if s.S3, err = s3rver.Start(ctx, filepath.Join(s.opts.Dir, "s3rver"), slices.Sorted(maps.Values(names))...); err != nil {
		return nil, err
	}
	s.cleanups = append(s.cleanups, s.S3.Stop)
	out := map[string]iamproxy.Bucket{}
	for id, name := range names {
		s.StandIns.Ref(id, name)
		s.StandIns.Attr(id, "Arn", "arn:aws:s3:::"+name)
		var b iamproxy.Bucket
		for _, raw := range deploy.List(declared[id].Prop("BucketEncryption", "ServerSideEncryptionConfiguration")) {
			rule := asMap(raw)
			if key := asMap(rule["ServerSideEncryptionByDefault"])["KMSMasterKeyID"]; key != nil {
				if b.KeyARN, err = s.StandIns.ResolveString(key); err != nil {
					return nil, fmt.Errorf("%s: KMSMasterKeyID: %w", id, err)
				}
				b.BucketKey = rule["BucketKeyEnabled"] == true
			}
		}
		out[name] = b
	}
	return out, nil
}

// secretDocuments says which document each secret environment variable
// names (shared/app: VAULT_JWKS, VAULT_CLIENTS, VAULT_DESTINATIONS,
// VAULT_IMPORT_KEY and VAULT_IMPORT_PUBLIC_KEY).
var secretDocuments = []string{"VAULT_JWKS_SECRET_ARN", "VAULT_CLIENTS_SECRET_ARN", "VAULT_DESTINATIONS_SECRET_ARN", "VAULT_IMPORT_KEY_SECRET_ARN", "VAULT_IMPORT_PUBLIC_KEY_SECRET_ARN"}

// standInSecrets puts each secret of the template into the fake, with its
// placeholder value (SecretString) and then, unless Placeholders, the
// document the functions read from it: a fresh vault JWKS, a registry
// holding one demo client allowed every merchant, operation and
// destination, and the forward destinations: one, a loopback TLS provider
// the stack starts (DemoDestinationID).
func (s *Stack) standInSecrets() error {
	secrets := s.Template.OfType("AWS::SecretsManager::Secret")
	docs := map[string]string{}
	if !s.opts.Placeholders {
		jwks, err := wire.GenerateVaultKeys()
		if err != nil {
			return err
		}
		if s.VaultKeys, err = wire.ParseVaultKeys(jwks); err != nil {
			return err
		}
		if s.Client, err = client.GenerateCredentials("demo-app", "ECDH-ES+A256KW"); err != nil {
			return err
		}
		entry, err := s.Client.RegistryEntry([]string{"*"}, client.Operations())
		if err != nil {
			return err
		}
		if entry, err = withDestinations(entry, DemoDestinationID); err != nil {
			return err
		}
		s.destination = startDemoDestination()
		s.cleanups = append(s.cleanups, s.destination.srv.Close)
		destinations, err := s.destination.document()
		if err != nil {
			return err
		}
		docs["VAULT_JWKS_SECRET_ARN"] = string(jwks)
		docs["VAULT_CLIENTS_SECRET_ARN"] = `{"clients":[` + string(entry) + `]}`
		docs["VAULT_DESTINATIONS_SECRET_ARN"] = destinations
		ring, err := pgpfile.GenerateKey("card vault import key", time.Now())
		if err != nil {
			return err
		}
		s.ImportKey = ring.Reveal()
		public, err := pgpfile.PublicKeyOf(s.ImportKey)
		if err != nil {
			return err
		}
		docs["VAULT_IMPORT_KEY_SECRET_ARN"] = string(s.ImportKey)
		docs["VAULT_IMPORT_PUBLIC_KEY_SECRET_ARN"] = string(public)
	}
	for id, res := range secrets {
		placeholder, _ := res.Prop("SecretString").(string)
		arn := s.Secrets.Put(id, placeholder)
		s.StandIns.Ref(id, arn)
		if s.opts.Placeholders {
			continue
		}
		variable, err := s.variableNaming(id)
		if err != nil {
			return err
		}
		doc, ok := docs[variable]
		if !ok {
			return fmt.Errorf("secret %s is read through %s, for which no document is made here (%v)", id, variable, secretDocuments)
		}
		s.Secrets.PutValue(id, doc)
	}
	return nil
}

// withDestinations adds the registry's destinations member to a client's
// entry: the forward destinations the client may use.
func withDestinations(entry []byte, ids ...string) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(entry, &m); err != nil {
		return nil, fmt.Errorf("registry entry: %w", err)
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	m["destinations"] = list
	return json.Marshal(m)
}

// DestinationAccepted counts the forward requests the stack's destination
// accepted: sent over TLS to it, with the merchant secret as credential
// and the card's number filled in.
func (s *Stack) DestinationAccepted() int {
	if s.destination == nil {
		return 0
	}
	return s.destination.Accepted()
}

// variableNaming is the environment variable through which the functions
// are given secret id.
func (s *Stack) variableNaming(id string) (string, error) {
	for _, fnID := range sortedKeys(s.Template.OfType(deploy.TypeFunction)) {
		fn := s.Template.Resources[fnID]
		for name, v := range asMap(fn.Prop("Environment", "Variables")) {
			if deploy.Refers(v, id) {
				return name, nil
			}
		}
	}
	return "", fmt.Errorf("no function is given secret %s", id)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// ResolveEnvironments gives every function the environment the template
// gives it (Globals first, the function's own variables over them), with
// the current stand-ins; a function started after it gets the result.
func (s *Stack) ResolveEnvironments() error {
	global := asMap(asMap(s.Template.FunctionGlobal("Environment"))["Variables"])
	for name, fn := range s.Functions {
		res := s.Template.Resources[fn.LogicalID]
		fn.Env = map[string]string{}
		for _, vars := range []map[string]any{global, asMap(res.Prop("Environment", "Variables"))} {
			for k, v := range vars {
				str, err := s.StandIns.ResolveString(v)
				if err != nil {
					return fmt.Errorf("%s: %s: %w", fn.LogicalID, k, err)
				}
				fn.Env[k] = str
			}
		}
		s.Functions[name] = fn
	}
	return nil
}

// property is a function's property, or Globals' when it sets none.
func (s *Stack) property(fn Function, name string) string {
	v := s.Template.Resources[fn.LogicalID].Prop(name)
	if v == nil {
		v = s.Template.FunctionGlobal(name)
	}
	str, err := s.StandIns.ResolveString(v)
	if err != nil {
		return ""
	}
	return str
}

// accessKeyID names a function's principal to the proxy.
func accessKeyID(function string) string {
	return "LOCAL" + strings.ToUpper(strings.ReplaceAll(function, "-", ""))
}

// Environment is the whole environment function's bootstrap gets: the
// template's variables and Lambda's own (region, credentials of its role,
// name, memory, timeout), with the AWS SDK pointed at the proxy.
func (s *Stack) Environment(function string) ([]string, error) {
	fn, ok := s.Functions[function]
	if !ok {
		return nil, fmt.Errorf("the template has no function %s", function)
	}
	env := baseEnv()
	for k, v := range fn.Env {
		env = append(env, k+"="+v)
	}
	name, _ := s.StandIns.ResolveString(map[string]any{"Ref": fn.LogicalID})
	env = append(env,
		"AWS_REGION="+where.Region,
		"AWS_DEFAULT_REGION="+where.Region,
		"AWS_ACCESS_KEY_ID="+accessKeyID(function),
		"AWS_SECRET_ACCESS_KEY=local-"+function,
		"AWS_SESSION_TOKEN=local-session",
		"AWS_ENDPOINT_URL="+s.Proxy.URL,
		"AWS_LAMBDA_FUNCTION_NAME="+name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+s.property(fn, "MemorySize"),
		"AWS_LAMBDA_FUNCTION_TIMEOUT="+s.property(fn, "Timeout"),
	)
	sort.Strings(env)
	return env, nil
}

// Policy is the function's role, resolved with the stack's stand-ins.
func (s *Stack) Policy(function string) (iampolicy.Policy, error) {
	fn, ok := s.Functions[function]
	if !ok {
		return iampolicy.Policy{}, fmt.Errorf("the template has no function %s", function)
	}
	return iampolicy.FromRole(s.Template, fn.RoleID, s.StandIns)
}

// runtime returns the function's running emulator, starting it (and
// registering its role with the proxy) on first use.
func (s *Stack) runtime(ctx context.Context, function string) (*Runtime, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.runtimes[function]; ok {
		return r, nil
	}
	bootstrap, ok := s.bootstraps[function]
	if !ok {
		if _, known := s.Functions[function]; !known {
			return nil, fmt.Errorf("the template has no function %s", function)
		}
		// Built on first use, when the caller built none.
		built, err := Build(ctx, s.opts.Root, filepath.Join(s.opts.Dir, "bootstraps"), []string{function})
		if err != nil {
			return nil, err
		}
		bootstrap = built[function]
		s.bootstraps[function] = bootstrap
	}
	policy, err := s.Policy(function)
	if err != nil {
		return nil, err
	}
	roleARN, _ := s.StandIns.ResolveString(map[string]any{"Fn::GetAtt": []any{s.Functions[function].RoleID, "Arn"}})
	s.Proxy.Allow(accessKeyID(function), iamproxy.Principal{Function: function, RoleARN: roleARN, Policy: policy})
	env, err := s.Environment(function)
	if err != nil {
		return nil, err
	}
	r, err := StartRuntime(ctx, s.rieBin, function, bootstrap, env, s.opts.Echo)
	if err != nil {
		return nil, err
	}
	s.runtimes[function] = r
	return r, nil
}

// Invoke invokes function with a raw payload (Lambda's synchronous
// Invoke) and returns its answer; it is the remote invoker's Sender.
func (s *Stack) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	r, err := s.runtime(ctx, function)
	if err != nil {
		return nil, err
	}
	return r.Invoke(ctx, payload)
}

// InvokeEvent invokes function with a sample event (events/*.json: its
// request template signed and sealed afresh, its setup steps run through
// the functions they name). Work events it puts on the bus wait for
// DeliverWork.
func (s *Stack) InvokeEvent(ctx context.Context, function string, event []byte) (invoke.Result, error) {
	if s.invoker == nil {
		return invoke.Result{}, errors.New("the stack holds placeholder secrets: no client can sign a request")
	}
	return s.invoker.Invoke(ctx, function, event)
}

// Restart stops every running function; each starts again, with the
// stack's current stand-ins and role policies, on its next invocation
// (a fresh container: caches empty, cold start again).
func (s *Stack) Restart() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, r := range s.runtimes {
		r.Stop()
		delete(s.runtimes, name)
	}
}

// Output is what function printed so far (empty if it never started).
func (s *Stack) Output(function string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.runtimes[function]; ok {
		return r.Output()
	}
	return ""
}

// Close stops every function, the proxy and the emulators the stack
// started.
func (s *Stack) Close() {
	s.Restart()
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
	s.cleanups = nil
}

// rule is an EventBridgeRule event source of a function.
type rule struct {
	function  string
	bus       string
	pattern   map[string][]string
	inputPath string
}

func (s *Stack) rules() ([]rule, error) {
	var out []rule
	for _, name := range sortedKeys(s.Functions) {
		fn := s.Functions[name]
		for _, raw := range asMap(s.Template.Resources[fn.LogicalID].Prop("Events")) {
			ev := asMap(raw)
			if ev["Type"] != "EventBridgeRule" {
				continue
			}
			props := asMap(ev["Properties"])
			r := rule{function: name, bus: "default", pattern: map[string][]string{}}
			if b, ok := props["EventBusName"]; ok {
				bus, err := s.StandIns.ResolveString(b)
				if err != nil {
					return nil, err
				}
				r.bus = bus
			}
			for k, v := range asMap(props["Pattern"]) {
				r.pattern[k] = deploy.Strings(v)
			}
			r.inputPath, _ = props["InputPath"].(string)
			if r.inputPath != "" && r.inputPath != "$.detail" {
				return nil, fmt.Errorf("%s: InputPath %s is not emulated", fn.LogicalID, r.inputPath)
			}
			out = append(out, r)
		}
	}
	return out, nil
}

func (r rule) matches(e awsfake.EventEntry) bool {
	bus := e.EventBusName
	if bus == "" {
		bus = "default"
	}
	if bus != r.bus && !strings.HasSuffix(bus, ":event-bus/"+r.bus) {
		return false
	}
	for key, want := range r.pattern {
		var got string
		switch key {
		case "source":
			got = e.Source
		case "detail-type":
			got = e.DetailType
		default:
			return false
		}
		if !slices.Contains(want, got) {
			return false
		}
	}
	return true
}

// maxDeliveries bounds one DeliverWork: work that keeps handing itself on
// past it is a bug, not progress.
const maxDeliveries = 200

// DeliverWork does what the template's EventBridge rules and bucket
// notifications do: every event the bus accepted since the last delivery
// that matches a rule is sent to its function (its detail, for InputPath
// $.detail), and every object created in a bucket under a function's S3
// event source is notified to it, in order, until nothing new matches. Deliveries run one at a time, synchronously, where
// Lambda would invoke asynchronously and retry a failure; failures are
// kept (Deliveries) and the first is returned.
func (s *Stack) DeliverWork(ctx context.Context) error {
	rules, err := s.rules()
	if err != nil {
		return err
	}
	notifications, err := s.bucketNotifications()
	if err != nil {
		return err
	}
	var first error
	for n := 0; ; {
		entries := s.Events.Entries()
		calls := s.Proxy.Calls()
		s.mu.Lock()
		pending := entries[s.delivered:]
		s.delivered = len(entries)
		created := calls[s.notified:]
		s.notified = len(calls)
		s.mu.Unlock()
		uploads := objectsCreated(created)
		if len(pending) == 0 && len(uploads) == 0 {
			return first
		}
		for _, o := range uploads {
			for _, nt := range notifications {
				if nt.bucket != o.bucket || !strings.HasPrefix(o.key, nt.prefix) {
					continue
				}
				if n++; n > maxDeliveries {
					return fmt.Errorf("more than %d work events delivered in one go", maxDeliveries)
				}
				input := s3Event(o)
				out, err := s.Invoke(ctx, nt.function, []byte(input))
				s.mu.Lock()
				s.deliveries = append(s.deliveries, WorkDelivery{Function: nt.function, Input: input, Output: string(out), Err: err})
				s.mu.Unlock()
				if err != nil && first == nil {
					first = fmt.Errorf("S3 event %s to %s: %w", input, nt.function, err)
				}
			}
		}
		for _, e := range pending {
			for _, r := range rules {
				if !r.matches(e) {
					continue
				}
				if n++; n > maxDeliveries {
					return fmt.Errorf("more than %d work events delivered in one go", maxDeliveries)
				}
				input := e.Detail
				if r.inputPath == "" {
					envelope, _ := json.Marshal(map[string]any{
						"version": "0", "id": e.EventID, "source": e.Source, "detail-type": e.DetailType,
						"account": where.Account, "region": where.Region, "resources": e.Resources,
						"detail": json.RawMessage(e.Detail),
					})
					input = string(envelope)
				}
				out, err := s.Invoke(ctx, r.function, []byte(input))
				s.mu.Lock()
				s.deliveries = append(s.deliveries, WorkDelivery{Function: r.function, Input: input, Output: string(out), Err: err})
				s.mu.Unlock()
				if err != nil && first == nil {
					first = fmt.Errorf("work event %s to %s: %w", input, r.function, err)
				}
			}
		}
	}
}

// notification is an S3 event source of a function: objects created in
// bucket under prefix invoke it.
type notification struct {
	function, bucket, prefix string
}

func (s *Stack) bucketNotifications() ([]notification, error) {
	var out []notification
	for _, name := range sortedKeys(s.Functions) {
		fn := s.Functions[name]
		for _, raw := range asMap(s.Template.Resources[fn.LogicalID].Prop("Events")) {
			ev := asMap(raw)
			if ev["Type"] != "S3" {
				continue
			}
			props := asMap(ev["Properties"])
			if events := deploy.Strings(props["Events"]); !slices.Contains(events, "s3:ObjectCreated:*") {
				return nil, fmt.Errorf("%s: S3 events %v are not emulated", fn.LogicalID, events)
			}
			bucket, err := s.StandIns.ResolveString(props["Bucket"])
			if err != nil {
				return nil, err
			}
			nt := notification{function: name, bucket: bucket}
			for _, r := range deploy.List(asMap(asMap(props["Filter"])["S3Key"])["Rules"]) {
				rule := asMap(r)
				switch rule["Name"] {
				case "prefix":
					nt.prefix = fmt.Sprint(rule["Value"])
				default:
					return nil, fmt.Errorf("%s: S3 key filter %v is not emulated", fn.LogicalID, rule["Name"])
				}
			}
			out = append(out, nt)
		}
	}
	return out, nil
}

// createdObject is an object a call through the proxy created.
type createdObject struct {
	bucket, key string
}

// objectsCreated are the objects the calls created (a PutObject or a
// completed multipart upload that the stand-in took).
func objectsCreated(calls []iamproxy.Call) []createdObject {
	var out []createdObject
	for _, c := range calls {
		if (c.Operation != "S3.PutObject" && c.Operation != "S3.CompleteMultipartUpload") || c.Status != 200 || len(c.Checks) == 0 {
			continue
		}
		object := strings.TrimPrefix(c.Checks[0].Request.Resource, "arn:aws:s3:::")
		bucket, key, _ := strings.Cut(object, "/")
		out = append(out, createdObject{bucket: bucket, key: key})
	}
	return out
}

// s3Event is the event notification S3 sends a function for o.
func s3Event(o createdObject) string {
	ev := map[string]any{"Records": []any{map[string]any{
		"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": where.Region,
		"eventTime": time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), "eventName": "ObjectCreated:Put",
		"s3": map[string]any{
			"s3SchemaVersion": "1.0", "configurationId": "Upload",
			"bucket": map[string]any{"name": o.bucket, "arn": "arn:aws:s3:::" + o.bucket},
			"object": map[string]any{"key": url.QueryEscape(o.key)},
		},
	}}}
	raw, _ := json.Marshal(ev)
	return string(raw)
}

// Deliveries lists every work event delivered so far.
func (s *Stack) Deliveries() []WorkDelivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deliveries)
}

// Schedule is an EventBridge Scheduler schedule of the template that
// invokes a function, with its input resolved.
type Schedule struct {
	ID       string
	Function string
	Input    string
}

// Schedules lists the template's schedules that target its functions.
func (s *Stack) Schedules() ([]Schedule, error) {
	var out []Schedule
	for _, id := range sortedKeys(s.Template.OfType("AWS::Scheduler::Schedule")) {
		target := asMap(s.Template.Resources[id].Prop("Target"))
		for name, fn := range s.Functions {
			if !deploy.Refers(target["Arn"], fn.LogicalID) {
				continue
			}
			input, err := s.StandIns.ResolveString(target["Input"])
			if err != nil {
				return nil, fmt.Errorf("%s: Input: %w", id, err)
			}
			out = append(out, Schedule{ID: id, Function: name, Input: input})
		}
	}
	return out, nil
}

// Cleanups is an owner for the loopback fakes outside a test: Run stops
// what was registered, last first.
type Cleanups struct {
	mu    sync.Mutex
	funcs []func()
}

// Cleanup registers f.
func (c *Cleanups) Cleanup(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.funcs = append(c.funcs, f)
}

// Run calls every registered function, last first.
func (c *Cleanups) Run() {
	c.mu.Lock()
	funcs := c.funcs
	c.funcs = nil
	c.mu.Unlock()
	for i := len(funcs) - 1; i >= 0; i-- {
		funcs[i]()
	}
}
