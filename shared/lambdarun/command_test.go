package lambdarun_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cardvault/vault/shared/lambdarun"
)

// TestInvokeCommandAnswersTheSampleEvent is `make invoke FN=vault-card`:
// the sample event, signed afresh, through the built bootstrap under
// aws-lambda-rie, every call within the role.
func TestInvokeCommandAnswersTheSampleEvent(t *testing.T) {
	dynaliteForCommand(t)
	var stdout, stderr bytes.Buffer
	code := lambdarun.RunInvoke(context.Background(),
		[]string{"--function", "vault-card", "--event", filepath.Join(root, "events", "vault-card.json")}, &stdout, &stderr)
	if code != lambdarun.ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	var resp struct {
		StatusCode int    `json:"statusCode"`
		Body       string `json:"body"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &resp); err != nil || resp.StatusCode != 201 || !strings.Contains(resp.Body, `"token":"tok_`) {
		t.Fatalf("vault-card answered %s (%v)", stdout.String(), err)
	}
	if !strings.Contains(stderr.String(), "allowed kms:Encrypt") {
		t.Errorf("the report does not show the calls:\n%s", stderr.String())
	}
	if strings.Contains(stdout.String()+stderr.String(), "4111 1111 1111 1111") || strings.Contains(stdout.String()+stderr.String(), "4111111111111111") {
		t.Error("the card number reached the output")
	}
	if code := lambdarun.RunInvoke(context.Background(), []string{"--event", "x.json"}, &stdout, &stderr); code != lambdarun.ExitUsage {
		t.Errorf("no --function: exit %d", code)
	}
}

// dynaliteForCommand makes sure dynalite can start (the command starts
// its own, in memory), so a missing npm install fails here plainly.
func dynaliteForCommand(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(root, "node_modules", "dynalite", "cli.js")); err != nil {
		t.Fatalf("dynalite is not installed (make deps): %v", err)
	}
}

// TestPinsMatchTheMakefile: the tools and build flags the suite uses are
// the ones the Makefile installs and deploys with.
func TestPinsMatchTheMakefile(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	value := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + `\s*\??:?=\s*(.*)$`).FindSubmatch(mk)
		if m == nil {
			t.Fatalf("the Makefile sets no %s", name)
		}
		return strings.TrimSpace(string(m[1]))
	}
	if got := value("RIE_VERSION"); got != lambdarun.RIEVersion {
		t.Errorf("Makefile RIE_VERSION %s, lambdarun %s", got, lambdarun.RIEVersion)
	}
	if got := value("LOCAL_KMS_VERSION"); got != lambdarun.LocalKMSVersion {
		t.Errorf("Makefile LOCAL_KMS_VERSION %s, lambdarun %s", got, lambdarun.LocalKMSVersion)
	}
	want := `-trimpath -tags lambda.norpc -ldflags "-s -w"`
	if got := value("LAMBDA_FLAGS"); got != want || strings.Join(lambdarun.LambdaBuildFlags[:4], " ")+` "`+lambdarun.LambdaBuildFlags[4]+`"` != want {
		t.Errorf("Makefile LAMBDA_FLAGS %s, lambdarun %q", got, lambdarun.LambdaBuildFlags)
	}
}
