package dynalite

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// EnvCLI names the environment variable that may point at dynalite's
// cli.js, for checkouts whose node_modules is elsewhere.
const EnvCLI = "VAULT_DYNALITE"

// cliRelPath is where npm installs dynalite's entry point under a
// directory holding node_modules.
var cliRelPath = filepath.Join("node_modules", "dynalite", "cli.js")

// fixHint tells a developer how to get dynalite; every "not found" error
// ends with it.
const fixHint = "run `npm ci` at the repository root (it installs dynalite from package.json), or set " + EnvCLI + " to the path of dynalite's cli.js"

// locateCLI finds dynalite's cli.js: $VAULT_DYNALITE if set, else the
// first node_modules/dynalite/cli.js found walking up from the working
// directory (tests run in their package directory, deep below the root).
func locateCLI() (string, error) {
	if p := os.Getenv(EnvCLI); p != "" {
		if _, err := os.Stat(p); err != nil { // #nosec G703 -- candidate paths of the operator's own node install, only stat'ed
			return "", fmt.Errorf("dynalite: %s=%q does not name a readable file (%v); %s", EnvCLI, p, err, fixHint)
		}
		return p, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("dynalite: cannot read the working directory: %w", err)
	}
	for dir := wd; ; {
		candidate := filepath.Join(dir, cliRelPath)
		if _, err := os.Stat(candidate); err == nil {
			return candidate, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("dynalite: %s not found in %s or any parent directory; %s", cliRelPath, wd, fixHint)
		}
		dir = parent
	}
}

// locateNode finds the node executable.
func locateNode() (string, error) {
	p, err := exec.LookPath("node")
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", errors.New("dynalite: the node executable is not on PATH; install Node.js 18 or later, then " + fixHint)
		}
		return "", fmt.Errorf("dynalite: looking up node: %w", err)
	}
	return p, nil
}
