package iamproxy

import (
	"slices"
	"testing"
)

func TestRequestsOfTheAWSJSONProtocol(t *testing.T) {
	w := Where{Region: "eu-west-1", Account: "1", Tables: map[string]Table{"vault": {HashKey: "pk", Indexes: map[string]string{"by_merchant": "gsi1pk"}}}}
	table := "arn:aws:dynamodb:eu-west-1:1:table/vault"
	cases := []struct {
		service, op, body string
		action, resource  string
		context           map[string][]string
	}{
		{DynamoDB, "GetItem", `{"TableName":"vault","Key":{"pk":{"S":"CARD#t"},"sk":{"S":"CARD"}}}`,
			"dynamodb:GetItem", table, map[string][]string{"dynamodb:LeadingKeys": {"CARD#t"}}},
		{DynamoDB, "PutItem", `{"TableName":"vault","Item":{"pk":{"S":"JTI#c#j"}}}`,
			"dynamodb:PutItem", table, map[string][]string{"dynamodb:LeadingKeys": {"JTI#c#j"}}},
		{DynamoDB, "Query", `{"TableName":"vault","KeyConditionExpression":"#p = :p AND begins_with(sk, :s)","ExpressionAttributeNames":{"#p":"pk"},"ExpressionAttributeValues":{":p":{"S":"MKEY#m"},":s":{"S":"V"}}}`,
			"dynamodb:Query", table, map[string][]string{"dynamodb:LeadingKeys": {"MKEY#m"}}},
		{DynamoDB, "Query", `{"TableName":"vault","IndexName":"by_merchant","Select":"COUNT","KeyConditionExpression":"gsi1pk = :p","ExpressionAttributeValues":{":p":{"S":"MERCHANT#m#0"}}}`,
			"dynamodb:Query", table + "/index/by_merchant", map[string][]string{"dynamodb:LeadingKeys": {"MERCHANT#m#0"}, "dynamodb:Select": {"COUNT"}}},
		{KMS, "Encrypt", `{"KeyId":"k1","EncryptionContext":{"purpose":"merchant-keys"}}`,
			"kms:Encrypt", "arn:aws:kms:eu-west-1:1:key/k1", map[string][]string{"kms:EncryptionContext:purpose": {"merchant-keys"}, "kms:EncryptionContextKeys": {"purpose"}}},
	}
	for _, c := range cases {
		auths, err := w.requestsOf(c.service, c.op, []byte(c.body))
		if err != nil || len(auths) != 1 {
			t.Errorf("%s %s: %v %v", c.service, c.op, auths, err)
			continue
		}
		r := auths[0].req
		if r.Action != c.action || r.Resource != c.resource || len(r.Context) != len(c.context) {
			t.Errorf("%s %s: %s, want %s on %s %v", c.service, c.op, r, c.action, c.resource, c.context)
			continue
		}
		for k, v := range c.context {
			got := slices.Clone(r.Context[k])
			slices.Sort(got)
			if !slices.Equal(got, v) {
				t.Errorf("%s %s: %s = %v, want %v", c.service, c.op, k, got, v)
			}
		}
	}

	reencrypt, err := w.requestsOf(KMS, "ReEncrypt", []byte(`{"SourceKeyId":"arn:aws:kms:eu-west-1:1:key/old","DestinationKeyId":"new","SourceEncryptionContext":{"a":"1"},"DestinationEncryptionContext":{"a":"1"}}`))
	if err != nil || len(reencrypt) != 2 || reencrypt[0].req.Action != "kms:ReEncryptFrom" || reencrypt[0].req.Resource != "arn:aws:kms:eu-west-1:1:key/old" ||
		reencrypt[1].req.Action != "kms:ReEncryptTo" || reencrypt[1].req.Resource != "arn:aws:kms:eu-west-1:1:key/new" {
		t.Errorf("ReEncrypt: %+v %v", reencrypt, err)
	}
	if d, err := w.requestsOf(KMS, "Decrypt", []byte(`{"CiphertextBlob":"AA=="}`)); err != nil || d[0].resourceFrom != "KeyId" {
		t.Errorf("a Decrypt naming no key is authorized on the answer's key: %+v %v", d, err)
	}
	for _, c := range []struct{ service, op, body string }{
		{DynamoDB, "BatchWriteItem", `{"RequestItems":{}}`},
		{DynamoDB, "TransactWriteItems", `{"TransactItems":[]}`},
		{KMS, "CreateGrant", `{"KeyId":"k"}`},
		{SecretsManager, "PutSecretValue", `{"SecretId":"x"}`},
		{"Logs_20140328", "PutLogEvents", `{}`},
	} {
		if _, err := w.requestsOf(c.service, c.op, []byte(c.body)); err == nil {
			t.Errorf("%s.%s is not understood, but was not refused", c.service, c.op)
		}
	}
}

// A batch call is one IAM request per table, on the table, naming the
// partition key of every item: a ForAllValues condition on
// dynamodb:LeadingKeys then holds only if it holds for each item.
func TestRequestsOfBatchCalls(t *testing.T) {
	w := Where{Region: "eu-west-1", Account: "1", Tables: map[string]Table{"vault": {HashKey: "pk"}, "other": {HashKey: "id"}}}
	table := "arn:aws:dynamodb:eu-west-1:1:table/vault"
	get, err := w.requestsOf(DynamoDB, "BatchGetItem", []byte(`{"RequestItems":{"vault":{"ConsistentRead":true,"Keys":[
		{"pk":{"S":"CIDX#m#a#c"},"sk":{"S":"CIDX"}},{"pk":{"S":"CIDX#m#b#c"},"sk":{"S":"CIDX"}},{"pk":{"S":"CIDX#m#a#c"},"sk":{"S":"X"}}]}}}`))
	if err != nil || len(get) != 1 {
		t.Fatalf("BatchGetItem: %+v %v", get, err)
	}
	if r := get[0].req; r.Action != "dynamodb:BatchGetItem" || r.Resource != table || !slices.Equal(r.Context["dynamodb:LeadingKeys"], []string{"CIDX#m#a#c", "CIDX#m#b#c"}) {
		t.Errorf("BatchGetItem: %s", r)
	}
	write, err := w.requestsOf(DynamoDB, "BatchWriteItem", []byte(`{"RequestItems":{
		"arn:aws:dynamodb:eu-west-1:1:table/vault":[{"PutRequest":{"Item":{"pk":{"S":"CARD#a"},"sk":{"S":"CARD"},"sealed":{"B":"AA=="}}}},{"DeleteRequest":{"Key":{"pk":{"S":"CARD#b"},"sk":{"S":"CARD"}}}}],
		"other":[{"PutRequest":{"Item":{"id":{"S":"x"}}}}]}}`))
	if err != nil || len(write) != 2 {
		t.Fatalf("BatchWriteItem: %+v %v", write, err)
	}
	if r := write[0].req; r.Action != "dynamodb:BatchWriteItem" || r.Resource != table || !slices.Equal(r.Context["dynamodb:LeadingKeys"], []string{"CARD#a", "CARD#b"}) {
		t.Errorf("BatchWriteItem on the vault table: %s", r)
	}
	if r := write[1].req; r.Resource != "arn:aws:dynamodb:eu-west-1:1:table/other" || !slices.Equal(r.Context["dynamodb:LeadingKeys"], []string{"x"}) {
		t.Errorf("BatchWriteItem on the other table: %s", r)
	}
	for name, body := range map[string]string{
		"no table":            `{"RequestItems":{}}`,
		"no item":             `{"RequestItems":{"vault":[]}}`,
		"no partition key":    `{"RequestItems":{"vault":[{"PutRequest":{"Item":{"sk":{"S":"CARD"}}}}]}}`,
		"a number key":        `{"RequestItems":{"vault":[{"PutRequest":{"Item":{"pk":{"N":"1"}}}}]}}`,
		"neither put nor del": `{"RequestItems":{"vault":[{}]}}`,
	} {
		if auths, err := w.requestsOf(DynamoDB, "BatchWriteItem", []byte(body)); err == nil {
			t.Errorf("%s: authorized as %+v", name, auths)
		}
	}
}
