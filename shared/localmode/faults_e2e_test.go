package localmode_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/internal/vaulttest"
)

// Fault injection across the vault's ports. For every operation of the
// contract, each call it makes to DynamoDB, the keyring and the audit sink
// is failed in turn, in each way the AWS SDK reports a dependency that
// gave up (throttling, a timeout, possibly after the write took effect,
// 5xx). The
// request must then either succeed or answer 503 unavailable with
// Retry-After; and once the fault is gone, every record must still
// decrypt and no half-written state may make a later request fail.

const (
	faultPAN       = "5555555555554444"
	faultAnchorPAN = "6011111111111117"
	faultHolder    = "Faulty Q. Cardholder"
	faultSecret1   = "sk_live_FAULTvalueONE0123456789"
	faultSecret2   = "sk_live_FAULTvalueTWO0123456789"
	faultAnchorSec = "sk_live_FAULTanchorSECRET987654"
)

func init() {
	vaulttest.Sensitive(faultPAN, faultAnchorPAN, faultHolder, faultSecret1, faultSecret2, faultAnchorSec)
}

// Cache states an operation is faulted in: a merchant the vault has never
// seen, one whose keys are cached, and one whose cached keys have expired
// (every key lookup goes to the keyring).
const (
	stateFresh = "fresh"
	stateWarm  = "warm"
	stateCold  = "cold"
)

// faultOp is one operation under fault: how to prepare a merchant for it,
// how to send it, and what must hold once the fault is gone.
type faultOp struct {
	name    string
	states  []string
	success []int
	// failClosed operations (those that store, reveal or destroy card
	// data, secrets or keys) answer 503 when their audit event cannot be
	// kept.
	failClosed bool
	setup      func(fx *faultFixture, m *faultMerchant)
	run        func(fx *faultFixture, m *faultMerchant) *vaulttest.Response
	// after checks the merchant with the fault removed, given the answer
	// the faulted request got.
	after func(fx *faultFixture, m *faultMerchant, first *vaulttest.Response)
}

// faultMerchant is one merchant of one case and the records it should
// hold.
type faultMerchant struct {
	id       string
	cardTok  string // the card the operation works on, once it exists
	cards    map[string]string
	secrets  map[string]string
	shredded bool
}

type faultFixture struct {
	t      *testing.T
	v      *vaulttest.Vault
	c      *vaulttest.Client
	faults *vaulttest.Faults

	mu        sync.Mutex
	merchants []*faultMerchant
	seq       int
}

func faultOps() []faultOp {
	all := []string{stateFresh, stateWarm, stateCold}
	held := []string{stateWarm, stateCold}
	return []faultOp{
		{name: "vault_card_new", failClosed: true, states: all, success: []int{201},
			run: func(fx *faultFixture, m *faultMerchant) *vaulttest.Response {
				return fx.vaultCard(m, faultPAN, 12)
			},
			after: func(fx *faultFixture, m *faultMerchant, first *vaulttest.Response) {
				fx.revaultOneToken(m, first, "")
			}},
		{name: "vault_card_duplicate", failClosed: true, states: held, success: []int{200},
			setup: func(fx *faultFixture, m *faultMerchant) { fx.mustVaultCard(m) },
			run: func(fx *faultFixture, m *faultMerchant) *vaulttest.Response {
				return fx.vaultCard(m, faultPAN, 6)
			},
			after: func(fx *faultFixture, m *faultMerchant, first *vaulttest.Response) {
				fx.revaultOneToken(m, first, m.cardTok)
			}},
		{name: "get_masked", states: []string{stateWarm}, success: []int{200},
			setup: func(fx *faultFixture, m *faultMerchant) { fx.mustVaultCard(m) },
			run:   func(fx *faultFixture, m *faultMerchant) *vaulttest.Response { return fx.getMasked(m, m.cardTok) },
			after: func(fx *faultFixture, m *faultMerchant, _ *vaulttest.Response) {
				fx.expect(fx.getMasked(m, m.cardTok), "get_masked after the fault", 200)
			}},
		{name: "reveal_card", states: held, success: []int{200}, failClosed: true,
			setup: func(fx *faultFixture, m *faultMerchant) { fx.mustVaultCard(m) },
			run:   func(fx *faultFixture, m *faultMerchant) *vaulttest.Response { return fx.revealCard(m, m.cardTok) },
			after: func(fx *faultFixture, m *faultMerchant, _ *vaulttest.Response) {}},
		{name: "delete_card", failClosed: true, states: []string{stateWarm}, success: []int{204},
			setup: func(fx *faultFixture, m *faultMerchant) { fx.mustVaultCard(m) },
			run:   func(fx *faultFixture, m *faultMerchant) *vaulttest.Response { return fx.deleteCard(m, m.cardTok) },
			after: func(fx *faultFixture, m *faultMerchant, first *vaulttest.Response) {
				fx.expectRepeat(first, fx.deleteCard(m, m.cardTok), "delete_card again", 204)
				old := m.cardTok
				delete(m.cards, old)
				fx.expect(fx.getMasked(m, old), "get_masked of a deleted card", 404)
				fx.expect(fx.revealCard(m, old), "reveal_card of a deleted card", 404)
				again := fx.expect(fx.vaultCard(m, faultPAN, 12), "vault_card after delete", 201)
				if tok, _ := again.JSON["token"].(string); tok == old {
					fx.t.Errorf("%s: a deleted card's token came back", m.id)
				}
				fx.revaultOneToken(m, nil, "")
			}},
		{name: "put_secret_new", failClosed: true, states: all, success: []int{201},
			run: func(fx *faultFixture, m *faultMerchant) *vaulttest.Response {
				return fx.putSecret(m, "api-key", faultSecret1)
			},
			after: func(fx *faultFixture, m *faultMerchant, first *vaulttest.Response) {
				want := []int{200, 201}
				if first.Status/100 == 2 {
					want = []int{200}
				}
				fx.expect(fx.putSecret(m, "api-key", faultSecret1), "put_secret again", want...)
				m.secrets["api-key"] = faultSecret1
				fx.expect(fx.getSecret(m, "api-key"), "get_secret after the fault", 200)
			}},
		{name: "put_secret_new_version", failClosed: true, states: held, success: []int{200},
			setup: func(fx *faultFixture, m *faultMerchant) { fx.mustPutSecret(m, "api-key", faultSecret1) },
			run: func(fx *faultFixture, m *faultMerchant) *vaulttest.Response {
				return fx.putSecret(m, "api-key", faultSecret2)
			},
			after: func(fx *faultFixture, m *faultMerchant, _ *vaulttest.Response) {
				fx.expect(fx.putSecret(m, "api-key", faultSecret2), "put_secret again", 200)
				m.secrets["api-key"] = faultSecret2
				fx.expect(fx.getSecret(m, "api-key"), "get_secret after the fault", 200)
			}},
		{name: "get_secret", states: []string{stateWarm}, success: []int{200},
			setup: func(fx *faultFixture, m *faultMerchant) { fx.mustPutSecret(m, "api-key", faultSecret1) },
			run:   func(fx *faultFixture, m *faultMerchant) *vaulttest.Response { return fx.getSecret(m, "api-key") },
			after: func(fx *faultFixture, m *faultMerchant, _ *vaulttest.Response) {
				fx.expect(fx.getSecret(m, "api-key"), "get_secret after the fault", 200)
			}},
		{name: "reveal_secret", states: held, success: []int{200}, failClosed: true,
			setup: func(fx *faultFixture, m *faultMerchant) { fx.mustPutSecret(m, "api-key", faultSecret1) },
			run:   func(fx *faultFixture, m *faultMerchant) *vaulttest.Response { return fx.revealSecret(m, "api-key") },
			after: func(fx *faultFixture, m *faultMerchant, _ *vaulttest.Response) {}},
		{name: "delete_secret", failClosed: true, states: []string{stateWarm}, success: []int{204},
			setup: func(fx *faultFixture, m *faultMerchant) { fx.mustPutSecret(m, "api-key", faultSecret1) },
			run:   func(fx *faultFixture, m *faultMerchant) *vaulttest.Response { return fx.deleteSecret(m, "api-key") },
			after: func(fx *faultFixture, m *faultMerchant, first *vaulttest.Response) {
				fx.expectRepeat(first, fx.deleteSecret(m, "api-key"), "delete_secret again", 204)
				delete(m.secrets, "api-key")
				fx.expect(fx.getSecret(m, "api-key"), "get_secret of a deleted secret", 404)
				fx.expect(fx.revealSecret(m, "api-key"), "reveal_secret of a deleted secret", 404)
				fx.expect(fx.putSecret(m, "api-key", faultSecret2), "put_secret after delete", 201)
				m.secrets["api-key"] = faultSecret2
			}},
		{name: "rotate_keys", failClosed: true, states: []string{stateFresh, stateWarm}, success: []int{202},
			run: func(fx *faultFixture, m *faultMerchant) *vaulttest.Response { return fx.keysCall(m, "rotate_keys") },
			after: func(fx *faultFixture, m *faultMerchant, first *vaulttest.Response) {
				// A rotation is the costliest request; repeating one that
				// succeeded proves nothing more.
				if first.Status != http.StatusAccepted {
					fx.expect(fx.keysCall(m, "rotate_keys"), "rotate_keys again", 202)
				}
				fx.expect(fx.keysCall(m, "get_keys"), "get_keys after the fault", 200)
			}},
		{name: "get_keys", states: []string{stateFresh, stateWarm}, success: []int{200},
			run: func(fx *faultFixture, m *faultMerchant) *vaulttest.Response { return fx.keysCall(m, "get_keys") },
			after: func(fx *faultFixture, m *faultMerchant, _ *vaulttest.Response) {
				fx.expect(fx.keysCall(m, "get_keys"), "get_keys after the fault", 200)
			}},
		{name: "shred_merchant", failClosed: true, states: []string{stateFresh, stateWarm}, success: []int{204},
			run: func(fx *faultFixture, m *faultMerchant) *vaulttest.Response { return fx.shred(m) },
			after: func(fx *faultFixture, m *faultMerchant, first *vaulttest.Response) {
				fx.expectRepeat(first, fx.shred(m), "shred_merchant again", 204)
				for tok := range m.cards {
					fx.expect(fx.getMasked(m, tok), "get_masked of a shredded merchant", 404)
					fx.expect(fx.revealCard(m, tok), "reveal_card of a shredded merchant", 404)
				}
				for name := range m.secrets {
					fx.expect(fx.revealSecret(m, name), "reveal_secret of a shredded merchant", 404)
				}
				fx.expect(fx.vaultCard(m, faultPAN, 12), "vault_card for a shredded merchant", 404)
				m.shredded = true
			}},
	}
}

func TestEveryOperationUnderFaultsAtEveryCall(t *testing.T) {
	for _, op := range faultOps() {
		for _, state := range op.states {
			t.Run(op.name+"/"+state, func(t *testing.T) {
				t.Parallel()
				// A client belongs to one vault, and each operation and
				// state gets a vault (a table) of its own.
				c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
				faults := vaulttest.NewFaults()
				fx := &faultFixture{t: t, c: c, faults: faults}
				fx.v = vaulttest.StartWith(t, faults.Options(vaulttest.Options{}), c)
				fx.runState(op, state)
				fx.revealEverything()
			})
		}
	}
}

// runState counts the calls op makes in a clean run from state, then
// fails each of them in turn, in every way.
func (fx *faultFixture) runState(op faultOp, state string) {
	t := fx.t
	m := fx.prepare(op, state)
	fx.faults.Reset()
	first := fx.run(op, m)
	if !fx.isSuccess(op, first) {
		t.Fatalf("%s (%s) without faults: %d %s", op.name, state, first.Status, first.Body)
	}
	counts := map[vaulttest.Port]int{}
	for _, p := range vaulttest.Ports {
		counts[p] = fx.faults.Calls(p)
	}
	fx.faults.Reset()
	op.after(fx, m, first)
	fx.revealMerchant(m)
	t.Logf("%s (%s): %d DynamoDB, %d keyring, %d audit calls", op.name, state,
		counts[vaulttest.PortDynamo], counts[vaulttest.PortKeyring], counts[vaulttest.PortAudit])

	for _, port := range vaulttest.Ports {
		for _, kind := range vaulttest.FaultKinds {
			for k := 1; k <= counts[port]; k++ {
				fx.runCase(op, state, port, kind, k)
			}
		}
	}
}

func (fx *faultFixture) runCase(op faultOp, state string, port vaulttest.Port, kind vaulttest.FaultKind, k int) {
	t := fx.t
	name := fmt.Sprintf("%s (%s) with %s call %d failing (%s)", op.name, state, port, k, kind)
	m := fx.prepare(op, state)
	fx.faults.FailAt(port, k, kind)
	r := fx.run(op, m)
	fired, calls, background := fx.faults.Fired(), fx.faults.Calls(port), fx.faults.FiredOnBackgroundEvent()
	fx.faults.Reset()
	if !fired {
		t.Errorf("%s: the fault was not injected (the operation made %d calls)", name, calls)
	}
	switch {
	case port == vaulttest.PortAudit && op.failClosed && !background:
		if r.Status != http.StatusServiceUnavailable || r.Code() != "unavailable" || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s: an operation whose audit event was lost answered %d %s, want 503 unavailable with Retry-After", name, r.Status, r.Body)
		}
	case port == vaulttest.PortAudit:
		// A read, or a background event the request caused: the work
		// is checkpointed and repeatable, the event logged.
		if !fx.isSuccess(op, r) {
			t.Errorf("%s: answered %d %s; a lost audit event must not fail this operation", name, r.Status, r.Body)
		}
	case fx.isSuccess(op, r):
	default:
		if r.Status != http.StatusServiceUnavailable || r.Code() != "unavailable" || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s: answered %d %s (Retry-After %q), want success or 503 unavailable with Retry-After",
				name, r.Status, r.Body, r.Header.Get("Retry-After"))
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	op.after(fx, m, r)
	fx.revealMerchant(m)
	if t.Failed() {
		logs := fx.v.Logs.String()
		t.Logf("the vault's last log lines: %s", logs[max(0, len(logs)-3000):])
		t.Fatalf("%s: the vault did not recover", name)
	}
}

// prepare makes a new merchant in the given state, with op's records.
func (fx *faultFixture) prepare(op faultOp, state string) *faultMerchant {
	fx.mu.Lock()
	fx.seq++
	m := &faultMerchant{id: fmt.Sprintf("m_f%d_%s", fx.seq, state), cards: map[string]string{}, secrets: map[string]string{}}
	fx.merchants = append(fx.merchants, m)
	fx.mu.Unlock()
	if state == stateFresh {
		return m
	}
	// An anchor card and secret: records the operation must not disturb.
	r := fx.expect(fx.vaultCardFor(m, "c_anchor", faultAnchorPAN, 12), "anchor card", 201)
	m.cards[r.JSON["token"].(string)] = faultAnchorPAN
	fx.mustPutSecret(m, "anchor", faultAnchorSec)
	if op.setup != nil {
		op.setup(fx, m)
	}
	if state == stateCold {
		// Past the key cache's lifetime: every key is unwrapped again.
		fx.v.Advance(6 * time.Minute)
	}
	return m
}

func (fx *faultFixture) run(op faultOp, m *faultMerchant) *vaulttest.Response {
	r := op.run(fx, m)
	if r.Status == http.StatusInternalServerError {
		fx.t.Errorf("%s on %s: 500 %s", op.name, m.id, r.Body)
	}
	return r
}

func (fx *faultFixture) isSuccess(op faultOp, r *vaulttest.Response) bool {
	for _, s := range op.success {
		if r.Status == s {
			return true
		}
	}
	return false
}

// expect checks a request made with no fault armed.
func (fx *faultFixture) expect(r *vaulttest.Response, what string, statuses ...int) *vaulttest.Response {
	fx.t.Helper()
	for _, s := range statuses {
		if r.Status == s {
			return r
		}
	}
	fx.t.Errorf("%s: %d %s, want %v", what, r.Status, r.Body, statuses)
	return r
}

// expectRepeat checks a repeated delete: it does its work (ok) if the
// first attempt failed, and answers 404 if that attempt had finished it,
// which is also allowed after a failure whose reply was lost.
func (fx *faultFixture) expectRepeat(first, again *vaulttest.Response, what string, ok int) {
	fx.t.Helper()
	if first.Status == ok {
		fx.expect(again, what+" (after it succeeded)", http.StatusNotFound)
		return
	}
	fx.expect(again, what, ok, http.StatusNotFound)
}

func (fx *faultFixture) vaultCardFor(m *faultMerchant, customer, pan string, expMonth int) *vaulttest.Response {
	card := map[string]any{"number": pan, "exp_month": expMonth, "exp_year": fx.v.Now().Year() + 3, "holder_name": faultHolder}
	return fx.c.VaultCard(fx.t, m.id, map[string]any{"customer_id": customer, "card": card}, jose.ECDH_ES_A256KW)
}

func (fx *faultFixture) vaultCard(m *faultMerchant, pan string, expMonth int) *vaulttest.Response {
	return fx.vaultCardFor(m, "c_1", pan, expMonth)
}

func (fx *faultFixture) mustVaultCard(m *faultMerchant) {
	r := fx.expect(fx.vaultCard(m, faultPAN, 12), "setup vault_card", 201)
	m.cardTok = r.JSON["token"].(string)
	m.cards[m.cardTok] = faultPAN
}

// revaultOneToken vaults the operation's card again twice, with the fault
// gone: the card must map to one token (want, if known), reported as a
// duplicate the second time, and reveal to what was vaulted.
func (fx *faultFixture) revaultOneToken(m *faultMerchant, first *vaulttest.Response, want string) {
	t := fx.t
	statuses := []int{200, 201}
	if want != "" || (first != nil && first.Status/100 == 2) {
		statuses = []int{200}
	}
	if first != nil && first.Status/100 == 2 && want == "" {
		want, _ = first.JSON["token"].(string)
	}
	again := fx.expect(fx.vaultCard(m, faultPAN, 12), "vault_card again", statuses...)
	tok, _ := again.JSON["token"].(string)
	if want != "" && tok != want {
		t.Errorf("%s: vault_card again gave another token", m.id)
	}
	third := fx.expect(fx.vaultCard(m, faultPAN, 12), "vault_card a third time", 200)
	if third.JSON["token"] != tok || third.JSON["duplicate"] != true {
		t.Errorf("%s: the card maps to more than one token", m.id)
	}
	m.cardTok = tok
	m.cards[tok] = faultPAN
	fx.expect(fx.getMasked(m, tok), "get_masked after the fault", 200)
}

func (fx *faultFixture) getMasked(m *faultMerchant, tok string) *vaulttest.Response {
	return fx.c.GetMasked(fx.t, m.id, tok)
}

func (fx *faultFixture) revealCard(m *faultMerchant, tok string) *vaulttest.Response {
	r := fx.c.Call(fx.t, http.MethodPost, "/v1/cards/"+tok+"/reveal", "reveal_card", m.id, map[string]any{"token": tok})
	if r.Status == http.StatusOK {
		card, _ := fx.c.OpenResponse(fx.t, r.Body)["card"].(map[string]any)
		if card["number"] != m.cards[tok] || card["holder_name"] != faultHolder {
			fx.t.Errorf("%s: reveal_card answered another card", m.id)
		}
	}
	return r
}

func (fx *faultFixture) deleteCard(m *faultMerchant, tok string) *vaulttest.Response {
	return fx.c.Call(fx.t, http.MethodDelete, "/v1/cards/"+tok, "delete_card", m.id, map[string]any{"token": tok})
}

func secretPath(m *faultMerchant, name string) string {
	return "/v1/merchants/" + url.PathEscape(m.id) + "/secrets/" + name
}

func (fx *faultFixture) putSecret(m *faultMerchant, name, value string) *vaulttest.Response {
	claims := fx.c.Claims("put_secret", m.id, map[string]any{"name": name, "value": value})
	return fx.c.PostJOSE(http.MethodPut, secretPath(m, name), fx.c.Encrypt(fx.t, fx.c.Sign(fx.t, claims), jose.ECDH_ES_A256KW))
}

func (fx *faultFixture) mustPutSecret(m *faultMerchant, name, value string) {
	fx.expect(fx.putSecret(m, name, value), "setup put_secret", 200, 201)
	m.secrets[name] = value
}

func (fx *faultFixture) getSecret(m *faultMerchant, name string) *vaulttest.Response {
	return fx.c.Call(fx.t, http.MethodGet, secretPath(m, name), "get_secret", m.id, map[string]any{"name": name})
}

func (fx *faultFixture) revealSecret(m *faultMerchant, name string) *vaulttest.Response {
	r := fx.c.Call(fx.t, http.MethodPost, secretPath(m, name)+"/reveal", "reveal_secret", m.id, map[string]any{"name": name})
	if r.Status == http.StatusOK && fx.c.OpenResponse(fx.t, r.Body)["value"] != m.secrets[name] {
		fx.t.Errorf("%s: reveal_secret answered another value", m.id)
	}
	return r
}

func (fx *faultFixture) deleteSecret(m *faultMerchant, name string) *vaulttest.Response {
	return fx.c.Call(fx.t, http.MethodDelete, secretPath(m, name), "delete_secret", m.id, map[string]any{"name": name})
}

func (fx *faultFixture) keysCall(m *faultMerchant, op string) *vaulttest.Response {
	base := "/v1/merchants/" + url.PathEscape(m.id) + "/keys"
	if op == "rotate_keys" {
		return fx.c.Call(fx.t, http.MethodPost, base+"/rotate", op, m.id, nil)
	}
	return fx.c.Call(fx.t, http.MethodGet, base, op, m.id, nil)
}

func (fx *faultFixture) shred(m *faultMerchant) *vaulttest.Response {
	return fx.c.Call(fx.t, http.MethodDelete, "/v1/merchants/"+url.PathEscape(m.id), "shred_merchant", m.id, nil)
}

// revealMerchant reveals every record the merchant should hold.
func (fx *faultFixture) revealMerchant(m *faultMerchant) {
	fx.t.Helper()
	if m.shredded {
		return
	}
	for tok := range m.cards {
		fx.expect(fx.revealCard(m, tok), m.id+": reveal_card of a vaulted card", 200)
	}
	for name := range m.secrets {
		fx.expect(fx.revealSecret(m, name), m.id+": reveal_secret of a kept secret", 200)
	}
}

// revealEverything reveals every record of every case, once the
// operation has been faulted at each of its calls: no case may have
// damaged another merchant's records.
func (fx *faultFixture) revealEverything() {
	fx.mu.Lock()
	merchants := append([]*faultMerchant(nil), fx.merchants...)
	fx.mu.Unlock()
	records := 0
	for _, m := range merchants {
		fx.revealMerchant(m)
		if !m.shredded {
			records += len(m.cards) + len(m.secrets)
		}
	}
	if dump := fx.v.TableDump(); strings.Contains(dump, faultPAN) || strings.Contains(dump, faultHolder) {
		fx.t.Error("the table holds card data in the clear")
	}
	fx.t.Logf("%d merchants, %d records revealed after every fault", len(merchants), records)
}
