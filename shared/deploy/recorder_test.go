package deploy_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cardvault/vault/shared/deploy"
	"github.com/cardvault/vault/shared/deploy/iampolicy"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/invoke"
	"github.com/cardvault/vault/shared/store"
)

// awsCall is one call a function made that IAM would authorise: a
// DynamoDB action on an item (its partition key) or the index, or a KMS
// action with an encryption context.
type awsCall struct {
	function string
	action   string
	index    string
	// leading are the partition keys the call names.
	leading []string
	context map[string]string
	// selects is a Query's Select parameter, when it sets one.
	selects string
}

func (c awsCall) String() string {
	s := c.function + " " + c.action
	if c.index != "" {
		s += " index " + c.index
	}
	if c.selects != "" {
		s += " select " + c.selects
	}
	if len(c.leading) > 0 {
		s += " " + strings.Join(c.leading, ",")
	}
	if c.context != nil {
		keys := make([]string, 0, len(c.context))
		for k, v := range c.context {
			keys = append(keys, k+"="+v)
		}
		sort.Strings(keys)
		s += " {" + strings.Join(keys, ",") + "}"
	}
	return s
}

// recorder collects calls, attributed by invoke.FunctionFrom. A recorder
// made by enforcingRecorder also refuses, as IAM would, every call the
// calling function's role does not allow, so that the code meets in the
// test what it would meet in AWS (a denied read is an error its caller
// must surface, not a silent "nothing to do").
type recorder struct {
	mu    sync.Mutex
	calls []awsCall
	// roles are each function's statements; nil allows everything.
	roles map[string][]deploy.Statement
}

// enforcingRecorder is a recorder holding every function to its role in
// the template.
func enforcingRecorder(t *testing.T) *recorder {
	t.Helper()
	roles := map[string][]deploy.Statement{}
	for name := range functions(t) {
		_, roles[name] = roleOf(t, name)
	}
	return &recorder{roles: roles}
}

// add records the call and returns IAM's refusal when the function's
// role does not allow it.
func (r *recorder) add(ctx context.Context, c awsCall) error {
	c.function = invoke.FunctionFrom(ctx)
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	if r.roles == nil || c.function == "" || allows(r.roles[c.function], c) {
		return nil
	}
	return fmt.Errorf("AccessDeniedException: the role of %s does not allow %s", c.function, c)
}

func (r *recorder) all() []awsCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// recordingDB records the item-level and batch calls the store makes.
type recordingDB struct {
	store.DynamoAPI
	rec *recorder
}

var _ store.DynamoAPI = recordingDB{}

func pkOf(item map[string]types.AttributeValue) []string {
	if s, ok := item["pk"].(*types.AttributeValueMemberS); ok {
		return []string{s.Value}
	}
	return nil
}

func (d recordingDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if err := d.rec.add(ctx, awsCall{action: "dynamodb:GetItem", leading: pkOf(in.Key)}); err != nil {
		return nil, err
	}
	return d.DynamoAPI.GetItem(ctx, in, opts...)
}

func (d recordingDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if err := d.rec.add(ctx, awsCall{action: "dynamodb:PutItem", leading: pkOf(in.Item)}); err != nil {
		return nil, err
	}
	return d.DynamoAPI.PutItem(ctx, in, opts...)
}

func (d recordingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if err := d.rec.add(ctx, awsCall{action: "dynamodb:UpdateItem", leading: pkOf(in.Key)}); err != nil {
		return nil, err
	}
	return d.DynamoAPI.UpdateItem(ctx, in, opts...)
}

func (d recordingDB) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	if err := d.rec.add(ctx, awsCall{action: "dynamodb:DeleteItem", leading: pkOf(in.Key)}); err != nil {
		return nil, err
	}
	return d.DynamoAPI.DeleteItem(ctx, in, opts...)
}

// batchClient is the batch part of the DynamoDB client recordingDB
// wraps: having it too, recordingDB is given the store's batch calls.
type batchClient interface {
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

var _ batchClient = recordingDB{}

// batchPKs are the distinct partition keys of a batch call's items, as
// IAM's dynamodb:LeadingKeys for it.
func batchPKs(items []map[string]types.AttributeValue) []string {
	var out []string
	for _, it := range items {
		for _, pk := range pkOf(it) {
			if !slices.Contains(out, pk) {
				out = append(out, pk)
			}
		}
	}
	return out
}

func (d recordingDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	for _, ka := range in.RequestItems {
		if err := d.rec.add(ctx, awsCall{action: "dynamodb:BatchGetItem", leading: batchPKs(ka.Keys)}); err != nil {
			return nil, err
		}
	}
	return d.DynamoAPI.(batchClient).BatchGetItem(ctx, in, opts...)
}

func (d recordingDB) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	for _, writes := range in.RequestItems {
		var items []map[string]types.AttributeValue
		for _, w := range writes {
			switch {
			case w.PutRequest != nil:
				items = append(items, w.PutRequest.Item)
			case w.DeleteRequest != nil:
				items = append(items, w.DeleteRequest.Key)
			}
		}
		if err := d.rec.add(ctx, awsCall{action: "dynamodb:BatchWriteItem", leading: batchPKs(items)}); err != nil {
			return nil, err
		}
	}
	return d.DynamoAPI.(batchClient).BatchWriteItem(ctx, in, opts...)
}

// keyCondition finds the partition key placeholder of a key condition
// ("pk = :pk AND ...").
var keyCondition = regexp.MustCompile(`^\s*#?(\w+)\s*=\s*(:\w+)`)

func (d recordingDB) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c := awsCall{action: "dynamodb:Query", index: aws.ToString(in.IndexName), selects: string(in.Select)}
	if m := keyCondition.FindStringSubmatch(aws.ToString(in.KeyConditionExpression)); m != nil {
		if s, ok := in.ExpressionAttributeValues[m[2]].(*types.AttributeValueMemberS); ok {
			c.leading = []string{s.Value}
		}
	}
	if err := d.rec.add(ctx, c); err != nil {
		return nil, err
	}
	return d.DynamoAPI.Query(ctx, in, opts...)
}

func (d recordingDB) Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	if err := d.rec.add(ctx, awsCall{action: "dynamodb:Scan", index: aws.ToString(in.IndexName)}); err != nil {
		return nil, err
	}
	return d.DynamoAPI.Scan(ctx, in, opts...)
}

// recordingKeyring records keyring calls as the KMS actions the AWS
// keyring makes for them (shared/envelope/kmskeyring).
type recordingKeyring struct {
	envelope.Keyring
	rec *recorder
}

var _ envelope.Keyring = recordingKeyring{}

// retiredMasterKeyID names a master key the configuration has moved away
// from: a wrapped key stored under it is due for re-wrapping. The local
// keyring has a single master key, so a test retires a key by renaming
// its stored master key id, and the recording keyring reads such a key
// as the current key's, the way KMS decrypts under the key a ciphertext
// names.
const retiredMasterKeyID = "arn:aws:kms:eu-west-1:123456789012:key/retired"

func (k recordingKeyring) current(w envelope.WrappedKey) envelope.WrappedKey {
	if w.MasterKeyID == retiredMasterKeyID {
		w.MasterKeyID = k.Keyring.MasterKeyID()
	}
	return w
}

func (k recordingKeyring) Wrap(ctx context.Context, key []byte, ec envelope.EncryptionContext) (envelope.WrappedKey, envelope.Call, error) {
	if err := k.rec.add(ctx, awsCall{action: "kms:Encrypt", context: ec}); err != nil {
		return envelope.WrappedKey{}, envelope.Call{}, err
	}
	return k.Keyring.Wrap(ctx, key, ec)
}

func (k recordingKeyring) Unwrap(ctx context.Context, w envelope.WrappedKey, ec envelope.EncryptionContext) ([]byte, envelope.Call, error) {
	if err := k.rec.add(ctx, awsCall{action: "kms:Decrypt", context: ec}); err != nil {
		return nil, envelope.Call{}, err
	}
	return k.Keyring.Unwrap(ctx, k.current(w), ec)
}

func (k recordingKeyring) ReWrap(ctx context.Context, w envelope.WrappedKey, ec envelope.EncryptionContext) (envelope.WrappedKey, envelope.Call, error) {
	// kms:ReEncrypt needs both halves on the key.
	for _, action := range []string{"kms:ReEncryptFrom", "kms:ReEncryptTo"} {
		if err := k.rec.add(ctx, awsCall{action: action, context: ec}); err != nil {
			return envelope.WrappedKey{}, envelope.Call{}, err
		}
	}
	return k.Keyring.ReWrap(ctx, k.current(w), ec)
}

// recorderStack is where the in-process calls are taken to happen: the
// template's resources get synthetic names and ARNs there.
var recorderStack = deploy.Stack{Name: "vault", Region: "eu-west-1", Account: "111122223333"}

// allows reports whether the statements (a role of the template) allow
// the call, evaluated by iampolicy as AWS would on the resolved policy.
func allows(stmts []deploy.Statement, c awsCall) bool {
	tpl, err := loadTemplate()
	if err != nil {
		panic(err)
	}
	standIns := deploy.SyntheticStandIns(tpl, recorderStack)
	policy, err := iampolicy.FromStatements(stmts, standIns)
	if err != nil {
		panic(err)
	}
	return policy.Evaluate(c.request(standIns)).Allowed
}

// request is the call as IAM sees it.
func (c awsCall) request(s deploy.StandIns) iampolicy.Request {
	r := iampolicy.Request{Action: c.action, Context: map[string][]string{}}
	switch {
	case strings.HasPrefix(c.action, "kms:"):
		r.Resource = s.Attrs["MerchantKeysKey.Arn"][0]
		keys := make([]string, 0, len(c.context))
		for k, v := range c.context {
			r.Context["kms:EncryptionContext:"+k] = []string{v}
			keys = append(keys, k)
		}
		if len(keys) > 0 {
			r.Context["kms:EncryptionContextKeys"] = keys
		}
	case c.index != "":
		r.Resource = s.Attrs["VaultTable.Arn"][0] + "/index/" + c.index
	default:
		r.Resource = s.Attrs["VaultTable.Arn"][0]
	}
	if len(c.leading) > 0 {
		r.Context["dynamodb:LeadingKeys"] = c.leading
	}
	if c.selects != "" {
		r.Context["dynamodb:Select"] = []string{c.selects}
	}
	return r
}
