package inproc

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/cardvault/vault/bench/internal/fixture"
	"github.com/cardvault/vault/bench/internal/kmssim"
	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/httpapi"
	"github.com/cardvault/vault/shared/memstore"
	"github.com/cardvault/vault/shared/vault"
	jose "github.com/go-jose/go-jose/v4"
)

// fx is generated once per test binary: RSA key generation is slow.
var fx = func() *fixture.Fixture {
	f, err := fixture.New()
	if err != nil {
		panic(err)
	}
	return f
}()

// pathEnv is the vault-card, get-masked and reveal-card functions over
// in-memory ports, a keyring with a configurable round trip, audit
// discarded and request logging encoded as JSON (as in AWS) into
// io.Discard.
type pathEnv struct {
	cards *vault.CardVault
	api   *httpapi.API
}

func newPathEnv(tb testing.TB, store *memstore.Store, keyring *kmssim.Keyring) *pathEnv {
	tb.Helper()
	if store == nil {
		store = memstore.New()
	}
	if keyring == nil {
		var err error
		if keyring, err = kmssim.NewLocalKeyring(0); err != nil {
			tb.Fatal(err)
		}
	}
	e := &pathEnv{cards: vault.NewCardVault(store, store, store, envelope.NewManager(keyring, store, envelope.Options{}), time.Now)}
	deps := httpapi.Deps{
		Opener: fx.Opener,
		Audit:  audit.Discard{},
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Now:    time.Now,
	}
	e.api = httpapi.New(deps,
		httpapi.VaultCardRoutes(e.cards),
		httpapi.MaskedRoutes(vault.NewMaskedViews(store, store, store, time.Now)),
		httpapi.RevealCardRoutes(e.cards, fx.VaultKeys, time.Now))
	return e
}

// vaultCard sends one vault_card request and returns the card's token.
func (e *pathEnv) vaultCard(tb testing.TB, alg jose.KeyAlgorithm, customer string) string {
	tb.Helper()
	jwe, err := fx.VaultCardJWE(fx.ClientEC, alg, fixture.Merchant, customer, fixture.CardNumber)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := e.api.Handle(context.Background(), fixture.VaultCardEvent(jwe))
	if err != nil || resp.StatusCode != http.StatusCreated {
		tb.Fatalf("vault_card: %d %s %v", resp.StatusCode, resp.Body, err)
	}
	return tokenOf(tb, resp.Body)
}
