package inproc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/bench/internal/fixture"
)

// The request-path benchmarks run a whole request through
// httpapi.API.Handle, exactly as a Lambda function gets it, and the bare
// go-jose work the same request needs (fixture.Floor*), alternating the
// two call by call in one loop. On a shared machine separate runs are not
// comparable; the ratio within one loop is. Reported:
//
//	cpu-ns/op        the vault's whole request, CPU time of the thread
//	floor-cpu-ns/op  the bare go-jose work for the same message, CPU time
//	x-floor-cpu      their ratio (the design's target: <= 1.15)
//	ns/op, floor-ns/op, x-floor  the same by the wall clock
//	B/op, allocs/op  the vault side only (sampled)
//
// CPU time is read per OS thread (the loop is locked to its thread), so
// time the shared machine gives to other processes does not count; the
// garbage collector's background workers run on other threads and are
// left out of both sides alike, while allocation assists are counted.
//
// Requests are made between the timed sections (each needs a fresh jti,
// because the vault refuses a replay). CPU profile samples are labelled
// side=vault or side=floor, so `go tool pprof -tagfocus=side=vault` shows
// the vault's side alone.

// allocSampleEvery is how often the vault side's allocations are read:
// runtime.ReadMemStats stops the world, so not on every call.
const allocSampleEvery = 8

var (
	vaultLabels = pprof.WithLabels(context.Background(), pprof.Labels("side", "vault"))
	floorLabels = pprof.WithLabels(context.Background(), pprof.Labels("side", "floor"))
	noLabels    = context.Background()
)

// pairTimer accumulates the two sides of an interleaved loop.
type pairTimer struct {
	vault, floor       time.Duration
	vaultCPU, floorCPU time.Duration
	n                  int
	allocs             allocCounter
	sampled            int
}

// run times vaultSide and floorSide once each, in an order that alternates
// with every call so that neither always runs on warmer caches.
func (p *pairTimer) run(b *testing.B, vaultSide, floorSide func() error) {
	sample := p.n%allocSampleEvery == 0
	doVault := func() {
		if sample {
			p.allocs.start()
		}
		pprof.SetGoroutineLabels(vaultLabels)
		c, t := threadCPU(), time.Now()
		err := vaultSide()
		p.vault += time.Since(t)
		p.vaultCPU += threadCPU() - c
		pprof.SetGoroutineLabels(noLabels)
		if sample {
			p.allocs.stop()
			p.sampled++
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	doFloor := func() {
		pprof.SetGoroutineLabels(floorLabels)
		c, t := threadCPU(), time.Now()
		err := floorSide()
		p.floor += time.Since(t)
		p.floorCPU += threadCPU() - c
		pprof.SetGoroutineLabels(noLabels)
		if err != nil {
			b.Fatal(err)
		}
	}
	if p.n%2 == 0 {
		doVault()
		doFloor()
	} else {
		doFloor()
		doVault()
	}
	p.n++
}

func (p *pairTimer) report(b *testing.B) {
	b.ReportMetric(float64(p.vault.Nanoseconds())/float64(p.n), "ns/op")
	b.ReportMetric(float64(p.floor.Nanoseconds())/float64(p.n), "floor-ns/op")
	b.ReportMetric(float64(p.vault)/float64(p.floor), "x-floor")
	b.ReportMetric(float64(p.vaultCPU.Nanoseconds())/float64(p.n), "cpu-ns/op")
	b.ReportMetric(float64(p.floorCPU.Nanoseconds())/float64(p.n), "floor-cpu-ns/op")
	b.ReportMetric(float64(p.vaultCPU)/float64(p.floorCPU), "x-floor-cpu")
	if p.sampled > 0 {
		p.allocs.report(b, p.sampled)
	}
}

var algs = []struct {
	name string
	alg  jose.KeyAlgorithm
}{
	{"RSA-OAEP-256", jose.RSA_OAEP_256},
	{"ECDH-ES+A256KW", jose.ECDH_ES_A256KW},
}

// BenchmarkRequestPath/vault-card: POST /v1/cards (JWE open, JWS verify,
// claims, card validation, fingerprint, seal, store write, audit, JSON
// answer, log line) against parse+decrypt JWE and parse+verify JWS.
// Every request vaults a new card (a new customer), the write path.
//
// BenchmarkRequestPath/reveal-card: POST /v1/cards/{token}/reveal (JWS
// verify, claims, store read, open the record, sign the answer and encrypt
// it to the client) against parse+verify JWS, sign, encrypt. The JWE
// algorithm is the one of the client's registered key.
func BenchmarkRequestPath(b *testing.B) {
	for _, a := range algs {
		b.Run("vault-card/"+a.name, func(b *testing.B) { benchVaultCard(b, a.alg) })
	}
	for _, a := range algs {
		b.Run("reveal-card/"+a.name, func(b *testing.B) { benchRevealCard(b, a.alg) })
	}
}

func benchVaultCard(b *testing.B, alg jose.KeyAlgorithm) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	env := newPathEnv(b, nil, nil)
	env.vaultCard(b, alg, "cus_warm") // makes the merchant's key and warms the cache
	ctx := context.Background()
	var p pairTimer
	for b.Loop() {
		jwe, err := fx.VaultCardJWE(fx.ClientEC, alg, fixture.Merchant, fmt.Sprintf("cus_%d", p.n), fixture.CardNumber)
		if err != nil {
			b.Fatal(err)
		}
		ev := fixture.VaultCardEvent(jwe)
		p.run(b, func() error {
			resp, err := env.api.Handle(ctx, ev)
			if err == nil && resp.StatusCode != http.StatusCreated {
				err = fmt.Errorf("vault_card answered %d: %s", resp.StatusCode, resp.Body)
			}
			return err
		}, func() error {
			return fx.FloorOpen(fx.ClientEC, alg, jwe)
		})
	}
	p.report(b)
}

func benchRevealCard(b *testing.B, alg jose.KeyAlgorithm) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c := fx.ClientEC
	if alg == jose.RSA_OAEP_256 {
		c = fx.ClientRSA
	}
	env := newPathEnv(b, nil, nil)
	token := env.vaultCard(b, jose.ECDH_ES_A256KW, "cus_reveal")
	// The floor signs and encrypts an answer of the same shape and size as
	// the vault's.
	answer, err := json.Marshal(map[string]any{
		"iss": "card-vault", "aud": c.ID, "iat": time.Now().Unix(), "jti": fixture.NewJTI(),
		"merchant_id": fixture.Merchant, "token": token,
		"card": map[string]any{"number": fixture.CardNumber, "exp_month": 12, "exp_year": 2030, "holder_name": "Jane Doe"},
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var p pairTimer
	for b.Loop() {
		bearer, err := fx.RevealBearer(c, fixture.Merchant, token)
		if err != nil {
			b.Fatal(err)
		}
		ev := fixture.RevealEvent(token, bearer)
		p.run(b, func() error {
			resp, err := env.api.Handle(ctx, ev)
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("reveal_card answered %d: %s", resp.StatusCode, resp.Body)
			}
			return err
		}, func() error {
			return fx.FloorReveal(c, bearer, answer)
		})
	}
	p.report(b)
}
