package iampolicy_test

import (
	"testing"

	"github.com/cardvault/vault/shared/deploy"
	"github.com/cardvault/vault/shared/deploy/iampolicy"
)

const (
	table = "arn:aws:dynamodb:eu-west-1:111122223333:table/vault"
	key   = "arn:aws:kms:eu-west-1:111122223333:key/k1"
)

func policy(t *testing.T, doc map[string]any) iampolicy.Policy {
	t.Helper()
	stmts, err := deploy.PolicyStatements("test", doc)
	if err != nil {
		t.Fatal(err)
	}
	var s deploy.StandIns
	s.Attr("Table", "Arn", table)
	s.Attr("Key", "Arn", key)
	p, err := iampolicy.FromStatements(stmts, s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func stmt(action, resource any, cond map[string]any) map[string]any {
	m := map[string]any{"Effect": "Allow", "Action": action, "Resource": resource}
	if cond != nil {
		m["Condition"] = cond
	}
	return m
}

func TestLeadingKeysNullAndSelect(t *testing.T) {
	p := policy(t, map[string]any{"Statement": []any{
		stmt("dynamodb:GetItem", map[string]any{"Fn::GetAtt": []any{"Table", "Arn"}}, map[string]any{
			"ForAllValues:StringLike": map[string]any{"dynamodb:LeadingKeys": []any{"CARD#*"}},
			"Null":                    map[string]any{"dynamodb:LeadingKeys": "false"},
		}),
		stmt("dynamodb:Query", map[string]any{"Fn::Sub": "${Table.Arn}/index/by_merchant"}, map[string]any{
			"StringEquals": map[string]any{"dynamodb:Select": "COUNT"},
		}),
	}})
	cases := []struct {
		name string
		req  iampolicy.Request
		want bool
	}{
		{"card item", iampolicy.Request{Action: "dynamodb:GetItem", Resource: table, Context: map[string][]string{"dynamodb:LeadingKeys": {"CARD#t1"}}}, true},
		{"action names compare case-insensitively", iampolicy.Request{Action: "DynamoDB:getitem", Resource: table, Context: map[string][]string{"dynamodb:leadingkeys": {"CARD#t1"}}}, true},
		{"another prefix", iampolicy.Request{Action: "dynamodb:GetItem", Resource: table, Context: map[string][]string{"dynamodb:LeadingKeys": {"SECRET#m"}}}, false},
		{"no partition key (ForAllValues alone would hold)", iampolicy.Request{Action: "dynamodb:GetItem", Resource: table}, false},
		{"another action", iampolicy.Request{Action: "dynamodb:PutItem", Resource: table, Context: map[string][]string{"dynamodb:LeadingKeys": {"CARD#t1"}}}, false},
		{"the index is another resource", iampolicy.Request{Action: "dynamodb:GetItem", Resource: table + "/index/by_merchant", Context: map[string][]string{"dynamodb:LeadingKeys": {"CARD#t1"}}}, false},
		{"count query", iampolicy.Request{Action: "dynamodb:Query", Resource: table + "/index/by_merchant", Context: map[string][]string{"dynamodb:Select": {"COUNT"}}}, true},
		{"listing query", iampolicy.Request{Action: "dynamodb:Query", Resource: table + "/index/by_merchant", Context: map[string][]string{"dynamodb:Select": {"ALL_PROJECTED_ATTRIBUTES"}}}, false},
		{"query without Select", iampolicy.Request{Action: "dynamodb:Query", Resource: table + "/index/by_merchant"}, false},
	}
	for _, c := range cases {
		if got := p.Evaluate(c.req).Allowed; got != c.want {
			t.Errorf("%s: %s allowed = %v, want %v", c.name, c.req, got, c.want)
		}
	}
}

func TestEncryptionContextConditions(t *testing.T) {
	p := policy(t, map[string]any{"Statement": []any{
		stmt([]any{"kms:Encrypt", "kms:Decrypt"}, map[string]any{"Fn::GetAtt": []any{"Key", "Arn"}}, map[string]any{
			"StringEquals":              map[string]any{"kms:EncryptionContext:purpose": "merchant-keys"},
			"ForAllValues:StringEquals": map[string]any{"kms:EncryptionContextKeys": []any{"merchant_id", "purpose", "key_version"}},
			"Null":                      map[string]any{"kms:EncryptionContext:merchant_id": "false"},
		}),
	}})
	ec := func(kv ...string) map[string][]string {
		m := map[string][]string{}
		var keys []string
		for i := 0; i+1 < len(kv); i += 2 {
			m["kms:EncryptionContext:"+kv[i]] = []string{kv[i+1]}
			keys = append(keys, kv[i])
		}
		m["kms:EncryptionContextKeys"] = keys
		return m
	}
	if d := p.Evaluate(iampolicy.Request{Action: "kms:Decrypt", Resource: key, Context: ec("purpose", "merchant-keys", "merchant_id", "m1", "key_version", "1")}); !d.Allowed || len(d.Grants) != 1 || d.Grants[0].Action != "kms:Decrypt" {
		t.Errorf("the merchant-keys context is refused: %+v", d)
	}
	for name, ctx := range map[string]map[string][]string{
		"another purpose":   ec("purpose", "vault-config", "merchant_id", "m1"),
		"an extra key":      ec("purpose", "merchant-keys", "merchant_id", "m1", "tenant", "x"),
		"no merchant":       ec("purpose", "merchant-keys"),
		"no context at all": nil,
	} {
		if p.Evaluate(iampolicy.Request{Action: "kms:Decrypt", Resource: key, Context: ctx}).Allowed {
			t.Errorf("%s: allowed", name)
		}
	}
	if p.Evaluate(iampolicy.Request{Action: "kms:Decrypt", Resource: "arn:aws:kms:eu-west-1:111122223333:key/other", Context: ec("purpose", "merchant-keys", "merchant_id", "m1")}).Allowed {
		t.Error("another key is allowed")
	}
}

func TestDenyWinsAndUnknownOperatorsNeverMatch(t *testing.T) {
	p := policy(t, map[string]any{"Statement": []any{
		stmt("events:PutEvents", "*", nil),
		map[string]any{"Effect": "Deny", "Action": "events:PutEvents", "Resource": "arn:aws:events:*:*:event-bus/default"},
		stmt("kms:Decrypt", "*", map[string]any{"NumericLessThan": map[string]any{"kms:x": "3"}}),
	}})
	if !p.Evaluate(iampolicy.Request{Action: "events:PutEvents", Resource: "arn:aws:events:eu-west-1:1:event-bus/vault"}).Allowed {
		t.Error("the wildcard resource does not match")
	}
	if d := p.Evaluate(iampolicy.Request{Action: "events:PutEvents", Resource: "arn:aws:events:eu-west-1:1:event-bus/default"}); d.Allowed || d.DeniedBy == "" {
		t.Errorf("the explicit deny did not win: %+v", d)
	}
	d := p.Evaluate(iampolicy.Request{Action: "kms:Decrypt", Resource: key, Context: map[string][]string{"kms:x": {"1"}}})
	if d.Allowed || len(d.Unsupported) != 1 {
		t.Errorf("an operator outside the subset: %+v", d)
	}
	if n := len(p.Grants()); n != 2 {
		t.Errorf("Grants() = %d, want the 2 of the Allow statements", n)
	}
}

func TestNegatedOperatorsHoldForAnAbsentKey(t *testing.T) {
	p := policy(t, map[string]any{"Statement": []any{
		stmt("secretsmanager:GetSecretValue", "*", map[string]any{"StringNotEquals": map[string]any{"aws:PrincipalArn": "arn:x"}}),
	}})
	if !p.Evaluate(iampolicy.Request{Action: "secretsmanager:GetSecretValue", Resource: "arn:s"}).Allowed {
		t.Error("StringNotEquals on an absent key must hold")
	}
	if p.Evaluate(iampolicy.Request{Action: "secretsmanager:GetSecretValue", Resource: "arn:s", Context: map[string][]string{"aws:PrincipalArn": {"arn:x"}}}).Allowed {
		t.Error("StringNotEquals on an equal value must not hold")
	}
}

func TestStandInsResolveTheTemplate(t *testing.T) {
	tpl, err := deploy.Load("../../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var s deploy.StandIns
	s.Attr("VaultTable", "Arn", table)
	s.Attr("MerchantKeysKey", "Arn", key)
	s.Ref("VaultJwksSecret", "arn:jwks")
	s.Ref("ClientRegistrySecret", "arn:clients")
	s.Attr("AuditBus", "Arn", "arn:bus")
	s.Attr("RotateDekLogGroup", "Arn", "arn:logs")
	s.Attr("KeyWorkDeadLetterQueue", "Arn", "arn:dlq")
	s.Attr("KeyWorkDeadLetterKey", "Arn", "arn:dlq-key")
	s.Ref("AWS::Region", "eu-west-1")
	p, err := iampolicy.FromRole(tpl, "RotateDekRole", s)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Evaluate(iampolicy.Request{Action: "dynamodb:Query", Resource: table + "/index/by_merchant"}).Allowed {
		t.Error("rotate-dek may not query the index")
	}
	if !p.Evaluate(iampolicy.Request{Action: "sqs:SendMessage", Resource: "arn:dlq"}).Allowed {
		t.Error("Lambda may not send rotate-dek's failed invocations to the dead-letter queue as its role")
	}
	if _, err := iampolicy.FromRole(tpl, "RotateDekRole", deploy.StandIns{}); err == nil {
		t.Error("a reference without a stand-in resolved")
	}
}

// A batch call names many partition keys at once: each statement holds
// it to its prefixes only if every key matches, so a batch mixing two
// item kinds granted by two statements is denied.
func TestLeadingKeysOfABatch(t *testing.T) {
	onTable := map[string]any{"Fn::GetAtt": []any{"Table", "Arn"}}
	held := func(prefix string) map[string]any {
		return map[string]any{
			"ForAllValues:StringLike": map[string]any{"dynamodb:LeadingKeys": []any{prefix}},
			"Null":                    map[string]any{"dynamodb:LeadingKeys": "false"},
		}
	}
	p := policy(t, map[string]any{"Statement": []any{
		stmt([]any{"dynamodb:PutItem", "dynamodb:BatchWriteItem"}, onTable, held("CARD#*")),
		stmt([]any{"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"}, onTable, held("CIDX#*")),
	}})
	batch := func(action string, keys ...string) iampolicy.Request {
		return iampolicy.Request{Action: action, Resource: table, Context: map[string][]string{"dynamodb:LeadingKeys": keys}}
	}
	cases := []struct {
		name string
		req  iampolicy.Request
		want bool
	}{
		{"cards", batch("dynamodb:BatchWriteItem", "CARD#a", "CARD#b"), true},
		{"entries", batch("dynamodb:BatchWriteItem", "CIDX#m#f#c", "CIDX#m#g#c"), true},
		{"cards and entries in one call", batch("dynamodb:BatchWriteItem", "CARD#a", "CIDX#m#f#c"), false},
		{"one key of another kind", batch("dynamodb:BatchWriteItem", "CARD#a", "CARD#b", "SECRET#m#n"), false},
		{"reading entries", batch("dynamodb:BatchGetItem", "CIDX#m#f#c"), true},
		{"reading cards", batch("dynamodb:BatchGetItem", "CARD#a"), false},
		{"no key", iampolicy.Request{Action: "dynamodb:BatchWriteItem", Resource: table}, false},
	}
	for _, c := range cases {
		if got := p.Evaluate(c.req).Allowed; got != c.want {
			t.Errorf("%s: %s allowed = %v, want %v", c.name, c.req, got, c.want)
		}
	}
}
