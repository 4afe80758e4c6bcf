// Package lambdarun runs the vault's built Lambda functions the way Lambda
// runs them: each function's real bootstrap (built with the Lambda flags
// for this machine's architecture) under the AWS Lambda Runtime Interface
// Emulator (aws-lambda-rie, the program `sam local invoke` runs in its
// container), in AWS mode, with the environment template.yaml gives it,
// its intrinsics resolved to local stand-ins: local-kms for KMS, dynalite
// for DynamoDB, loopback servers for Secrets Manager and EventBridge
// (shared/awsfake), all reached through a proxy that holds every
// call to the function's IAM role in the template (shared/deploy/iamproxy).
//
// Nothing here emulates API Gateway, its IAM authorizer, Lambda's
// concurrency or scaling, or KMS key policies: docs/deploy.md says what is
// and is not emulated.
package lambdarun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// Tools pinned for local runs; the Makefile installs the same versions
// (make lambda-tools), and a test holds the two together.
const (
	RIEModule       = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
	RIEVersion      = "v0.0.0-20261030222936-bef5c4ba774d"
	LocalKMSModule  = "github.com/nsmithuk/local-kms"
	LocalKMSVersion = "v0.0.0-20260228092603-2a5e92d09ab6"
)

// Tool is one pinned program installed from the Go module proxy into
// <module root>/.tools/<name>-<version>/.
type Tool struct {
	Name, Module, Version string
}

var (
	RIE      = Tool{Name: "aws-lambda-rie", Module: RIEModule, Version: RIEVersion}
	LocalKMS = Tool{Name: "local-kms", Module: LocalKMSModule, Version: LocalKMSVersion}
)

var installMu sync.Mutex

// Path returns the tool's binary under root/.tools, installing it with
// `go install` first when it is missing (the Go module proxy serves it),
// so a fresh clone needs no step by hand.
func (t Tool) Path(ctx context.Context, root string) (string, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, ".tools", t.Name+"-"+t.Version)
	bin := filepath.Join(dir, t.Name)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	installMu.Lock()
	defer installMu.Unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	cmd := exec.CommandContext(ctx, goCommand(), "install", t.Module+"@"+t.Version) // #nosec G204 -- pinned module paths of this package
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("installing %s@%s: %v\n%s", t.Module, t.Version, err, out)
	}
	return bin, nil
}

func goCommand() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

// ModuleRoot is the directory holding go.mod, found from the working
// directory up.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("lambdarun: no go.mod above the working directory")
		}
		dir = parent
	}
}
