package app_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/app/bucket"
	"github.com/cardvault/vault/shared/app/destinations"
	"github.com/cardvault/vault/shared/app/importkeys"
)

const module = "github.com/cardvault/vault/shared/app"

// functionVars are the Function variables a main may name.
var functionVars = map[string]app.Function{
	"VaultCard": app.VaultCard, "GetMasked": app.GetMasked, "RevealCard": app.RevealCard, "DeleteCard": app.DeleteCard,
	"PutSecret": app.PutSecret, "RevealSecret": app.RevealSecret, "SecretMetadata": app.SecretMetadata,
	"MerchantKeys": app.MerchantKeys, "Forward": app.Forward, "JWKS": app.JWKS, "Jobs": app.Jobs,
}

// parts are the parts a main may name, by package and name.
var parts = map[string]app.Part{
	module + "/bucket.Files":         bucket.Files,
	module + "/importkeys.Ring":      importkeys.Ring,
	module + "/importkeys.PublicKey": importkeys.PublicKey,
	module + "/destinations.Forward": destinations.Forward,
}

// TestEveryMainNamesItsFunctionAndTheParts its flags ask for: each
// functions/<name>/main.go names the Function called <name> (the HTTP
// ones through app.RunLambda) and exactly the parts whose flags that
// function has, so that no bootstrap fails its cold start for a missing
// part, links a part it may not use, or serves another function's routes.
func TestEveryMainNamesItsFunctionAndTheParts(t *testing.T) {
	dirs, err := os.ReadDir(filepath.Join("..", "..", "functions"))
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		name := d.Name()
		t.Run(name, func(t *testing.T) {
			refs := mainReferences(t, filepath.Join("..", "..", "functions", name, "main.go"))
			var fn app.Function
			switch {
			case refs[module+".RunWorker"]:
				fn = app.RotateDEK
			case refs[module+"/migrateworker.Run"]:
				fn = app.Migrate
			case refs[module+".RunLambda"]:
				for ref := range refs {
					if pkg, id := splitRef(ref); pkg == module {
						if f, ok := functionVars[id]; ok {
							if fn.Name != "" {
								t.Fatalf("names two functions, %s and %s", fn.Name, f.Name)
							}
							fn = f
						}
					}
				}
			default:
				t.Fatal("calls none of app.RunLambda, app.RunWorker, migrateworker.Run")
			}
			if fn.Name != name {
				t.Fatalf("serves function %q", fn.Name)
			}
			served[name] = true
			for ref := range refs {
				if p, ok := parts[ref]; ok {
					if !p.For(fn) {
						t.Errorf("names the %s, which its flags do not ask for", p.Name)
					}
				}
			}
			// What each optional flag needs, by the part that loads it.
			need := map[string]bool{
				"bucket.Files":         fn.NeedsFiles,
				"importkeys.Ring":      fn.NeedsImportKey,
				"importkeys.PublicKey": fn.NeedsImportPublicKey,
				"destinations.Forward": fn.NeedsDestinations,
			}
			for part, needed := range need {
				if needed && !refs[module+"/"+part] {
					t.Errorf("its flags ask for %s, which its main does not name", part)
				}
			}
		})
	}
	for _, fn := range app.Functions {
		if !served[fn.Name] {
			t.Errorf("no functions/%s/main.go serves %s", fn.Name, fn.Name)
		}
	}
}

// mainReferences lists the package-level identifiers main.go names, as
// "import/path.Name".
func mainReferences(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	imports := map[string]string{}
	for _, spec := range f.Imports {
		p, err := strconv.Unquote(spec.Path.Value)
		if err != nil {
			t.Fatal(err)
		}
		local := filepath.Base(p)
		if spec.Name != nil {
			local = spec.Name.Name
		}
		imports[local] = p
	}
	refs := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if x, ok := sel.X.(*ast.Ident); ok && imports[x.Name] != "" {
				refs[imports[x.Name]+"."+sel.Sel.Name] = true
			}
		}
		return true
	})
	return refs
}

func splitRef(ref string) (pkg, id string) {
	for i := len(ref) - 1; i >= 0; i-- {
		if ref[i] == '.' {
			return ref[:i], ref[i+1:]
		}
	}
	return "", ref
}
