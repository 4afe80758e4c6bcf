package deploy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/deploy"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/jobfiles"
	"github.com/cardvault/vault/shared/wire"
)

// repoRoot is the module root, two levels above this package.
const repoRoot = "../.."

// contractRoutes are every route of the wire contract: the eleven
// operations of v1, list_cards' two routes, the public keys and the health
// check.
var contractRoutes = []string{
	"POST /v1/cards",
	"GET /v1/cards/{token}",
	"POST /v1/cards/{token}/reveal",
	"DELETE /v1/cards/{token}",
	"PUT /v1/merchants/{merchant_id}/secrets/{name}",
	"GET /v1/merchants/{merchant_id}/secrets/{name}",
	"POST /v1/merchants/{merchant_id}/secrets/{name}/reveal",
	"DELETE /v1/merchants/{merchant_id}/secrets/{name}",
	"POST /v1/merchants/{merchant_id}/keys/rotate",
	"GET /v1/merchants/{merchant_id}/keys",
	"DELETE /v1/merchants/{merchant_id}",
	"GET /v1/merchants/{merchant_id}/customers/{customer_id}/cards",
	"GET /v1/merchants/{merchant_id}/fingerprints/{fingerprint}/cards",
	"GET /v1/jwks",
	"GET /v1/health",
	// Contract v1.1.
	"POST /v1/forward",
	// v1.1 migration.
	"GET /v1/import-key",
	"POST /v1/merchants/{merchant_id}/imports",
	"POST /v1/merchants/{merchant_id}/exports",
	"GET /v1/merchants/{merchant_id}/jobs/{job_id}",
}

// unauthenticatedRoutes are the routes the contract leaves open.
var unauthenticatedRoutes = []string{"GET /v1/jwks", "GET /v1/health", "GET /v1/import-key"}

// functionSpec is what the template must give one function.
type functionSpec struct {
	http           bool
	needsKeys      bool
	needsVaultJWKS bool
	needsClients   bool
	// needsDestinations: the function reads the forward destinations.
	needsDestinations bool
	// needsFiles: the function uses the job files bucket; needsImportKey
	// and needsImportPublicKey: it reads the import key ring or its
	// published half.
	needsFiles, needsImportKey, needsImportPublicKey bool
	routes                                           []string
}

// functions lists every function the template must declare, by name: the
// directories under functions/, with their flags (app.Functions, and
// app.RotateDEK for the one function that is not HTTP) and routes. It is
// worked out once per test binary.
func functions(t *testing.T) map[string]functionSpec {
	t.Helper()
	specs, err := functionSpecs()
	if err != nil {
		t.Fatal(err)
	}
	return specs
}

var functionSpecs = sync.OnceValues(func() (map[string]functionSpec, error) {
	entries, err := os.ReadDir(filepath.Join(repoRoot, "functions"))
	if err != nil {
		return nil, err
	}
	out := map[string]functionSpec{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		fn, err := app.FunctionNamed(name)
		switch {
		case err == nil:
			if out[name], err = specOf(fn); err != nil {
				return nil, err
			}
		case name == app.RotateDEK.Name:
			out[name] = functionSpec{needsKeys: app.RotateDEK.NeedsKeys, needsVaultJWKS: app.RotateDEK.NeedsVaultJWKS, needsClients: app.RotateDEK.NeedsClients}
		case name == app.Migrate.Name:
			m := app.Migrate
			out[name] = functionSpec{needsKeys: m.NeedsKeys, needsVaultJWKS: m.NeedsVaultJWKS, needsClients: m.NeedsClients,
				needsFiles: m.NeedsFiles, needsImportKey: m.NeedsImportKey, needsImportPublicKey: m.NeedsImportPublicKey}
		default:
			return nil, fmt.Errorf("functions/%s has no app.Functions entry and is not a known non-HTTP function", name)
		}
	}
	return out, nil
})

func specOf(fn app.Function) (functionSpec, error) {
	c, err := routeComponents()
	if err != nil {
		return functionSpec{}, err
	}
	routes, err := fn.Routes(c)
	if err != nil {
		return functionSpec{}, fmt.Errorf("%s: routes: %v", fn.Name, err)
	}
	spec := functionSpec{http: true, needsKeys: fn.NeedsKeys, needsVaultJWKS: fn.NeedsVaultJWKS, needsClients: fn.NeedsClients, needsDestinations: fn.NeedsDestinations,
		needsFiles: fn.NeedsFiles, needsImportKey: fn.NeedsImportKey, needsImportPublicKey: fn.NeedsImportPublicKey}
	authenticates := false
	for _, r := range routes {
		spec.routes = append(spec.routes, r.Key())
		if !slices.Contains(unauthenticatedRoutes, r.Key()) {
			authenticates = true
		}
	}
	// The registry is read exactly by the functions with a route that
	// authenticates its caller.
	if authenticates != fn.NeedsClients {
		return functionSpec{}, fmt.Errorf("%s: NeedsClients = %v, but a route that authenticates: %v", fn.Name, fn.NeedsClients, authenticates)
	}
	sort.Strings(spec.routes)
	return spec, nil
}

// routeComponents are components good enough to list a function's routes
// (nothing is called through them).
var routeComponents = sync.OnceValues(func() (*app.Components, error) {
	doc, err := wire.GenerateVaultKeys()
	if err != nil {
		return nil, err
	}
	keys, err := wire.ParseVaultKeys(doc)
	if err != nil {
		return nil, err
	}
	files, err := jobfiles.NewLocal(filepath.Join(os.TempDir(), "deploy-routes-"+fmt.Sprint(os.Getpid())), make([]byte, 32), "http://127.0.0.1", time.Now)
	if err != nil {
		return nil, err
	}
	c := &app.Components{VaultKeys: keys, Now: time.Now, Files: files, JobWork: refusingWork{}}
	c.UseKeyring(func() (envelope.Keyring, error) { return refusingKeyring{}, nil })
	return c, nil
})

// refusingWork stands in where no job is ever started.
type refusingWork struct{}

func (refusingWork) StartJob(context.Context, string) error { return errRefused }

// refusingKeyring stands in where no key is ever used.
type refusingKeyring struct{}

var _ envelope.Keyring = refusingKeyring{}

func (refusingKeyring) Wrap(context.Context, []byte, envelope.EncryptionContext) (envelope.WrappedKey, envelope.Call, error) {
	return envelope.WrappedKey{}, envelope.Call{}, errRefused
}
func (refusingKeyring) Unwrap(context.Context, envelope.WrappedKey, envelope.EncryptionContext) ([]byte, envelope.Call, error) {
	return nil, envelope.Call{}, errRefused
}
func (refusingKeyring) ReWrap(context.Context, envelope.WrappedKey, envelope.EncryptionContext) (envelope.WrappedKey, envelope.Call, error) {
	return envelope.WrappedKey{}, envelope.Call{}, errRefused
}
func (refusingKeyring) MasterKeyID() string { return "refusing" }

type constError string

func (e constError) Error() string { return string(e) }

const errRefused = constError("no keyring in this test")

// template is the repository's template.yaml, parsed once.
func template(t *testing.T) *deploy.Template {
	t.Helper()
	tpl, err := loadTemplate()
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

var loadTemplate = sync.OnceValues(func() (*deploy.Template, error) {
	return deploy.Load(filepath.Join(repoRoot, "template.yaml"))
})

// functionResource returns the function's resource, failing the test if
// it is missing.
func functionResource(t *testing.T, name string) deploy.Resource {
	t.Helper()
	id := deploy.FunctionLogicalID(name)
	r, ok := template(t).Resources[id]
	if !ok || r.Type != deploy.TypeFunction {
		t.Fatalf("template has no %s resource %s (for functions/%s)", deploy.TypeFunction, id, name)
	}
	return r
}

// roleOf returns the logical id and statements of a function's role.
func roleOf(t *testing.T, name string) (string, []deploy.Statement) {
	t.Helper()
	fn := functionResource(t, name)
	id, attr, ok := deploy.GetAttTarget(fn.Prop("Role"))
	if !ok || attr != "Arn" {
		t.Fatalf("%s: Role must be !GetAtt <its own role>.Arn, is %v", name, fn.Prop("Role"))
	}
	role, ok := template(t).Resources[id]
	if !ok || role.Type != deploy.TypeRole {
		t.Fatalf("%s: role %s is not an %s of the template", name, id, deploy.TypeRole)
	}
	stmts, err := deploy.RoleStatements(id, role)
	if err != nil {
		t.Fatal(err)
	}
	return id, stmts
}

// env is the function's environment: Globals merged with its own, as SAM
// merges them.
func env(t *testing.T, name string) map[string]any {
	t.Helper()
	out := map[string]any{}
	global, _ := template(t).FunctionGlobal("Environment").(map[string]any)
	vars, _ := global["Variables"].(map[string]any)
	for k, v := range vars {
		out[k] = v
	}
	own, _ := functionResource(t, name).Prop("Environment", "Variables").(map[string]any)
	for k, v := range own {
		out[k] = v
	}
	return out
}

// fnProp is a function property, falling back to Globals.Function.
func fnProp(t *testing.T, name, prop string) any {
	t.Helper()
	if v := functionResource(t, name).Prop(prop); v != nil {
		return v
	}
	return template(t).FunctionGlobal(prop)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
