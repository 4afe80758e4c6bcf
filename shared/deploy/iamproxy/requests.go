package iamproxy

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/cardvault/vault/shared/deploy/iampolicy"
)

// Services the proxy understands, by the prefix of their X-Amz-Target
// (AWS JSON protocol: POST /, the operation in X-Amz-Target, a JSON body).
const (
	DynamoDB       = "DynamoDB_20120810"
	KMS            = "TrentService"
	SecretsManager = "secretsmanager"
	EventBridge    = "AWSEvents"
)

// Table is what the proxy must know of a table to find the partition key
// a request names (dynamodb:LeadingKeys): the hash key attribute of the
// table and of each index.
type Table struct {
	HashKey string
	// Indexes maps an index name to its hash key attribute.
	Indexes map[string]string
}

// Where is the account and region the emulated resources live in; ARNs
// the requests name only by name or id are completed with it.
type Where struct {
	Region  string
	Account string
	// Tables are the key schemas, by table name.
	Tables map[string]Table
	// Buckets are the S3 buckets, by name.
	Buckets map[string]Bucket
}

// authorization is one request to evaluate, or, with resourceFrom set, a
// request whose resource is only known from the service's answer (a
// Decrypt that names no key: the ciphertext does).
type authorization struct {
	req          iampolicy.Request
	resourceFrom string
}

// requestsOf turns one AWS JSON protocol call into the IAM requests AWS
// would authorize for it. An operation it does not know is an error: the
// proxy then refuses the call rather than pass it unchecked.
func (w Where) requestsOf(service, op string, body []byte) ([]authorization, error) {
	var in map[string]json.RawMessage
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("the body is not a JSON object")
	}
	switch service {
	case DynamoDB:
		return w.dynamoDB(op, in)
	case KMS:
		return w.kms(op, in)
	case SecretsManager:
		return w.secretsManager(op, in)
	case EventBridge:
		return w.eventBridge(op, in)
	}
	return nil, fmt.Errorf("service %s is not emulated", service)
}

func str(in map[string]json.RawMessage, key string) string {
	var s string
	_ = json.Unmarshal(in[key], &s)
	return s
}

func (w Where) arn(service, rest string) string {
	return fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, w.Region, w.Account, rest)
}

// attributeValue is a DynamoDB AttributeValue as JSON; only strings
// matter for the vault's partition keys.
type attributeValue struct {
	S *string `json:"S"`
}

func (w Where) dynamoDB(op string, in map[string]json.RawMessage) ([]authorization, error) {
	if op == "BatchGetItem" || op == "BatchWriteItem" {
		return w.dynamoDBBatch(op, in)
	}
	tableName := str(in, "TableName")
	if tableName == "" {
		return nil, fmt.Errorf("dynamodb:%s names no table (transaction calls are not emulated)", op)
	}
	table, known := w.Tables[tableName]
	resource := w.arn("dynamodb", "table/"+tableName)
	req := iampolicy.Request{Action: "dynamodb:" + op, Resource: resource, Context: map[string][]string{}}
	hashKey := table.HashKey
	if index := str(in, "IndexName"); index != "" {
		req.Resource += "/index/" + index
		hashKey = table.Indexes[index]
	}
	leading := func(v string) { req.Context["dynamodb:LeadingKeys"] = []string{v} }
	switch op {
	case "GetItem", "UpdateItem", "DeleteItem", "PutItem":
		member := "Key"
		if op == "PutItem" {
			member = "Item"
		}
		var item map[string]attributeValue
		if err := json.Unmarshal(in[member], &item); err != nil {
			return nil, fmt.Errorf("dynamodb:%s: %s is not an item", op, member)
		}
		if v, ok := item[hashKey]; ok && v.S != nil && known {
			leading(*v.S)
		}
	case "Query":
		if v, ok := queryHashKey(in, hashKey); ok && known {
			leading(v)
		}
		if sel := str(in, "Select"); sel != "" {
			req.Context["dynamodb:Select"] = []string{sel}
		}
	case "Scan":
		if sel := str(in, "Select"); sel != "" {
			req.Context["dynamodb:Select"] = []string{sel}
		}
	case "DescribeTable":
	default:
		return nil, fmt.Errorf("dynamodb:%s is not emulated", op)
	}
	return []authorization{{req: req}}, nil
}

// dynamoDBBatch authorizes a batch call as IAM does: one request per
// table of RequestItems (named by name or ARN), on the table's ARN, whose
// dynamodb:LeadingKeys are the partition keys of every item it names, so
// that a ForAllValues condition holds only if it holds for each of them.
// A batch naming no item, or an item without a string partition key, is
// refused rather than authorized on what it does not say.
func (w Where) dynamoDBBatch(op string, in map[string]json.RawMessage) ([]authorization, error) {
	type item = map[string]attributeValue
	keysOf := map[string][]item{}
	switch op {
	case "BatchGetItem":
		var tables map[string]struct{ Keys []item }
		if err := json.Unmarshal(in["RequestItems"], &tables); err != nil {
			return nil, fmt.Errorf("dynamodb:%s: RequestItems is not a map of tables to keys", op)
		}
		for name, t := range tables {
			keysOf[name] = t.Keys
		}
	default:
		var tables map[string][]struct {
			PutRequest    *struct{ Item item }
			DeleteRequest *struct{ Key item }
		}
		if err := json.Unmarshal(in["RequestItems"], &tables); err != nil {
			return nil, fmt.Errorf("dynamodb:%s: RequestItems is not a map of tables to writes", op)
		}
		for name, writes := range tables {
			for _, wr := range writes {
				switch {
				case wr.PutRequest != nil:
					keysOf[name] = append(keysOf[name], wr.PutRequest.Item)
				case wr.DeleteRequest != nil:
					keysOf[name] = append(keysOf[name], wr.DeleteRequest.Key)
				default:
					return nil, fmt.Errorf("dynamodb:%s: a write of %s is neither a put nor a delete", op, name)
				}
			}
		}
	}
	if len(keysOf) == 0 {
		return nil, fmt.Errorf("dynamodb:%s names no table", op)
	}
	names := make([]string, 0, len(keysOf))
	for name := range keysOf {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]authorization, 0, len(names))
	for _, name := range names {
		resource, tableName := name, name
		if strings.HasPrefix(name, "arn:") {
			_, tableName, _ = strings.Cut(name, ":table/")
		} else {
			resource = w.arn("dynamodb", "table/"+name)
		}
		items := keysOf[name]
		if len(items) == 0 {
			return nil, fmt.Errorf("dynamodb:%s names no item of %s", op, name)
		}
		req := iampolicy.Request{Action: "dynamodb:" + op, Resource: resource, Context: map[string][]string{}}
		if table, known := w.Tables[tableName]; known {
			var leading []string
			for _, it := range items {
				v, ok := it[table.HashKey]
				if !ok || v.S == nil {
					return nil, fmt.Errorf("dynamodb:%s: an item of %s has no string partition key", op, name)
				}
				if !slices.Contains(leading, *v.S) {
					leading = append(leading, *v.S)
				}
			}
			req.Context["dynamodb:LeadingKeys"] = leading
		}
		out = append(out, authorization{req: req})
	}
	return out, nil
}

// keyEquality finds "<name> = :value" (or the reverse) in a key
// condition expression.
var keyEquality = regexp.MustCompile(`(#?[A-Za-z0-9_]+)\s*=\s*(:[A-Za-z0-9_]+)|(:[A-Za-z0-9_]+)\s*=\s*(#?[A-Za-z0-9_]+)`)

// queryHashKey is the partition key value a Query's key condition names.
func queryHashKey(in map[string]json.RawMessage, hashKey string) (string, bool) {
	var names map[string]string
	_ = json.Unmarshal(in["ExpressionAttributeNames"], &names)
	var vals map[string]attributeValue
	_ = json.Unmarshal(in["ExpressionAttributeValues"], &vals)
	for _, m := range keyEquality.FindAllStringSubmatch(str(in, "KeyConditionExpression"), -1) {
		name, placeholder := m[1], m[2]
		if name == "" {
			name, placeholder = m[4], m[3]
		}
		if n, ok := names[name]; ok {
			name = n
		}
		if name != hashKey {
			continue
		}
		if v, ok := vals[placeholder]; ok && v.S != nil {
			return *v.S, true
		}
	}
	var legacy map[string]struct {
		ComparisonOperator string
		AttributeValueList []attributeValue
	}
	_ = json.Unmarshal(in["KeyConditions"], &legacy)
	if c, ok := legacy[hashKey]; ok && c.ComparisonOperator == "EQ" && len(c.AttributeValueList) == 1 && c.AttributeValueList[0].S != nil {
		return *c.AttributeValueList[0].S, true
	}
	return "", false
}

// keyARN completes a KMS key id into its ARN (aliases are not resolved:
// the vault names its key by ARN, as the keyring requires).
func (w Where) keyARN(id string) string {
	if id == "" || strings.HasPrefix(id, "arn:") {
		return id
	}
	return w.arn("kms", "key/"+id)
}

func encryptionContext(in map[string]json.RawMessage, member string) map[string][]string {
	var ec map[string]string
	_ = json.Unmarshal(in[member], &ec)
	out := map[string][]string{}
	if len(ec) == 0 {
		return out
	}
	keys := make([]string, 0, len(ec))
	for k, v := range ec {
		out["kms:EncryptionContext:"+k] = []string{v}
		keys = append(keys, k)
	}
	out["kms:EncryptionContextKeys"] = keys
	return out
}

func (w Where) kms(op string, in map[string]json.RawMessage) ([]authorization, error) {
	switch op {
	case "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "DescribeKey":
		key := w.keyARN(str(in, "KeyId"))
		if key == "" {
			return nil, fmt.Errorf("kms:%s names no key", op)
		}
		return []authorization{{req: iampolicy.Request{Action: "kms:" + op, Resource: key, Context: encryptionContext(in, "EncryptionContext")}}}, nil
	case "Decrypt":
		a := authorization{req: iampolicy.Request{Action: "kms:Decrypt", Resource: w.keyARN(str(in, "KeyId")), Context: encryptionContext(in, "EncryptionContext")}}
		if a.req.Resource == "" {
			a.resourceFrom = "KeyId"
		}
		return []authorization{a}, nil
	case "ReEncrypt":
		from := authorization{req: iampolicy.Request{Action: "kms:ReEncryptFrom", Resource: w.keyARN(str(in, "SourceKeyId")), Context: encryptionContext(in, "SourceEncryptionContext")}}
		if from.req.Resource == "" {
			from.resourceFrom = "SourceKeyId"
		}
		to := authorization{req: iampolicy.Request{Action: "kms:ReEncryptTo", Resource: w.keyARN(str(in, "DestinationKeyId")), Context: encryptionContext(in, "DestinationEncryptionContext")}}
		if to.req.Resource == "" {
			return nil, fmt.Errorf("kms:ReEncrypt names no destination key")
		}
		return []authorization{from, to}, nil
	}
	return nil, fmt.Errorf("kms:%s is not emulated", op)
}

func (w Where) secretsManager(op string, in map[string]json.RawMessage) ([]authorization, error) {
	if op != "GetSecretValue" && op != "DescribeSecret" {
		return nil, fmt.Errorf("secretsmanager:%s is not emulated", op)
	}
	a := authorization{req: iampolicy.Request{Action: "secretsmanager:" + op}}
	if id := str(in, "SecretId"); strings.HasPrefix(id, "arn:") {
		a.req.Resource = id
	} else {
		// A name: IAM authorizes on the secret's full ARN, which the
		// answer names.
		a.resourceFrom = "ARN"
	}
	return []authorization{a}, nil
}

func (w Where) eventBridge(op string, in map[string]json.RawMessage) ([]authorization, error) {
	if op != "PutEvents" {
		return nil, fmt.Errorf("events:%s is not emulated", op)
	}
	var entries []struct{ Source, DetailType, EventBusName string }
	if err := json.Unmarshal(in["Entries"], &entries); err != nil || len(entries) == 0 {
		return nil, fmt.Errorf("events:PutEvents has no entries")
	}
	// Each entry is authorized on its own bus with its own source.
	var out []authorization
	for _, e := range entries {
		bus := e.EventBusName
		if bus == "" {
			bus = "default"
		}
		if !strings.HasPrefix(bus, "arn:") {
			bus = w.arn("events", "event-bus/"+bus)
		}
		ctx := map[string][]string{"events:source": {e.Source}, "events:detail-type": {e.DetailType}}
		out = append(out, authorization{req: iampolicy.Request{Action: "events:PutEvents", Resource: bus, Context: ctx}})
	}
	return out, nil
}
