package deploy_test

import (
	"fmt"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/deploy"
)

func TestEveryFunctionDirectoryHasExactlyOneResource(t *testing.T) {
	want := functions(t)
	got := template(t).OfType(deploy.TypeFunction)
	byID := map[string]string{}
	for name := range want {
		byID[deploy.FunctionLogicalID(name)] = name
	}
	for _, id := range sortedKeys(got) {
		if _, ok := byID[id]; !ok {
			t.Errorf("template declares %s, but there is no functions/ directory for it", id)
		}
	}
	for _, name := range sortedKeys(want) {
		if _, ok := got[deploy.FunctionLogicalID(name)]; !ok {
			t.Errorf("functions/%s has no %s resource %s", name, deploy.TypeFunction, deploy.FunctionLogicalID(name))
		}
	}
}

func TestFunctionsAreBuiltByTheMakefileForArm64(t *testing.T) {
	for _, name := range sortedKeys(functions(t)) {
		t.Run(name, func(t *testing.T) {
			if got := fnProp(t, name, "Runtime"); got != "provided.al2023" {
				t.Errorf("Runtime = %v, want provided.al2023", got)
			}
			if got := deploy.Strings(fnProp(t, name, "Architectures")); !slices.Equal(got, []string{"arm64"}) {
				t.Errorf("Architectures = %v, want [arm64]", got)
			}
			if got := fnProp(t, name, "Handler"); got != "bootstrap" {
				t.Errorf("Handler = %v, want bootstrap", got)
			}
			fn := functionResource(t, name)
			if got := fn.Metadata["BuildMethod"]; got != "makefile" {
				t.Errorf("Metadata.BuildMethod = %v, want makefile", got)
			}
			if got := fn.Prop("CodeUri"); got != "." {
				t.Errorf("CodeUri = %v, want . (the Makefile is at the root)", got)
			}
			for _, prop := range []string{"MemorySize", "Timeout"} {
				if fnProp(t, name, prop) == nil {
					t.Errorf("%s is not set", prop)
				}
			}
			target := "build-" + deploy.FunctionLogicalID(name)
			cmd := exec.Command("make", "-n", target, "ARTIFACTS_DIR=/tmp/artifacts")
			cmd.Dir = repoRoot
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("make -n %s: %v\n%s", target, err, out)
			}
			for _, want := range []string{"./functions/" + name, "GOARCH=arm64", "/tmp/artifacts/bootstrap"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("make -n %s does not mention %q:\n%s", target, want, out)
				}
			}
		})
	}
}

// httpRoutes returns every HttpApi event of the template as route key ->
// function name.
func httpRoutes(t *testing.T) map[string]string {
	t.Helper()
	names := map[string]string{}
	for name := range functions(t) {
		names[deploy.FunctionLogicalID(name)] = name
	}
	out := map[string]string{}
	for id, fn := range template(t).OfType(deploy.TypeFunction) {
		events, _ := fn.Prop("Events").(map[string]any)
		for evName, raw := range events {
			ev, _ := raw.(map[string]any)
			if ev["Type"] == "EventBridgeRule" && names[id] == app.RotateDEK.Name {
				continue // work events: TestWorkEventsReachRotateDEK
			}
			if (ev["Type"] == "EventBridgeRule" || ev["Type"] == "S3") && names[id] == app.Migrate.Name {
				continue // uploads and job work: TestJobFilesBucketAndTheMigrateWorker
			}
			if ev["Type"] != "HttpApi" {
				t.Errorf("%s event %s: type %v; the vault's functions are reached through the HTTP API only", id, evName, ev["Type"])
				continue
			}
			props, _ := ev["Properties"].(map[string]any)
			if !deploy.Refers(props["ApiId"], "VaultApi") {
				t.Errorf("%s event %s: ApiId must be !Ref VaultApi (else SAM makes an implicit API)", id, evName)
			}
			if props["PayloadFormatVersion"] != "2.0" {
				t.Errorf("%s event %s: PayloadFormatVersion = %v, want \"2.0\"", id, evName, props["PayloadFormatVersion"])
			}
			method, _ := props["Method"].(string)
			path, _ := props["Path"].(string)
			key := strings.ToUpper(method) + " " + path
			if prev, dup := out[key]; dup {
				t.Errorf("route %s is wired twice (%s and %s)", key, prev, names[id])
			}
			out[key] = names[id]
			auth, _ := props["Auth"].(map[string]any)
			open := auth["Authorizer"] == "NONE"
			if open != slices.Contains(unauthenticatedRoutes, key) {
				t.Errorf("route %s: unauthenticated = %v; only %v may skip the IAM authorizer", key, open, unauthenticatedRoutes)
			}
		}
	}
	return out
}

func TestEveryContractRouteIsWiredToTheFunctionServingIt(t *testing.T) {
	got := httpRoutes(t)
	for _, key := range contractRoutes {
		if _, ok := got[key]; !ok {
			t.Errorf("contract route %s is not wired to any function", key)
		}
	}
	for _, key := range sortedKeys(got) {
		if !slices.Contains(contractRoutes, key) {
			t.Errorf("template wires %s (to %s), which is not a contract route", key, got[key])
		}
	}
	// Each function's routes, as its own code builds them (app.Functions
	// and the httpapi route constructors), must be exactly the routes the
	// template sends it.
	for name, spec := range functions(t) {
		var wired []string
		for key, fn := range got {
			if fn == name {
				wired = append(wired, key)
			}
		}
		sort.Strings(wired)
		want := slices.Clone(spec.routes)
		sort.Strings(want)
		if !slices.Equal(wired, want) {
			t.Errorf("%s: template routes %v, the function serves %v", name, wired, want)
		}
	}
}

func TestHTTPAPIRequiresIAMAndThrottlesAndLogsNoContent(t *testing.T) {
	api, ok := template(t).Resources["VaultApi"]
	if !ok || api.Type != "AWS::Serverless::HttpApi" {
		t.Fatal("template has no AWS::Serverless::HttpApi VaultApi")
	}
	if got := api.Prop("Auth", "DefaultAuthorizer"); got != "AWS_IAM" {
		t.Errorf("Auth.DefaultAuthorizer = %v, want AWS_IAM", got)
	}
	for _, k := range []string{"ThrottlingBurstLimit", "ThrottlingRateLimit"} {
		if _, ok := deploy.RefTarget(api.Prop("DefaultRouteSettings", k)); !ok {
			t.Errorf("DefaultRouteSettings.%s must come from a parameter", k)
		}
	}
	if !deploy.Refers(api.Prop("AccessLogSettings", "DestinationArn"), "ApiAccessLogGroup") {
		t.Error("access logs must go to ApiAccessLogGroup")
	}
	format, _ := api.Prop("AccessLogSettings", "Format").(string)
	for _, want := range []string{"$context.requestId", "$context.identity.sourceIp", "$context.routeKey", "$context.status", "$context.responseLatency",
		"$context.identity.userArn", "$context.identity.caller", "$context.identity.accountId"} {
		if !strings.Contains(format, want) {
			t.Errorf("access log format lacks %s", want)
		}
	}
	// Bodies hold card data; headers hold the JWS and SigV4 material; paths
	// and query strings hold tokens and signatures.
	for _, banned := range []string{"$input", "$context.requestOverride", "header", "$context.path", "querystring", "$request", "$context.authorizer"} {
		if strings.Contains(strings.ToLower(format), strings.ToLower(banned)) {
			t.Errorf("access log format must not log %s", banned)
		}
	}
	logGroup := template(t).Resources["ApiAccessLogGroup"]
	if !deploy.Refers(logGroup.Prop("KmsKeyId"), "StorageKey") {
		t.Error("ApiAccessLogGroup must be encrypted with the storage key")
	}
}

func TestTableMatchesTheStore(t *testing.T) {
	table, ok := template(t).Resources["VaultTable"]
	if !ok || table.Type != deploy.TypeTable {
		t.Fatal("template has no AWS::DynamoDB::Table VaultTable")
	}
	if got := table.Prop("BillingMode"); got != "PAY_PER_REQUEST" {
		t.Errorf("BillingMode = %v", got)
	}
	if got := table.Prop("SSESpecification", "SSEEnabled"); got != true {
		t.Errorf("SSEEnabled = %v", got)
	}
	if got := table.Prop("SSESpecification", "SSEType"); got != "KMS" {
		t.Errorf("SSEType = %v", got)
	}
	if !deploy.Refers(table.Prop("SSESpecification", "KMSMasterKeyId"), "StorageKey") {
		t.Errorf("KMSMasterKeyId must be the storage CMK, is %v", table.Prop("SSESpecification", "KMSMasterKeyId"))
	}
	if got := table.Prop("PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled"); got != true {
		t.Errorf("point-in-time recovery = %v", got)
	}
	if got := table.Prop("DeletionProtectionEnabled"); got != true {
		t.Errorf("DeletionProtectionEnabled = %v", got)
	}
	if got := table.Prop("TimeToLiveSpecification", "AttributeName"); got != "ttl" {
		t.Errorf("TTL attribute = %v, want ttl", got)
	}
	if got := table.Prop("TimeToLiveSpecification", "Enabled"); got != true {
		t.Errorf("TTL enabled = %v", got)
	}
	if table.DeletionPolicy != "Retain" {
		t.Errorf("DeletionPolicy = %q, want Retain", table.DeletionPolicy)
	}
	// The key schema, attributes and index are compared with what
	// store.EnsureTable creates in TestTableSchemaEqualsEnsureTable.
}

func TestSecretsAreReadOnlyByTheFunctionsThatNeedThem(t *testing.T) {
	readers := map[string][]string{"VaultJwksSecret": nil, "ClientRegistrySecret": nil, "DestinationsSecret": nil, "ImportKeySecret": nil, "ImportPublicKeySecret": nil}
	fns := functions(t)
	for _, name := range sortedKeys(fns) {
		spec := fns[name]
		roleID, stmts := roleOf(t, name)
		var read []string
		for _, st := range stmts {
			if !st.HasAction("secretsmanager:GetSecretValue") {
				continue
			}
			for _, r := range st.Resources {
				id, ok := deploy.RefTarget(r)
				if !ok {
					t.Errorf("%s: %s: GetSecretValue on %v; name the secret with !Ref", name, st.Where, r)
					continue
				}
				read = append(read, id)
			}
		}
		sort.Strings(read)
		// The functions that authenticate clients read the registry at
		// cold start (app.LoadAWS); only the JOSE functions read the
		// vault's keys.
		var want []string
		if spec.needsClients {
			want = append(want, "ClientRegistrySecret")
		}
		if spec.needsVaultJWKS {
			want = append(want, "VaultJwksSecret")
		}
		if spec.needsDestinations {
			want = append(want, "DestinationsSecret")
		}
		if spec.needsImportKey {
			want = append(want, "ImportKeySecret")
		}
		if spec.needsImportPublicKey {
			want = append(want, "ImportPublicKeySecret")
		}
		sort.Strings(want)
		if !slices.Equal(read, want) {
			t.Errorf("%s reads secrets %v, want %v", name, read, want)
		}
		for _, id := range want {
			readers[id] = append(readers[id], roleID)
		}
		e := env(t, name)
		if _, ok := e["VAULT_JWKS_SECRET_ARN"]; ok != spec.needsVaultJWKS {
			t.Errorf("%s: VAULT_JWKS_SECRET_ARN set = %v, NeedsVaultJWKS = %v", name, ok, spec.needsVaultJWKS)
		}
		if arn, ok := e["VAULT_IMPORT_KEY_SECRET_ARN"]; ok != spec.needsImportKey || (ok && !deploy.Refers(arn, "ImportKeySecret")) {
			t.Errorf("%s: VAULT_IMPORT_KEY_SECRET_ARN = %v, NeedsImportKey = %v", name, arn, spec.needsImportKey)
		}
		if arn, ok := e["VAULT_IMPORT_PUBLIC_KEY_SECRET_ARN"]; ok != spec.needsImportPublicKey || (ok && !deploy.Refers(arn, "ImportPublicKeySecret")) {
			t.Errorf("%s: VAULT_IMPORT_PUBLIC_KEY_SECRET_ARN = %v, NeedsImportPublicKey = %v", name, arn, spec.needsImportPublicKey)
		}
		if arn, ok := e["VAULT_FILES_BUCKET"]; ok != spec.needsFiles || (ok && !deploy.Refers(arn, "FilesBucket")) {
			t.Errorf("%s: VAULT_FILES_BUCKET = %v, NeedsFiles = %v", name, arn, spec.needsFiles)
		}
		if arn, ok := e["VAULT_CLIENTS_SECRET_ARN"]; ok != spec.needsClients || (ok && !deploy.Refers(arn, "ClientRegistrySecret")) {
			t.Errorf("%s: VAULT_CLIENTS_SECRET_ARN = %v, NeedsClients = %v (want !Ref ClientRegistrySecret exactly when it does)", name, arn, spec.needsClients)
		}
		if arn, ok := e["VAULT_DESTINATIONS_SECRET_ARN"]; ok != spec.needsDestinations || (ok && !deploy.Refers(arn, "DestinationsSecret")) {
			t.Errorf("%s: VAULT_DESTINATIONS_SECRET_ARN = %v, NeedsDestinations = %v (want !Ref DestinationsSecret exactly when it does)", name, arn, spec.needsDestinations)
		}
	}
	// Each secret's resource policy denies every other principal.
	policies := map[string]string{"VaultJwksSecret": "VaultJwksSecretPolicy", "ClientRegistrySecret": "ClientRegistrySecretPolicy", "DestinationsSecret": "DestinationsSecretPolicy",
		"ImportKeySecret": "ImportKeySecretPolicy", "ImportPublicKeySecret": "ImportPublicKeySecretPolicy"}
	for secretID, policyID := range policies {
		pol, ok := template(t).Resources[policyID]
		if !ok || !deploy.Refers(pol.Prop("SecretId"), secretID) {
			t.Errorf("%s has no resource policy %s", secretID, policyID)
			continue
		}
		stmts, err := deploy.PolicyStatements(policyID, pol.Prop("ResourcePolicy"))
		if err != nil {
			t.Fatal(err)
		}
		var allowed []string
		for _, st := range stmts {
			if st.Effect != "Deny" || !st.HasAction("secretsmanager:GetSecretValue") {
				continue
			}
			for op, keys := range st.Condition {
				if op != "StringNotEquals" {
					continue
				}
				for _, v := range deploy.List(keys["aws:PrincipalArn"]) {
					id, _, _ := deploy.GetAttTarget(v)
					allowed = append(allowed, id)
				}
			}
		}
		sort.Strings(allowed)
		want := slices.Clone(readers[secretID])
		sort.Strings(want)
		if !slices.Equal(allowed, want) {
			t.Errorf("%s: resource policy lets %v read, the readers are %v", secretID, allowed, want)
		}
	}
}

func TestAuditBusArchiveAndSchedule(t *testing.T) {
	tpl := template(t)
	for _, name := range sortedKeys(functions(t)) {
		if !deploy.Refers(env(t, name)["VAULT_AUDIT_BUS"], "AuditBus") {
			t.Errorf("%s: VAULT_AUDIT_BUS must be !Ref AuditBus", name)
		}
		_, stmts := roleOf(t, name)
		found := false
		for _, st := range stmts {
			if !st.HasAction("events:PutEvents") {
				continue
			}
			found = true
			for _, r := range st.Resources {
				if !deploy.Refers(r, "AuditBus") {
					t.Errorf("%s: %s: PutEvents on %v, want the audit bus only", name, st.Where, r)
				}
			}
		}
		if !found {
			t.Errorf("%s cannot put audit events", name)
		}
	}
	archive := tpl.Resources["AuditArchive"]
	if archive.Type != "AWS::Events::Archive" || !deploy.Refers(archive.Prop("SourceArn"), "AuditBus") {
		t.Error("AuditArchive must archive the audit bus")
	}
	if _, ok := deploy.RefTarget(archive.Prop("RetentionDays")); !ok {
		t.Error("AuditArchive RetentionDays must come from a parameter")
	}
	if d := tpl.Parameters["AuditRetentionDays"].(map[string]any)["Default"]; d != int64(400) {
		t.Errorf("AuditRetentionDays default = %v, want 400", d)
	}
	for _, id := range []string{"AuditToLogsRule", "AuditArchive"} {
		r := tpl.Resources[id]
		if got := deploy.Strings(r.Prop("EventPattern", "source")); !slices.Equal(got, []string{audit.EventSource}) {
			t.Errorf("%s matches source %v, want [%s]", id, got, audit.EventSource)
		}
		if got := deploy.Strings(r.Prop("EventPattern", "detail-type")); !slices.Equal(got, []string{audit.EventDetailType}) {
			t.Errorf("%s matches detail-type %v, want audit events only [%s]", id, got, audit.EventDetailType)
		}
	}
	if !deploy.Refers(tpl.Resources["AuditLogGroup"].Prop("KmsKeyId"), "StorageKey") {
		t.Error("AuditLogGroup must be encrypted with the storage key")
	}

	sched := tpl.Resources["DekRotationSchedule"]
	if sched.Type != "AWS::Scheduler::Schedule" {
		t.Fatal("template has no AWS::Scheduler::Schedule DekRotationSchedule")
	}
	if !deploy.Refers(sched.Prop("Target", "Arn"), "RotateDekFunction") {
		t.Error("the rotation schedule must target rotate-dek")
	}
	input, ok := deploy.SubString(sched.Prop("Target", "Input"))
	if !ok || !strings.Contains(input, `"action":"rotate-due"`) || !strings.Contains(input, "${RotationMaxAgeDays}") || !strings.Contains(input, "${RotationMaxRecords}") {
		t.Errorf("schedule Input = %v; want rotate-due with max_age_days and max_records from the parameters", sched.Prop("Target", "Input"))
	}
	if d := tpl.Parameters["RotationMaxAgeDays"].(map[string]any)["Default"]; d != int64(90) {
		t.Errorf("RotationMaxAgeDays default = %v, want 90", d)
	}
}

func TestFunctionsThatCallKMSHaveReservedConcurrency(t *testing.T) {
	fns := functions(t)
	for _, name := range sortedKeys(fns) {
		spec := fns[name]
		got := functionResource(t, name).Prop("ReservedConcurrentExecutions")
		if _, fromParam := deploy.RefTarget(got); spec.needsKeys && !fromParam {
			t.Errorf("%s calls KMS: ReservedConcurrentExecutions must come from a parameter, is %v", name, got)
		}
		if _, ok := env(t, name)["VAULT_KMS_KEY_ARN"]; ok != spec.needsKeys {
			t.Errorf("%s: VAULT_KMS_KEY_ARN set = %v, needs keys = %v", name, ok, spec.needsKeys)
		}
	}
}

func TestEveryFunctionHasAlarmsAndAnEncryptedLogGroup(t *testing.T) {
	alarms := template(t).OfType("AWS::CloudWatch::Alarm")
	for _, name := range sortedKeys(functions(t)) {
		id := deploy.FunctionLogicalID(name)
		metrics := map[string]bool{}
		for _, a := range alarms {
			for _, d := range deploy.List(a.Prop("Dimensions")) {
				dm, _ := d.(map[string]any)
				if dm["Name"] == "FunctionName" && deploy.Refers(dm["Value"], id) {
					metric, _ := a.Prop("MetricName").(string)
					metrics[metric] = true
				}
			}
		}
		if !metrics["Errors"] || !metrics["Throttles"] {
			t.Errorf("%s: alarms on %v, want Errors and Throttles", name, sortedKeys(metrics))
		}
		group, _ := functionResource(t, name).Prop("LoggingConfig", "LogGroup").(map[string]any)
		groupID, ok := deploy.RefTarget(group)
		if !ok {
			t.Errorf("%s: LoggingConfig.LogGroup must name its log group", name)
			continue
		}
		if !deploy.Refers(template(t).Resources[groupID].Prop("KmsKeyId"), "StorageKey") {
			t.Errorf("%s: log group %s is not encrypted with the storage key", name, groupID)
		}
	}
}

func TestWorkEventsReachRotateDEK(t *testing.T) {
	fn := functionResource(t, app.RotateDEK.Name)
	events, _ := fn.Prop("Events").(map[string]any)
	found := 0
	for name, raw := range events {
		ev, _ := raw.(map[string]any)
		if ev["Type"] != "EventBridgeRule" {
			t.Errorf("rotate-dek event %s: type %v, want EventBridgeRule", name, ev["Type"])
			continue
		}
		found++
		props, _ := ev["Properties"].(map[string]any)
		if !deploy.Refers(props["EventBusName"], "AuditBus") {
			t.Errorf("rotate-dek event %s: bus %v, want the vault's bus", name, props["EventBusName"])
		}
		pattern, _ := props["Pattern"].(map[string]any)
		if got := deploy.Strings(pattern["source"]); !slices.Equal(got, []string{audit.EventSource}) {
			t.Errorf("rotate-dek event %s: source %v", name, got)
		}
		if got := deploy.Strings(pattern["detail-type"]); !slices.Equal(got, []string{app.WorkDetailType}) {
			t.Errorf("rotate-dek event %s: detail-type %v, want [%s]", name, got, app.WorkDetailType)
		}
		if props["InputPath"] != "$.detail" {
			t.Errorf("rotate-dek event %s: InputPath %v, want $.detail (the work request itself)", name, props["InputPath"])
		}
	}
	if found != 1 {
		t.Errorf("rotate-dek has %d work event rules, want 1", found)
	}
}

// The job files bucket holds encrypted uploads and exports and import
// mappings: encrypted with its own key, never public, TLS only, no
// versions, a 7-day backstop; uploads start migrate; only the two job
// functions touch it, each on its own prefixes.
func TestJobFilesBucketAndTheMigrateWorker(t *testing.T) {
	tpl := template(t)
	b, ok := tpl.Resources["FilesBucket"]
	if !ok || b.Type != "AWS::S3::Bucket" {
		t.Fatal("template has no AWS::S3::Bucket FilesBucket")
	}
	rules := deploy.List(b.Prop("BucketEncryption", "ServerSideEncryptionConfiguration"))
	if len(rules) != 1 {
		t.Fatalf("bucket encryption: %v", rules)
	}
	rule, _ := rules[0].(map[string]any)
	def, _ := rule["ServerSideEncryptionByDefault"].(map[string]any)
	if def["SSEAlgorithm"] != "aws:kms" || !deploy.Refers(def["KMSMasterKeyID"], "FilesKey") {
		t.Errorf("bucket must encrypt with SSE-KMS under FilesKey: %v", def)
	}
	for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
		if b.Prop("PublicAccessBlockConfiguration", k) != true {
			t.Errorf("PublicAccessBlockConfiguration.%s must be true", k)
		}
	}
	if v := b.Prop("VersioningConfiguration"); v != nil {
		t.Errorf("versioning must stay off (a deleted upload must be gone): %v", v)
	}
	lifecycle := deploy.List(b.Prop("LifecycleConfiguration", "Rules"))
	expires := false
	for _, r := range lifecycle {
		rm, _ := r.(map[string]any)
		if rm["Status"] == "Enabled" && fmt.Sprint(rm["ExpirationInDays"]) == "7" && rm["Prefix"] == nil && rm["Filter"] == nil {
			expires = true
		}
	}
	if !expires {
		t.Errorf("no enabled lifecycle rule deleting every object after 7 days: %v", lifecycle)
	}
	pol := tpl.Resources["FilesBucketPolicy"]
	stmts, err := deploy.PolicyStatements("FilesBucketPolicy", pol.Prop("PolicyDocument"))
	if err != nil || !deploy.Refers(pol.Prop("Bucket"), "FilesBucket") {
		t.Fatalf("FilesBucketPolicy: %v", err)
	}
	tls := false
	for _, st := range stmts {
		if st.Effect == "Deny" && st.HasAction("s3:*") && st.Condition["Bool"]["aws:SecureTransport"] == "false" {
			tls = true
		}
	}
	if !tls {
		t.Error("the bucket policy does not deny requests without TLS")
	}
	fn := functionResource(t, app.Migrate.Name)
	events, _ := fn.Prop("Events").(map[string]any)
	var s3Events, work int
	for name, raw := range events {
		ev, _ := raw.(map[string]any)
		props, _ := ev["Properties"].(map[string]any)
		switch ev["Type"] {
		case "S3":
			s3Events++
			rules := deploy.List(props["Filter"].(map[string]any)["S3Key"].(map[string]any)["Rules"])
			r0, _ := rules[0].(map[string]any)
			if !deploy.Refers(props["Bucket"], "FilesBucket") || len(rules) != 1 || r0["Name"] != "prefix" || r0["Value"] != "uploads/" {
				t.Errorf("migrate event %s must fire on uploads/ of FilesBucket: %v", name, props)
			}
		case "EventBridgeRule":
			work++
			pattern, _ := props["Pattern"].(map[string]any)
			if !deploy.Refers(props["EventBusName"], "AuditBus") || props["InputPath"] != "$.detail" ||
				!slices.Equal(deploy.Strings(pattern["detail-type"]), []string{app.JobWorkDetailType}) {
				t.Errorf("migrate event %s: %v", name, props)
			}
		default:
			t.Errorf("migrate event %s: type %v", name, ev["Type"])
		}
	}
	if s3Events != 1 || work != 1 {
		t.Errorf("migrate has %d upload and %d work events, want 1 and 1", s3Events, work)
	}
	// S3 actions: exactly these, on exactly these prefixes.
	want := map[string]map[string][]string{
		"jobs":    {"uploads/*": {"s3:PutObject"}, "results/*": {"s3:GetObject"}},
		"migrate": {"uploads/*": {"s3:DeleteObject", "s3:GetObject"}, "results/*": {"s3:AbortMultipartUpload", "s3:DeleteObject", "s3:PutObject"}},
	}
	for _, name := range sortedKeys(functions(t)) {
		_, stmts := roleOf(t, name)
		got := map[string][]string{}
		for _, st := range stmts {
			for _, r := range st.Resources {
				if sub, ok := deploy.SubString(r); ok && strings.HasPrefix(sub, "${FilesBucket.Arn}/") {
					got[strings.TrimPrefix(sub, "${FilesBucket.Arn}/")] = append(got[strings.TrimPrefix(sub, "${FilesBucket.Arn}/")], st.ActionsOf("s3")...)
				} else if len(st.ActionsOf("s3")) > 0 {
					t.Errorf("%s: %s: S3 on %v; name a prefix of the files bucket", name, st.Where, r)
				}
			}
		}
		for k := range got {
			sort.Strings(got[k])
		}
		if w := want[name]; len(w) != len(got) || !slices.Equal(got["uploads/*"], w["uploads/*"]) || !slices.Equal(got["results/*"], w["results/*"]) {
			t.Errorf("%s: S3 grants %v, want %v", name, got, w)
		}
	}
}
