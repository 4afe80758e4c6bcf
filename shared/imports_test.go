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

// TestProductCodeImportsNoTestSupport holds every package that ships (the
// functions, the commands and what they are built from) to importing no
// test-support package from its non-test files: what a deployment or
// `make run` executes must not depend on code written for tests.
func TestProductCodeImportsNoTestSupport(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
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
		path := module + "/" + filepath.ToSlash(rel)
		if rel == "." {
			path = module
		}
		if isTestSupport(path) {
			return nil
		}
		checked++
		for _, imp := range pkg.Imports {
			if isTestSupport(imp) {
				t.Errorf("product package %s imports the test-support package %s", path, imp)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("checked only %d product packages; the walk did not find the module", checked)
	}
}
