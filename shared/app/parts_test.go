package app

import (
	"context"
	"strings"
	"testing"

	"github.com/cardvault/vault/shared/forward"
	"github.com/cardvault/vault/shared/jobfiles"
	"github.com/cardvault/vault/shared/pgpfile"
	"github.com/cardvault/vault/shared/wire"
)

// TestAFunctionMissingAPartIsRefused: a function whose flags ask for
// something no part loaded does not start, and the error names the part
// its main is missing; one with everything it asks for starts.
func TestAFunctionMissingAPartIsRefused(t *testing.T) {
	full := func() *Components {
		return &Components{
			VaultKeys: &wire.VaultKeys{}, Clients: wire.StaticRegistry(nil),
			Files: &jobfiles.Local{}, JobWork: EventJobWork{},
			ImportKeys: &pgpfile.KeyRing{}, ImportPublicKey: []byte("key"),
			Destinations: forward.StaticSource(nil),
		}
	}
	cases := []struct {
		fn      Function
		drop    func(*Components)
		missing string
	}{
		{VaultCard, func(c *Components) { c.VaultKeys = nil }, "app.Requests"},
		{GetMasked, func(c *Components) { c.Clients = nil }, "app.Requests"},
		{Jobs, func(c *Components) { c.Files = nil }, "bucket.Files"},
		{Migrate, func(c *Components) { c.JobWork = nil }, "bucket.Files"},
		{Migrate, func(c *Components) { c.ImportKeys = nil }, "importkeys.Ring"},
		{JWKS, func(c *Components) { c.ImportPublicKey = nil }, "importkeys.PublicKey"},
		{Forward, func(c *Components) { c.Destinations = nil }, "destinations.Forward"},
	}
	for _, tc := range cases {
		c := full()
		if err := checkParts(tc.fn, c); err != nil {
			t.Fatalf("%s with every part: %v", tc.fn.Name, err)
		}
		tc.drop(c)
		err := checkParts(tc.fn, c)
		if err == nil || !strings.Contains(err.Error(), tc.missing) || !strings.Contains(err.Error(), tc.fn.Name) {
			t.Errorf("%s without %s: %v", tc.fn.Name, tc.missing, err)
		}
	}
	// A function that asks for nothing optional needs no part.
	if err := checkParts(RotateDEK, &Components{}); err != nil {
		t.Errorf("rotate-dek: %v", err)
	}
}

// TestAPartIsRefusedToAFunctionThatDoesNotAskForIt: a part given to a
// function whose flags do not ask for it fails the cold start before it
// reads anything: the function's role may not read what the part reads.
func TestAPartIsRefusedToAFunctionThatDoesNotAskForIt(t *testing.T) {
	loaded := false
	p := Part{Name: "job files bucket", For: func(fn Function) bool { return fn.NeedsFiles },
		Load: func(context.Context, *AWSEnv, *Components) error { loaded = true; return nil }}
	err := p.load(context.Background(), &AWSEnv{}, GetMasked, &Components{})
	if err == nil || !strings.Contains(err.Error(), "get-masked") || !strings.Contains(err.Error(), "job files bucket") || loaded {
		t.Fatalf("part for a function without NeedsFiles: %v (loaded %v)", err, loaded)
	}
	if err := p.load(context.Background(), &AWSEnv{}, Jobs, &Components{}); err != nil || !loaded {
		t.Fatalf("part for jobs: %v (loaded %v)", err, loaded)
	}
	if err := (Part{Name: "empty"}).load(context.Background(), &AWSEnv{}, Jobs, &Components{}); err == nil {
		t.Fatal("a part without For or Load was accepted")
	}
	for _, fn := range append(Functions, RotateDEK, Migrate) {
		http := fn.Routes != nil
		if Requests.For(fn) != http {
			t.Errorf("Requests.For(%s) = %v, want %v (HTTP functions only)", fn.Name, !http, http)
		}
	}
}
