package deploy_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cardvault/vault/shared/deploy"
	"github.com/cardvault/vault/shared/invoke"
	"github.com/cardvault/vault/shared/localmode"
	"github.com/cardvault/vault/shared/store"
	"github.com/cardvault/vault/shared/vault"
)

// workVault is a vault for one work path: its invoker, and the table
// underneath for the test to age or re-label keys as time and a change of
// KMS key would.
type workVault struct {
	iv    *invoke.Invoker
	db    store.DynamoAPI
	table string
}

// newWorkVault starts a vault whose calls rec holds to their roles. With
// handOff false, work an HTTP function hands to the background is dropped
// (in AWS it is an event rotate-dek takes later), so that the path under
// test, not the handing function, does it.
func newWorkVault(t *testing.T, rec *recorder, handOff bool) *workVault {
	t.Helper()
	env := localVault(t, rec)
	iv, err := invoke.New(env.Components, filepath.Join(env.Settings.Dir, localmode.DemoClientFile))
	if err != nil {
		t.Fatal(err)
	}
	if !handOff {
		env.Components.Background = func(*vault.KeyLifecycle) vault.BackgroundWork { return droppedWork{} }
	}
	return &workVault{iv: iv, db: store.NewLocalClient(env.DynamoDBEndpoint()), table: env.Settings.Table}
}

// droppedWork is background work that never runs.
type droppedWork struct{}

var _ vault.BackgroundWork = droppedWork{}

func (droppedWork) Start(context.Context, vault.WorkRequest) error { return nil }

// http invokes an HTTP function on a sample event and wants a 2xx answer.
func (v *workVault) http(t *testing.T, function, event string) {
	t.Helper()
	v.httpEvent(t, function, readEvent(t, event))
}

func (v *workVault) httpEvent(t *testing.T, function string, event []byte) {
	t.Helper()
	res, err := v.iv.Invoke(context.Background(), function, event)
	if err != nil {
		t.Fatalf("%s: %v", function, err)
	}
	if res.HTTP.StatusCode/100 != 2 {
		t.Fatalf("%s answered %d: %s", function, res.HTTP.StatusCode, res.HTTP.Body)
	}
}

// work invokes rotate-dek on a sample event; the invocation must succeed,
// as Lambda counts a returned error as a failed invocation.
func (v *workVault) work(t *testing.T, event string) vault.WorkResult {
	t.Helper()
	res, err := v.iv.Invoke(context.Background(), "rotate-dek", readEvent(t, event))
	if err != nil {
		t.Fatalf("rotate-dek on events/%s failed: %v", event, err)
	}
	var out vault.WorkResult
	if err := json.Unmarshal(res.Output, &out); err != nil {
		t.Fatalf("rotate-dek returned %s: %v", res.Output, err)
	}
	return out
}

// cardAndSecret gives the demo merchant two records under its first key.
func (v *workVault) cardAndSecret(t *testing.T) {
	t.Helper()
	v.http(t, "vault-card", "vault-card.json")
	v.http(t, "put-secret", "put-secret.json")
}

// setKeyVersions sets one attribute on every stored merchant key version,
// behind the recorders (it is the test's doing, not a function's).
func (v *workVault) setKeyVersions(t *testing.T, attr string, value types.AttributeValue) {
	t.Helper()
	ctx := context.Background()
	out, err := v.db.Scan(ctx, &dynamodb.ScanInput{
		TableName:                 aws.String(v.table),
		FilterExpression:          aws.String("begins_with(pk, :k) AND begins_with(sk, :v)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":k": &types.AttributeValueMemberS{Value: "MKEY#"}, ":v": &types.AttributeValueMemberS{Value: "V#0"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) == 0 {
		t.Fatal("no merchant key versions stored")
	}
	for _, item := range out.Items {
		_, err := v.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(v.table),
			Key:                       map[string]types.AttributeValue{"pk": item["pk"], "sk": item["sk"]},
			UpdateExpression:          aws.String("SET #a = :v"),
			ExpressionAttributeNames:  map[string]string{"#a": attr},
			ExpressionAttributeValues: map[string]types.AttributeValue{":v": value},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// withoutSetup is a sample HTTP event without its x-vault-setup steps.
func withoutSetup(t *testing.T, event string) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(readEvent(t, event), &ev); err != nil {
		t.Fatal(err)
	}
	delete(ev, "x-vault-setup")
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// workPaths are the paths rotate-dek and merchant-keys take in AWS, each
// from the state that makes the path do its work (a path that finds
// nothing to do proves nothing about the role).
var workPaths = []struct {
	name string
	// handOff runs the work HTTP functions hand to the background inline,
	// as rotate-dek.
	handOff bool
	run     func(t *testing.T, v *workVault)
}{
	{
		name: "scheduled rotation of a key older than max_age_days",
		run: func(t *testing.T, v *workVault) {
			v.cardAndSecret(t)
			v.setKeyVersions(t, "created_at", &types.AttributeValueMemberS{Value: time.Now().AddDate(0, 0, -91).UTC().Format(time.RFC3339Nano)})
			if got := v.work(t, "rotate-dek.json"); got.Rotated != 1 {
				t.Errorf("rotated %d merchants, want the due one: %+v", got.Rotated, got)
			}
		},
	},
	{
		name: "scheduled rotation of a key sealing more than max_records",
		run: func(t *testing.T, v *workVault) {
			v.cardAndSecret(t)
			if got := v.work(t, "rotate-dek-due.json"); got.Rotated != 1 {
				t.Errorf("rotated %d merchants, want the due one: %+v", got.Rotated, got)
			}
		},
	},
	{
		name: "forced rotation",
		run: func(t *testing.T, v *workVault) {
			v.cardAndSecret(t)
			if got := v.work(t, "rotate-dek-force.json"); got.Rotated != 1 {
				t.Errorf("rotated %d merchants, want every one: %+v", got.Rotated, got)
			}
		},
	},
	{
		name: "continuation re-encrypts and destroys the old version",
		run: func(t *testing.T, v *workVault) {
			v.cardAndSecret(t)
			if got := v.work(t, "rotate-dek-force.json"); got.Rotated != 1 {
				t.Fatalf("forced rotation: %+v", got)
			}
			if got := v.work(t, "rotate-dek-continue.json"); !got.Done {
				t.Errorf("continuation did not finish: %+v", got)
			}
		},
	},
	{
		name: "scheduled run resumes a running rotation",
		run: func(t *testing.T, v *workVault) {
			v.cardAndSecret(t)
			v.http(t, "merchant-keys", "merchant-keys-rotate.json")
			if got := v.work(t, "rotate-dek.json"); got.Merchants != 1 {
				t.Errorf("the run tended %d merchants: %+v", got.Merchants, got)
			}
		},
	},
	{
		name: "re-wrap under a new KMS key",
		run: func(t *testing.T, v *workVault) {
			v.cardAndSecret(t)
			v.setKeyVersions(t, "master_key_id", &types.AttributeValueMemberS{Value: retiredMasterKeyID})
			if got := v.work(t, "rotate-dek-rewrap.json"); got.ReWrapped != 1 {
				t.Errorf("re-wrapped %d key versions, want 1: %+v", got.ReWrapped, got)
			}
		},
	},
	{
		name: "scheduled run re-wraps",
		run: func(t *testing.T, v *workVault) {
			v.cardAndSecret(t)
			v.setKeyVersions(t, "master_key_id", &types.AttributeValueMemberS{Value: retiredMasterKeyID})
			if got := v.work(t, "rotate-dek.json"); got.ReWrapped != 1 {
				t.Errorf("re-wrapped %d key versions, want 1: %+v", got.ReWrapped, got)
			}
		},
	},
	{
		name: "purge of a shredded merchant",
		run: func(t *testing.T, v *workVault) {
			v.cardAndSecret(t)
			v.httpEvent(t, "merchant-keys", withoutSetup(t, "merchant-keys-shred.json"))
			// The scheduled run finds the shredded merchant and hands its
			// purge on; the purge event does it.
			v.work(t, "rotate-dek.json")
			if got := v.work(t, "rotate-dek-purge.json"); got.Purged != 2 || !got.Done {
				t.Errorf("purged %d records, want the card and the secret: %+v", got.Purged, got)
			}
		},
	},
	{
		name:    "merchant-keys: rotate_keys with inline re-encryption, get_keys, shred with inline purge",
		handOff: true,
		run: func(t *testing.T, v *workVault) {
			v.cardAndSecret(t)
			v.http(t, "merchant-keys", "merchant-keys-rotate.json")
			v.http(t, "merchant-keys", "merchant-keys.json")
			v.http(t, "merchant-keys", "merchant-keys-shred.json")
		},
	},
	{
		name:    "merchant-keys: rotate_keys of a merchant without keys makes its first",
		handOff: true,
		run: func(t *testing.T, v *workVault) {
			v.httpEvent(t, "merchant-keys", withoutSetup(t, "merchant-keys-rotate.json"))
		},
	},
}

// TestEveryWorkPathStaysWithinItsRole runs every path of the key work
// with each function held to its role in the template: a call the role
// does not allow is refused as IAM would refuse it, fails the work, and
// is reported.
func TestEveryWorkPathStaysWithinItsRole(t *testing.T) {
	rec := enforcingRecorder(t)
	for _, p := range workPaths {
		t.Run(strings.ReplaceAll(p.name, " ", "_"), func(t *testing.T) {
			p.run(t, newWorkVault(t, rec, p.handOff))
		})
	}
	seen := map[string]bool{}
	for _, c := range rec.all() {
		seen[c.function] = true
		if c.function == "" {
			t.Errorf("call outside any function: %s", c)
		} else if !allows(rec.roles[c.function], c) {
			t.Errorf("the template's role for %s does not allow a call it makes: %s", c.function, c)
		}
	}
	for _, fn := range []string{"rotate-dek", "merchant-keys"} {
		if !seen[fn] {
			t.Errorf("no call of %s was recorded", fn)
		}
	}
}

// TestAMerchantThatFailsToRotateFailsTheRun holds rotate-dek to a role
// without kms:Encrypt, so that a due merchant's new key cannot be made:
// the run tends the other merchants, then fails naming how many failed,
// so that Lambda counts an error (the RotateDekErrors alarm) and retries.
func TestAMerchantThatFailsToRotateFailsTheRun(t *testing.T) {
	rec := enforcingRecorder(t)
	var narrowed []deploy.Statement
	for _, st := range rec.roles["rotate-dek"] {
		st.Actions = slices.DeleteFunc(slices.Clone(st.Actions), func(a string) bool { return a == "kms:Encrypt" })
		narrowed = append(narrowed, st)
	}
	rec.roles["rotate-dek"] = narrowed
	v := newWorkVault(t, rec, false)
	v.cardAndSecret(t)
	_, err := v.iv.Invoke(context.Background(), "rotate-dek", readEvent(t, "rotate-dek-force.json"))
	if !errors.Is(err, vault.ErrMerchantWorkFailed) || !strings.Contains(err.Error(), "1 of 1 merchants") {
		t.Fatalf("rotate-dek with a merchant it cannot rotate returned %v, want %v naming 1 of 1 merchants", err, vault.ErrMerchantWorkFailed)
	}
}
