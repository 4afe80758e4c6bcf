package invoke

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/vault"
)

// The full runs of Run, Invoke and RunWork against local backends are in
// shared/deploy (invoke_test.go); these are the refusals that need none.

func TestRunRefusesBadUsage(t *testing.T) {
	event := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(event, []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) string { return "" }
	badEnv := func(name string) string {
		if name == "VAULT_KEY_CACHE_TTL" {
			return "soon"
		}
		return ""
	}
	for name, tc := range map[string]struct {
		args   []string
		getenv func(string) string
		says   string
	}{
		"no function":       {nil, noEnv, "usage:"},
		"unknown flag":      {[]string{"--fn", "jwks"}, noEnv, "usage:"},
		"extra arguments":   {[]string{"--function", "jwks", "extra"}, noEnv, "usage:"},
		"missing event":     {[]string{"--function", "jwks", "--event", filepath.Join(t.TempDir(), "none.json")}, noEnv, "none.json"},
		"bad configuration": {[]string{"--function", "jwks", "--event", event}, badEnv, "VAULT_KEY_CACHE_TTL"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := Run(context.Background(), tc.args, &stdout, &stderr, tc.getenv); code != ExitUsage {
				t.Fatalf("exit %d, want %d (stderr %q)", code, ExitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.says) || stdout.Len() != 0 {
				t.Fatalf("stderr %q lacks %q, or stdout got %q", stderr.String(), tc.says, stdout.String())
			}
		})
	}
}

func TestFunctionTravelsInTheContext(t *testing.T) {
	ctx := context.Background()
	if got := FunctionFrom(ctx); got != "" {
		t.Fatalf("FunctionFrom of a bare context = %q", got)
	}
	if got := FunctionFrom(WithFunction(ctx, "vault-card")); got != "vault-card" {
		t.Fatalf("FunctionFrom = %q", got)
	}
}

// TestWorkHandedOnByRotateDEKWaitsForTheSchedule: work that rotate-dek
// itself hands on is not run again inline (in AWS it would be a new
// invocation; locally the next scheduled run resumes it).
func TestWorkHandedOnByRotateDEKWaitsForTheSchedule(t *testing.T) {
	w := workAsRotateDEK{logger: slog.New(slog.DiscardHandler)} // no lifecycle: running it would panic
	ctx := WithFunction(context.Background(), app.RotateDEK.Name)
	if err := w.Start(ctx, vault.WorkRequest{Action: vault.ActionContinueRotation, MerchantID: "m1"}); err != nil {
		t.Fatal(err)
	}
}

func TestRunWorkRefusesWhatIsNotAWorkRequest(t *testing.T) {
	if _, err := RunWork(context.Background(), &app.Components{}, []byte(`["rotate"]`)); err == nil {
		t.Fatal("RunWork accepted a JSON array")
	}
	if _, err := RunWork(context.Background(), &app.Components{}, []byte(`{"action":"rotate-due"}`)); err == nil {
		t.Fatal("RunWork ran without a keyring")
	}
}
