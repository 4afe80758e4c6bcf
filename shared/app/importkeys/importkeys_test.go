package importkeys

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/config"
	"github.com/cardvault/vault/shared/pgpfile"
)

// envWith is the part's environment: name read from a file holding doc.
func envWith(t *testing.T, fn app.Function, name string, doc []byte) *app.AWSEnv {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.asc")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{name + config.SuffixFile: path}
	return &app.AWSEnv{Function: fn, Loader: &config.Loader{Getenv: func(k string) string { return vars[k] }}}
}

// TestThePartsLoadTheRingAndItsPublishedHalfOnly: the migrate worker's
// part holds the private ring, the jwks function's the public half; each
// refuses the other's document, naming the variable.
func TestThePartsLoadTheRingAndItsPublishedHalfOnly(t *testing.T) {
	ctx := context.Background()
	ring, err := pgpfile.GenerateKey("card vault", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pgpfile.PublicKeyOf(ring.Reveal())
	if err != nil {
		t.Fatal(err)
	}

	c := &app.Components{Now: time.Now}
	if err := Ring.Load(ctx, envWith(t, app.Migrate, app.ImportKeyName, ring.Reveal()), c); err != nil || c.ImportKeys == nil {
		t.Fatalf("Ring: %v", err)
	}
	c = &app.Components{Now: time.Now}
	if err := PublicKey.Load(ctx, envWith(t, app.JWKS, app.ImportPublicKeyName, pub), c); err != nil || string(c.ImportPublicKey) != string(pub) {
		t.Fatalf("PublicKey: %v", err)
	}

	c = &app.Components{Now: time.Now}
	err = PublicKey.Load(ctx, envWith(t, app.JWKS, app.ImportPublicKeyName, ring.Reveal()), c)
	if err == nil || !strings.Contains(err.Error(), app.ImportPublicKeyName) || c.ImportPublicKey != nil {
		t.Errorf("a private ring as the public key: %v", err)
	}
	err = Ring.Load(ctx, envWith(t, app.Migrate, app.ImportKeyName, []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n-----END PGP PRIVATE KEY BLOCK-----\n")), c)
	if err == nil || !strings.Contains(err.Error(), app.ImportKeyName) || c.ImportKeys != nil {
		t.Errorf("an empty ring: %v", err)
	}

	if !Ring.For(app.Migrate) || Ring.For(app.JWKS) || !PublicKey.For(app.JWKS) || PublicKey.For(app.Migrate) {
		t.Error("the private ring is migrate's only, the public half jwks' only")
	}
}
