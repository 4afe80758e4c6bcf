package lambdarun

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
)

// LambdaBuildFlags are the Makefile's LAMBDA_FLAGS (static, no RPC shim
// for provided.al2023, reproducible); a test holds the two together.
var LambdaBuildFlags = []string{"-trimpath", "-tags", "lambda.norpc", "-ldflags", "-s -w"}

// Build builds functions/<name> for every name into outDir/<name>/bootstrap,
// for linux on this machine's architecture (the deployment build is
// arm64; the emulator runs what this machine can execute), at most two at
// a time. It returns the bootstrap paths by name.
func Build(ctx context.Context, root, outDir string, names []string) (map[string]string, error) {
	out := make(map[string]string, len(names))
	errs := make([]error, len(names))
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for i, name := range names {
		path := filepath.Join(outDir, name, "bootstrap")
		out[name] = path
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			args := append([]string{"build"}, LambdaBuildFlags...)
			args = append(args, "-o", path, "./functions/"+name)
			cmd := exec.CommandContext(ctx, goCommand(), args...) // #nosec G204 -- function directories of this module
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+runtime.GOARCH, "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("building %s: %v\n%s", name, err, b)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
