package inproc

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/bench/internal/fixture"
	"github.com/cardvault/vault/bench/internal/kmssim"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/memstore"
)

// concurrentRequests is how many simultaneous cold requests one round
// sends for one merchant.
const concurrentRequests = 1000

// BenchmarkColdMiss sends 1,000 simultaneous requests for one merchant to
// a process whose key cache is cold (each round is a fresh process over
// the same stored keys), with a key service round trip of
// kmssim.RoundTrip, and counts the unwraps:
//
//	manager       1,000 goroutines ask envelope.Manager for the merchant's
//	              primary keys at once
//	vault-card    1,000 vault_card requests through httpapi.API.Handle
//	reveal-card   1,000 reveal_card requests through httpapi.API.Handle
//
// Reported: unwraps/round (the largest count of any round; the target is
// 1) and rounds.
func BenchmarkColdMiss(b *testing.B) {
	b.Run("manager", func(b *testing.B) {
		store, keyring := seededStore(b)
		worst := 0
		for b.Loop() {
			keyring.Reset()
			m := envelope.NewManager(keyring, store, envelope.Options{})
			start := make(chan struct{})
			var wg sync.WaitGroup
			errs := make(chan error, concurrentRequests)
			for range concurrentRequests {
				wg.Go(func() {
					<-start
					if _, _, err := m.Primary(context.Background(), fixture.Merchant); err != nil {
						errs <- err
					}
				})
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			worst = max(worst, int(keyring.Unwraps()))
		}
		reportColdMiss(b, worst)
	})
	b.Run("vault-card", func(b *testing.B) {
		store, keyring := seededStore(b)
		worst := 0
		round := 0
		for b.Loop() {
			b.StopTimer()
			reqs := make([]events.APIGatewayV2HTTPRequest, concurrentRequests)
			for i := range reqs {
				jwe, err := fx.VaultCardJWE(fx.ClientEC, jose.ECDH_ES_A256KW, fixture.Merchant, fmt.Sprintf("cus_cold_%d_%d", round, i), fixture.CardNumber)
				if err != nil {
					b.Fatal(err)
				}
				reqs[i] = fixture.VaultCardEvent(jwe)
			}
			b.StartTimer()
			worst = max(worst, coldRound(b, store, keyring, reqs, http.StatusCreated))
			round++
		}
		reportColdMiss(b, worst)
	})
	b.Run("reveal-card", func(b *testing.B) {
		store, keyring := seededStore(b)
		token := newPathEnv(b, store, keyring).vaultCard(b, jose.ECDH_ES_A256KW, "cus_cold_reveal")
		worst := 0
		for b.Loop() {
			b.StopTimer()
			reqs := make([]events.APIGatewayV2HTTPRequest, concurrentRequests)
			for i := range reqs {
				bearer, err := fx.RevealBearer(fx.ClientEC, fixture.Merchant, token)
				if err != nil {
					b.Fatal(err)
				}
				reqs[i] = fixture.RevealEvent(token, bearer)
			}
			b.StartTimer()
			worst = max(worst, coldRound(b, store, keyring, reqs, http.StatusOK))
		}
		reportColdMiss(b, worst)
	})
}

// seededStore is a store in which the merchant already has its first key
// version, and the delayed keyring that wrapped it.
func seededStore(b *testing.B) (*memstore.Store, *kmssim.Keyring) {
	b.Helper()
	keyring, err := kmssim.NewLocalKeyring(kmssim.RoundTrip)
	if err != nil {
		b.Fatal(err)
	}
	store := memstore.New()
	if _, _, err := envelope.NewManager(keyring, store, envelope.Options{}).Primary(context.Background(), fixture.Merchant); err != nil {
		b.Fatal(err)
	}
	return store, keyring
}

// coldRound serves reqs all at once from a fresh process (cold key cache)
// and returns the unwraps they caused.
func coldRound(b *testing.B, store *memstore.Store, keyring *kmssim.Keyring, reqs []events.APIGatewayV2HTTPRequest, want int) int {
	env := newPathEnv(b, store, keyring)
	keyring.Reset()
	start := make(chan struct{})
	var wg sync.WaitGroup
	bad := make(chan string, len(reqs))
	for _, ev := range reqs {
		wg.Go(func() {
			<-start
			resp, err := env.api.Handle(context.Background(), ev)
			if err != nil || resp.StatusCode != want {
				bad <- fmt.Sprintf("%d %s %v", resp.StatusCode, resp.Body, err)
			}
		})
	}
	close(start)
	wg.Wait()
	close(bad)
	for msg := range bad {
		b.Fatalf("request failed: %s", msg)
	}
	return int(keyring.Unwraps())
}

func reportColdMiss(b *testing.B, worst int) {
	b.ReportMetric(float64(worst), "unwraps/round")
	b.ReportMetric(float64(b.N), "rounds")
}
