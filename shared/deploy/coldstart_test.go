package deploy_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/awsfake"
	"github.com/cardvault/vault/shared/config"
	"github.com/cardvault/vault/shared/deploy"
)

// appFunction is the app.Function of a functions/ directory.
func appFunction(t *testing.T, name string) app.Function {
	t.Helper()
	switch name {
	case app.RotateDEK.Name:
		return app.RotateDEK
	case app.Migrate.Name:
		return app.Migrate
	}
	fn, err := app.FunctionNamed(name)
	if err != nil {
		t.Fatal(err)
	}
	return fn
}

// TestEveryFunctionRefusesThePlaceholderSecretsAtColdStart loads each
// function's secrets as its cold start does (app.LoadSecrets, through the
// SDK, from a loopback Secrets Manager holding the template's placeholder
// SecretStrings), with the *_SECRET_ARN variables the template gives it:
// every function that reads a secret must fail, naming the variable and
// the secret, instead of starting to answer 401 or 5xx without saying why.
func TestEveryFunctionRefusesThePlaceholderSecretsAtColdStart(t *testing.T) {
	tpl := template(t)
	sm := awsfake.NewSecretsManager(t)
	arns := map[string]string{}
	for id, r := range tpl.OfType("AWS::SecretsManager::Secret") {
		placeholder, ok := r.Prop("SecretString").(string)
		if !ok {
			t.Fatalf("%s: no SecretString placeholder", id)
		}
		arns[id] = sm.Put(id, placeholder)
	}
	for _, name := range sortedKeys(functions(t)) {
		t.Run(name, func(t *testing.T) {
			vars := map[string]string{}
			var reads []string
			for k, v := range env(t, name) {
				if !strings.HasSuffix(k, config.SuffixSecretARN) {
					continue
				}
				id, ok := deploy.RefTarget(v)
				if !ok || arns[id] == "" {
					t.Fatalf("%s = %v, not !Ref of a secret of the template", k, v)
				}
				vars[k] = arns[id]
				reads = append(reads, strings.TrimSuffix(k, config.SuffixSecretARN))
			}
			loader := &config.Loader{
				Getenv:  func(k string) string { return vars[k] },
				Secrets: awsfake.NewSecretsManagerClient(t, sm.URL),
			}
			_, _, err := app.LoadSecrets(context.Background(), appFunction(t, name), loader)
			if len(reads) == 0 {
				if err != nil {
					t.Fatalf("%s reads no secret, yet failed: %v", name, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("%s started on the placeholder secrets %v", name, reads)
			}
			// The first secret the function reads is the one named.
			named := false
			for _, variable := range reads {
				if strings.Contains(err.Error(), variable+" (secret "+vars[variable+config.SuffixSecretARN]) {
					named = true
				}
			}
			if !named {
				t.Errorf("%s: cold start error %q names none of %v with its secret ARN", name, err, reads)
			}
		})
	}
}

// TestAnEmptyRegistryIsRefusedAndAFullOneAccepted: the registry check is
// on emptiness, not on the document's shape.
func TestAnEmptyRegistryIsRefusedAndAFullOneAccepted(t *testing.T) {
	sm := awsfake.NewSecretsManager(t)
	fn, err := app.FunctionNamed("get-masked")
	if err != nil {
		t.Fatal(err)
	}
	load := func(doc string) error {
		arn := sm.Put("registry", doc)
		loader := &config.Loader{
			Getenv:  func(k string) string { return map[string]string{app.ClientsName + config.SuffixSecretARN: arn}[k] },
			Secrets: awsfake.NewSecretsManagerClient(t, sm.URL),
		}
		_, _, err := app.LoadSecrets(context.Background(), fn, loader)
		return err
	}
	err = load(`{"clients":[]}`)
	if err == nil || !strings.Contains(err.Error(), app.ClientsName) || !strings.Contains(err.Error(), "arn:aws:secretsmanager:") {
		t.Errorf("empty registry: %v, want a refusal naming %s and the secret", err, app.ClientsName)
	}
	if err := load(string(demoRegistry(t))); err != nil {
		t.Errorf("a registry with a client was refused: %v", err)
	}
}

// demoRegistry is local mode's registry: one client, the demo one.
func demoRegistry(t *testing.T) []byte {
	t.Helper()
	env := localVault(t, &recorder{})
	doc, err := os.ReadFile(env.Settings.ClientsFile)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}
