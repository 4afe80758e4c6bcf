// Package shared_test holds checks over the module's package layout.
package shared_test

import (
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/cardvault/vault"

// testSupport are the packages that exist for tests (and benchmarks)
// only: the loopback AWS fakes, the shared test dynalite and local vault,
// the contract suite of the ports, and the in-memory ports.
var testSupport = []string{
	module + "/shared/internal",
	module + "/shared/memstore",
}

func isTestSupport(path string) bool {
	return slices.ContainsFunc(testSupport, func(p string) bool {
		return path == p || strings.HasPrefix(path, p+"/")
	})
}

// pkgInfo is one package of the module, as go/build reads it.
type pkgInfo struct {
	path string
	pkg  *build.Package
}

// modulePackages lists the module's packages (not bench/, a module of its
// own, nor node_modules or testdata).
func modulePackages(t *testing.T) []pkgInfo {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	var pkgs []pkgInfo
	err = filepath.WalkDir(root, func(dir string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		name := d.Name()
		if dir != root && (name == "node_modules" || name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && dir != root {
			return filepath.SkipDir // another module (bench/): benchmarks, not product
		}
		pkg, err := build.ImportDir(dir, 0)
		if err != nil {
			if _, ok := err.(*build.NoGoError); ok {
				return nil
			}
			return err
		}
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			return err
		}
		path := module
		if rel != "." {
			path = module + "/" + filepath.ToSlash(rel)
		}
		pkgs = append(pkgs, pkgInfo{path: path, pkg: pkg})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 20 {
		t.Fatalf("found only %d packages; the walk did not find the module", len(pkgs))
	}
	return pkgs
}

// TestProductCodeImportsNoTestSupport holds every package that ships (the
// functions, the commands and what they are built from) to importing no
// test-support package from its non-test files: what a deployment or
// `make run` executes must not depend on code written for tests.
func TestProductCodeImportsNoTestSupport(t *testing.T) {
	for _, p := range modulePackages(t) {
		if isTestSupport(p.path) {
			continue
		}
		for _, imp := range p.pkg.Imports {
			if isTestSupport(imp) {
				t.Errorf("product package %s imports the test-support package %s", p.path, imp)
			}
		}
	}
}

// testedElsewhere are packages with logic whose tests are not beside
// them, and why.
var testedElsewhere = map[string]string{
	module + "/shared/internal/storetest": "it is a test suite: shared/store and shared/memstore run it",
}

// TestEveryPackageHasTestsBesideIt: a change to a package's logic is
// caught by the package's own tests, not only by a suite far away. Commands
// and functions (package main) are thin wiring of shared/ packages, and
// are run whole by the e2e and deploy tests.
func TestEveryPackageHasTestsBesideIt(t *testing.T) {
	for _, p := range modulePackages(t) {
		if p.pkg.Name == "main" || len(p.pkg.GoFiles) == 0 {
			continue
		}
		_, exempt := testedElsewhere[p.path]
		tested := len(p.pkg.TestGoFiles)+len(p.pkg.XTestGoFiles) > 0
		switch {
		case !tested && !exempt:
			t.Errorf("package %s has no tests beside it", p.path)
		case tested && exempt:
			t.Errorf("package %s has tests now: drop it from testedElsewhere", p.path)
		}
	}
}
