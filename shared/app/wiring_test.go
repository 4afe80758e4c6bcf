package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/jobfiles"
	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/wire"
)

func components(t *testing.T) *app.Components {
	t.Helper()
	doc, err := wire.GenerateVaultKeys()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := wire.ParseVaultKeys(doc)
	if err != nil {
		t.Fatal(err)
	}
	// The job files of a process that has them (jobs, migrate): a local
	// directory; job work is never started here.
	files, err := jobfiles.NewLocal(t.TempDir(), make([]byte, 32), "http://127.0.0.1", time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return &app.Components{VaultKeys: keys, Audit: audit.Discard{}, Files: files, JobWork: app.EventJobWork{}}
}

// TestFunctionsWithFilesRefuseToStartWithout: a process without job
// files cannot serve the job routes.
func TestFunctionsWithFilesRefuseToStartWithout(t *testing.T) {
	for _, fn := range app.Functions {
		if !fn.NeedsFiles {
			continue
		}
		c := components(t)
		c.Files = nil
		if _, err := c.API(fn); err == nil || !strings.Contains(err.Error(), fn.Name) {
			t.Errorf("API(%s) without job files = %v, want a refusal naming the function", fn.Name, err)
		}
	}
}

// TestFunctionsWithoutKeysNeedNoKeyring: the functions that never
// decrypt build their routes in a process that has no keyring, and those
// that do refuse to start without one.
func TestFunctionsWithoutKeysNeedNoKeyring(t *testing.T) {
	for _, fn := range app.Functions {
		t.Run(fn.Name, func(t *testing.T) {
			c := components(t)
			_, err := c.API(fn)
			if fn.NeedsKeys {
				if err == nil || !strings.Contains(err.Error(), fn.Name) {
					t.Fatalf("API(%s) without a keyring = %v, want a refusal naming the function", fn.Name, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("API(%s) without a keyring: %v", fn.Name, err)
			}
		})
	}
}

func TestEveryFunctionBuildsWithAKeyring(t *testing.T) {
	c := components(t)
	built := 0
	c.UseKeyring(func() (envelope.Keyring, error) {
		built++
		return envelope.NewLocalKeyring(secret.New(make([]byte, envelope.MasterKeySize)))
	})
	c.Background = func(*vault.KeyLifecycle) vault.BackgroundWork { return app.EventWork{} }
	api, err := c.API(app.Functions...)
	if err != nil || api == nil {
		t.Fatalf("API of every function: %v", err)
	}
	if built != 1 {
		t.Fatalf("the keyring was built %d times, want once", built)
	}
	if _, err := c.KeyLifecycle(); err != nil {
		t.Fatal(err)
	}

	failing := components(t)
	boom := errors.New("kms unreachable")
	failing.UseKeyring(func() (envelope.Keyring, error) { return nil, boom })
	if _, err := failing.CardVault(); !errors.Is(err, boom) {
		t.Fatalf("CardVault with a failing keyring = %v", err)
	}
	if _, err := failing.SecretVault(); !errors.Is(err, boom) {
		t.Fatalf("SecretVault with a failing keyring = %v", err)
	}
	if _, err := failing.KeyLifecycle(); !errors.Is(err, boom) {
		t.Fatalf("KeyLifecycle with a failing keyring = %v", err)
	}
}

func TestFunctionNamed(t *testing.T) {
	seen := map[string]bool{}
	for _, fn := range app.Functions {
		if seen[fn.Name] {
			t.Fatalf("two functions named %s", fn.Name)
		}
		seen[fn.Name] = true
		got, err := app.FunctionNamed(fn.Name)
		if err != nil || got.Name != fn.Name {
			t.Fatalf("FunctionNamed(%s) = %v, %v", fn.Name, got.Name, err)
		}
	}
	if _, err := app.FunctionNamed("no-such-function"); err == nil {
		t.Fatal("FunctionNamed found a function that does not exist")
	}
}

// bus records PutEvents calls and answers with out (or err).
type bus struct {
	in  []*eventbridge.PutEventsInput
	out *eventbridge.PutEventsOutput
	err error
}

func (b *bus) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	b.in = append(b.in, in)
	if b.err != nil {
		return nil, b.err
	}
	return b.out, nil
}

func TestEventWorkPutsTheRequestOnTheBus(t *testing.T) {
	ctx := context.Background()
	b := &bus{out: &eventbridge.PutEventsOutput{}}
	req := vault.WorkRequest{Action: vault.ActionContinueRotation, MerchantID: "m1"}
	if err := (app.EventWork{Client: b, Bus: "vault-bus"}).Start(ctx, req); err != nil {
		t.Fatal(err)
	}
	if len(b.in) != 1 || len(b.in[0].Entries) != 1 {
		t.Fatalf("PutEvents calls: %+v", b.in)
	}
	e := b.in[0].Entries[0]
	var got vault.WorkRequest
	if err := json.Unmarshal([]byte(aws.ToString(e.Detail)), &got); err != nil || got != req {
		t.Fatalf("detail %s, %v", aws.ToString(e.Detail), err)
	}
	if aws.ToString(e.EventBusName) != "vault-bus" || aws.ToString(e.DetailType) != app.WorkDetailType || aws.ToString(e.Source) != audit.EventSource {
		t.Fatalf("entry = %+v", e)
	}
	// The default bus is named by leaving the name out.
	if err := (app.EventWork{Client: b}).Start(ctx, req); err != nil || b.in[1].Entries[0].EventBusName != nil {
		t.Fatalf("default bus: %v, %+v", err, b.in[1].Entries[0])
	}

	refused := &bus{out: &eventbridge.PutEventsOutput{FailedEntryCount: 1, Entries: []types.PutEventsResultEntry{{ErrorCode: aws.String("ThrottlingException")}}}}
	if err := (app.EventWork{Client: refused}).Start(ctx, req); err == nil || !strings.Contains(err.Error(), "ThrottlingException") {
		t.Fatalf("a refused entry = %v", err)
	}
	down := &bus{err: errors.New("bus unreachable")}
	if err := (app.EventWork{Client: down}).Start(ctx, req); err == nil {
		t.Fatal("an unreachable bus was not an error")
	}
}
