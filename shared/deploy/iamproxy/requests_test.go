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
