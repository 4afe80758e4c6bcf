package deploy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/cardvault/vault/shared/deploy"
)

// merchantKeysContext is the encryption context every merchant key wrap
// carries (shared/envelope).
var merchantKeysContext = []string{"key_version", "merchant_id", "purpose"}

// identityStatements returns the statements of every IAM role and policy
// of the template.
func identityStatements(t *testing.T) []deploy.Statement {
	t.Helper()
	var out []deploy.Statement
	for id, r := range template(t).Resources {
		switch r.Type {
		case deploy.TypeRole:
			stmts, err := deploy.RoleStatements(id, r)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, stmts...)
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy":
			stmts, err := deploy.PolicyStatements(id, r.Prop("PolicyDocument"))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, stmts...)
		}
	}
	if len(out) == 0 {
		t.Fatal("no IAM statements found")
	}
	return out
}

func TestNoIAMStatementHasAWildcard(t *testing.T) {
	for _, st := range identityStatements(t) {
		if st.Effect != "Allow" {
			t.Errorf("%s: Effect %q; roles only allow, explicitly", st.Where, st.Effect)
		}
		for _, a := range st.Actions {
			if strings.Contains(a, "*") {
				t.Errorf("%s: action %q has a wildcard; list the actions", st.Where, a)
			}
		}
		for _, r := range st.Resources {
			if s, ok := r.(string); ok && strings.Contains(s, "*") {
				t.Errorf("%s: resource %q has a wildcard; name the resource", st.Where, s)
			}
		}
	}
}

func TestKMSIsGrantedOnlyWithTheMerchantKeysContext(t *testing.T) {
	for _, st := range identityStatements(t) {
		if len(st.ActionsOf("kms")) == 0 {
			continue
		}
		if onDeadLetterKey(st) {
			checkDeadLetterKeyUse(t, st)
			continue
		}
		if onFilesKey(st) {
			// The job files bucket's key, used through S3 only.
			if _, via := st.Condition["StringEquals"]["kms:ViaService"]; !via {
				t.Errorf("%s: the files key without a kms:ViaService (S3) condition", st.Where)
			}
			for _, a := range st.ActionsOf("kms") {
				if a != "kms:Decrypt" && a != "kms:GenerateDataKey" {
					t.Errorf("%s: %s on the files key; S3 needs Decrypt and GenerateDataKey only", st.Where, a)
				}
			}
			continue
		}
		for _, r := range st.Resources {
			if !deploy.Refers(r, "MerchantKeysKey") {
				t.Errorf("%s: KMS on %v; only the merchant keys key is used directly", st.Where, r)
			}
		}
		purpose := st.ConditionValues("StringEquals", "kms:EncryptionContext:purpose")
		if len(purpose) == 0 {
			t.Errorf("%s: KMS actions without a kms:EncryptionContext:purpose condition", st.Where)
			continue
		}
		for _, p := range purpose {
			if p != "merchant-keys" && p != "vault-config" {
				t.Errorf("%s: purpose %q is not one of the vault's", st.Where, p)
			}
		}
		if slices.Contains(purpose, "merchant-keys") {
			keys := st.ConditionValues("ForAllValues:StringEquals", "kms:EncryptionContextKeys")
			slices.Sort(keys)
			if !slices.Equal(keys, merchantKeysContext) {
				t.Errorf("%s: kms:EncryptionContextKeys = %v, want exactly %v", st.Where, keys, merchantKeysContext)
			}
		}
	}
}

// onFilesKey reports whether every resource of st is the files key.
func onFilesKey(st deploy.Statement) bool {
	for _, r := range st.Resources {
		if !deploy.Refers(r, "FilesKey") {
			return false
		}
	}
	return len(st.Resources) > 0
}

// onDeadLetterKey reports whether the statement grants use of the key work
// dead-letter queue's key (and nothing else).
func onDeadLetterKey(st deploy.Statement) bool {
	for _, r := range st.Resources {
		if !deploy.Refers(r, "KeyWorkDeadLetterKey") {
			return false
		}
	}
	return len(st.Resources) > 0
}

// checkDeadLetterKeyUse: what SQS needs of a sender to an encrypted queue
// (GenerateDataKey, Decrypt), only through SQS.
func checkDeadLetterKeyUse(t *testing.T, st deploy.Statement) {
	t.Helper()
	for _, a := range st.ActionsOf("kms") {
		if a != "kms:GenerateDataKey" && a != "kms:Decrypt" {
			t.Errorf("%s: %s on the dead-letter key; a sender needs kms:GenerateDataKey and kms:Decrypt only", st.Where, a)
		}
	}
	via := st.Condition["StringEquals"]["kms:ViaService"]
	if sub, ok := deploy.SubString(via); !ok || sub != "sqs.${AWS::Region}.amazonaws.com" {
		t.Errorf("%s: the dead-letter key must be used through SQS only (kms:ViaService), is %v", st.Where, via)
	}
}

func TestFunctionsWithoutKeysHoldNoKMSPermission(t *testing.T) {
	fns := functions(t)
	for _, name := range sortedKeys(fns) {
		spec := fns[name]
		_, stmts := roleOf(t, name)
		var kms []string
		for _, st := range stmts {
			if onFilesKey(st) {
				if !spec.needsFiles {
					t.Errorf("%s uses no job files but its role allows %v on the files key", name, st.ActionsOf("kms"))
				}
				continue
			}
			kms = append(kms, st.ActionsOf("kms")...)
		}
		switch {
		case !spec.needsKeys && len(kms) > 0:
			t.Errorf("%s holds no merchant keys but its role allows %v", name, kms)
		case spec.needsKeys && !slices.Contains(kms, "kms:Decrypt"):
			t.Errorf("%s unwraps merchant keys but its role lacks kms:Decrypt (has %v)", name, kms)
		}
	}
	// The masked view and the card listing are the showcase of the split:
	// say them by name, whichever function serves them.
	routes := httpRoutes(t)
	for _, key := range []string{
		"GET /v1/cards/{token}",
		"GET /v1/merchants/{merchant_id}/customers/{customer_id}/cards",
		"GET /v1/merchants/{merchant_id}/fingerprints/{fingerprint}/cards",
	} {
		fn, ok := routes[key]
		if !ok {
			t.Errorf("no function serves %s", key)
			continue
		}
		_, stmts := roleOf(t, fn)
		for _, st := range stmts {
			if len(st.ActionsOf("kms")) > 0 {
				t.Errorf("%s (serving %s): %s allows %v", fn, key, st.Where, st.ActionsOf("kms"))
			}
		}
	}
}

// The by_merchant index projects every record's ciphertext. Only
// rotate-dek, which re-encrypts and purges, and migrate, which exports a
// merchant's cards, may list it; merchant-keys, which holds kms:Decrypt
// for the merchant keys, may only count.
func TestOnlyRotateDEKListsTheIndex(t *testing.T) {
	listing := awsCall{action: "dynamodb:Query", index: "by_merchant", leading: []string{"MERCHANT#m_1#0"}, selects: "SPECIFIC_ATTRIBUTES"}
	counting := listing
	counting.selects = "COUNT"
	noSelect := listing
	noSelect.selects = ""
	for _, name := range sortedKeys(functions(t)) {
		_, stmts := roleOf(t, name)
		lists := name == "rotate-dek" || name == "migrate"
		if got, want := allows(stmts, listing), lists; got != want {
			t.Errorf("%s: may list the index = %v, want %v", name, got, want)
		}
		if got, want := allows(stmts, noSelect), lists; got != want {
			t.Errorf("%s: may query the index without Select = %v, want %v", name, got, want)
		}
		if got, want := allows(stmts, counting), lists || name == "merchant-keys"; got != want {
			t.Errorf("%s: may count the index = %v, want %v", name, got, want)
		}
	}
}

func TestEachFunctionHasItsOwnRole(t *testing.T) {
	owner := map[string]string{}
	for _, name := range sortedKeys(functions(t)) {
		role, _ := roleOf(t, name)
		if prev, taken := owner[role]; taken {
			t.Errorf("%s and %s share role %s", prev, name, role)
		}
		owner[role] = name
	}
	for id, r := range template(t).OfType(deploy.TypeRole) {
		principal, _ := r.Prop("AssumeRolePolicyDocument", "Statement").([]any)
		if len(principal) != 1 {
			t.Errorf("%s: trust policy must have one statement", id)
		}
	}
}

func TestDynamoDBGrantsAreScopedToTheTableAndKeyPrefixes(t *testing.T) {
	for _, name := range sortedKeys(functions(t)) {
		_, stmts := roleOf(t, name)
		for _, st := range stmts {
			actions := st.ActionsOf("dynamodb")
			if len(actions) == 0 {
				continue
			}
			for _, a := range actions {
				switch strings.TrimPrefix(a, "dynamodb:") {
				case "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query":
				case "BatchGetItem", "BatchWriteItem":
					// An import reads the duplicate index and writes new
					// cards and their entries in batches; IAM holds every
					// key of a batch call to the statement's prefixes.
					if name != "migrate" {
						t.Errorf("%s: %s: %s: only migrate reads or writes in batches", name, st.Where, a)
					}
				default:
					// Scan cannot be held to key prefixes, and the store
					// never reads or writes in batches.
					t.Errorf("%s: %s: %s is not an action the store uses per item", name, st.Where, a)
				}
			}
			for _, r := range st.Resources {
				onTable := deploy.Refers(r, "VaultTable")
				sub, isSub := deploy.SubString(r)
				onIndex := isSub && sub == "${VaultTable.Arn}/index/by_merchant"
				onListing := isSub && (sub == "${VaultTable.Arn}/index/by_customer" || sub == "${VaultTable.Arn}/index/by_fingerprint")
				switch {
				case onIndex || onListing:
					if !slices.Equal(actions, []string{"dynamodb:Query"}) {
						t.Errorf("%s: %s: the index is only queried, not %v", name, st.Where, actions)
					}
					if onListing {
						// A listing partition is one merchant's customer or
						// fingerprint; nothing else may be named.
						prefixes := st.ConditionValues("ForAllValues:StringLike", "dynamodb:LeadingKeys")
						slices.Sort(prefixes)
						if !slices.Equal(prefixes, []string{"CUST#*", "FPRINT#*"}) || !slices.Equal(st.ConditionValues("Null", "dynamodb:LeadingKeys"), []string{"false"}) {
							t.Errorf("%s: %s: a listing index query must be held to CUST#* and FPRINT#* partitions, is %v", name, st.Where, prefixes)
						}
					}
				case onTable && !isSub:
					prefixes := st.ConditionValues("ForAllValues:StringLike", "dynamodb:LeadingKeys")
					if len(prefixes) == 0 {
						t.Errorf("%s: %s: table access without a dynamodb:LeadingKeys condition", name, st.Where)
					}
					for _, p := range prefixes {
						kind := strings.HasSuffix(p, "#*") && strings.Count(p, "*") == 1
						single := !strings.ContainsAny(p, "#*?")
						if !kind && !single {
							t.Errorf("%s: %s: leading key pattern %q is neither an item kind (<PREFIX>#*) nor one partition", name, st.Where, p)
						}
					}
					if got := st.ConditionValues("Null", "dynamodb:LeadingKeys"); !slices.Equal(got, []string{"false"}) {
						t.Errorf("%s: %s: needs Null dynamodb:LeadingKeys false (ForAllValues is true for a request without keys)", name, st.Where)
					}
				default:
					t.Errorf("%s: %s: DynamoDB on %v; only the vault table and its indexes", name, st.Where, r)
				}
			}
		}
	}
}

// Background work travels as events on the vault's bus (app.EventWork), so
// no function needs to invoke another.
func TestNoFunctionInvokesAnother(t *testing.T) {
	for _, name := range sortedKeys(functions(t)) {
		_, stmts := roleOf(t, name)
		for _, st := range stmts {
			if len(st.ActionsOf("lambda")) > 0 {
				t.Errorf("%s: %s allows %v", name, st.Where, st.ActionsOf("lambda"))
			}
		}
	}
}

func TestMerchantKeysKeyPolicyRequiresTheVaultContext(t *testing.T) {
	tpl := template(t)
	for _, id := range []string{"MerchantKeysKey", "StorageKey"} {
		key, ok := tpl.Resources[id]
		if !ok || key.Type != deploy.TypeKMSKey {
			t.Fatalf("template has no %s %s", deploy.TypeKMSKey, id)
		}
		if key.Prop("EnableKeyRotation") != true {
			t.Errorf("%s: EnableKeyRotation must be true", id)
		}
		stmts, err := deploy.PolicyStatements(id, key.Prop("KeyPolicy"))
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range stmts {
			if st.HasAction("kms:*") {
				t.Errorf("%s: %s allows kms:*", id, st.Where)
			}
			if id != "MerchantKeysKey" {
				continue
			}
			if st.HasAction("kms:CreateGrant") {
				t.Errorf("%s: %s allows grants, which could bypass the context condition", id, st.Where)
			}
			for _, a := range []string{"kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey"} {
				if st.HasAction(a) && len(st.ConditionValues("StringEquals", "kms:EncryptionContext:purpose")) == 0 {
					t.Errorf("%s: %s allows %s without a purpose condition", id, st.Where, a)
				}
			}
		}
	}
	// Log group encryption needs CloudWatch Logs in the storage key's policy.
	stmts, _ := deploy.PolicyStatements("StorageKey", tpl.Resources["StorageKey"].Prop("KeyPolicy"))
	logs := false
	for _, st := range stmts {
		if _, ok := st.Condition["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]; ok && st.HasAction("kms:GenerateDataKey") {
			logs = true
		}
	}
	if !logs {
		t.Error("StorageKey's policy does not let CloudWatch Logs use it for this account's log groups")
	}
}
