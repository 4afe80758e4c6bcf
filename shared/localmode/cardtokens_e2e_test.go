package localmode_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/card"
	"github.com/cardvault/vault/shared/internal/vaulttest"
	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vault"
)

// luhnNumber completes a partial number with its Luhn check digit.
func luhnNumber(partial string) string { return partial + string(card.LuhnCheckDigit(partial)) }

// vaultedCard is what the bulk tests need of a vault_card answer.
type vaultedCard struct {
	Token, Fingerprint, First4, Last4 string
}

// vaultMany vaults numbers with token_format "card" through the vault's
// own card operation, in-process, with up to 4 in flight: the store is the
// real one on dynalite, the JOSE layer (tested on its own, and through
// HTTP below for a sample) is skipped so that thousands of cards stay
// cheap under the race detector.
func vaultMany(t *testing.T, v *vaulttest.Vault, clientID string, merchants, numbers []string) []vaultedCard {
	t.Helper()
	cv, err := v.Env.Components.CardVault()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]vaultedCard, len(numbers))
	errs := make([]error, len(numbers))
	var wg sync.WaitGroup
	next := make(chan int)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				view, _, err := cv.VaultCard(context.Background(), vault.VaultCardInput{
					Caller:      vault.Caller{ClientID: clientID, MerchantID: merchants[i], JTI: fmt.Sprintf("bulk-%d", i)},
					CustomerID:  "c_bulk",
					Card:        vault.CardInput{Number: secret.New(numbers[i]), ExpMonth: 12, ExpYear: time.Now().Year() + 3},
					TokenFormat: vault.TokenFormatCard,
				})
				if err == nil && view.Duplicate {
					err = fmt.Errorf("card %d answered as a duplicate of token %s", i, view.Token)
				}
				out[i] = vaultedCard{view.Token, view.Fingerprint, view.Masked.First4, view.Masked.Last4}
				errs[i] = err
			}
		}()
	}
	for i := range numbers {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("card %d (%d digits): %v", i, len(numbers[i]), err)
		}
	}
	return out
}

// TestCardShapedTokens vaults thousands of numbers of every length 12..19
// with token_format "card" and proves the contract's properties: as long
// as the number, its first 4 and last 4, digits only, never Luhn-valid,
// unique, the middle drawn uniformly; and that every route taking a token
// takes one.
func TestCardShapedTokens(t *testing.T) {
	app := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	v := vaulttest.Start(t, app)

	const perLength = 250
	var numbers, merchants []string
	for n := 12; n <= 19; n++ {
		for i := range perLength {
			// An IIN no brand claims, so every length is a valid card.
			numbers = append(numbers, luhnNumber(fmt.Sprintf("8%0*d", n-2, i*7919+n)))
			merchants = append(merchants, "m_shape")
		}
	}
	answers := vaultMany(t, v, app.ID, merchants, numbers)
	seen := map[string]bool{}
	var digitCounts [10]int
	middles := 0
	for i, r := range answers {
		number := numbers[i]
		tok := r.Token
		n := len(number)
		if len(tok) != n || tok[:4] != number[:4] || tok[n-4:] != number[n-4:] || strings.Trim(tok, "0123456789") != "" {
			t.Fatalf("%d-digit card: token of %d characters is not card-shaped with the number's first 4 and last 4", n, len(tok))
		}
		if card.Luhn(tok) {
			t.Fatalf("%d-digit card: the token is Luhn-valid", n)
		}
		if seen[tok] {
			t.Fatalf("%d-digit card: token given twice", n)
		}
		seen[tok] = true
		if r.First4 != tok[:4] || r.Last4 != tok[n-4:] {
			t.Fatal("the token shows other digits than the masked view")
		}
		for _, d := range tok[4 : n-4] {
			digitCounts[d-'0']++
			middles++
		}
	}
	chi := 0.0
	for _, c := range digitCounts {
		want := float64(middles) / 10
		chi += math.Pow(float64(c)-want, 2) / want
	}
	if chi > 40 { // chi-square, 9 degrees of freedom: p below 1e-6
		t.Errorf("middle digits not uniform: chi-square %.1f, counts %v", chi, digitCounts)
	}

	// Through the API: vault_card with token_format "card" over JWE.
	viaAPI := app.VaultCard(t, "m_shape", map[string]any{"customer_id": "c_api", "token_format": "card", "card": testCard(testPAN)}, jose.ECDH_ES_A256KW)
	if tok, _ := viaAPI.JSON["token"].(string); viaAPI.Status != http.StatusCreated || len(tok) != 16 || tok[:4] != "4242" || tok[12:] != "4242" || card.Luhn(tok) {
		t.Fatalf("vault_card token_format card: %d %s", viaAPI.Status, viaAPI.Body)
	}

	// Every route that takes a token takes a card-shaped one.
	for _, i := range []int{0, perLength * 3, perLength*8 - 1} {
		number := numbers[i]
		tok := answers[i].Token
		if r := app.GetMasked(t, "m_shape", tok); r.Status != http.StatusOK || r.JSON["token"] != tok {
			t.Fatalf("get_masked of a %d-digit token: %d %s", len(tok), r.Status, r.Body)
		}
		r := reveal(t, app, "m_shape", tok)
		if r.Status != http.StatusOK {
			t.Fatalf("reveal_card of a %d-digit token: %d %s", len(tok), r.Status, r.Body)
		}
		got := app.OpenResponse(t, r.Body)
		if got["token"] != tok || got["card"].(map[string]any)["number"] != number {
			t.Fatal("the revealed card is not the one vaulted under the token")
		}
		// A duplicate answers the existing token whatever format it asks.
		dup := app.VaultCard(t, "m_shape", map[string]any{"customer_id": "c_bulk", "token_format": "opaque", "card": testCard(number)}, jose.ECDH_ES_A256KW)
		if dup.Status != http.StatusOK || dup.JSON["token"] != tok || dup.JSON["duplicate"] != true {
			t.Fatalf("duplicate asking for an opaque token: %d %s", dup.Status, dup.Body)
		}
		if r := app.Call(t, http.MethodDelete, "/v1/cards/"+tok, "delete_card", "m_shape", map[string]any{"token": tok}); r.Status != http.StatusNoContent {
			t.Fatalf("delete_card of a %d-digit token: %d %s", len(tok), r.Status, r.Body)
		}
		if r := app.GetMasked(t, "m_shape", tok); r.Status != http.StatusNotFound {
			t.Fatalf("get_masked after delete: %d", r.Status)
		}
	}
	// An opaque card asked for again as "card" keeps its tok_ token.
	opaque := app.VaultCard(t, "m_shape", map[string]any{"customer_id": "c_opaque", "card": testCard(testPAN)}, jose.ECDH_ES_A256KW)
	again := app.VaultCard(t, "m_shape", map[string]any{"customer_id": "c_opaque", "token_format": "card", "card": testCard(testPAN)}, jose.ECDH_ES_A256KW)
	if tok, _ := opaque.JSON["token"].(string); !strings.HasPrefix(tok, "tok_") || again.Status != http.StatusOK || again.JSON["token"] != tok {
		t.Fatalf("an opaque card vaulted again as card: %d %s", again.Status, again.Body)
	}

	// The audit trail names card-shaped tokens as they are (they are no
	// card numbers, so redaction leaves them), and the leak guard run at
	// the end of the test finds no card number in it.
	tok := answers[1].Token
	app.GetMasked(t, "m_shape", tok)
	events := v.AuditEvents()
	if last := events[len(events)-1]; last["action"] != "get_masked" || last["token"] != tok {
		t.Errorf("audit event names token %v, want the card-shaped token", last["token"])
	}
	// A card number in the path is no token: not found, and masked in the
	// trail.
	if r := app.GetMasked(t, "m_shape", numbers[1]); r.Status != http.StatusNotFound {
		t.Errorf("a card number as token: %d", r.Status)
	}
}

// TestTokenFormatClaim: any token_format other than "opaque" or "card" is
// malformed, and refused before anything is stored.
func TestTokenFormatClaim(t *testing.T) {
	app := vaulttest.NewClient("app", jose.ES256, []string{"m_1"})
	v := vaulttest.Start(t, app)
	before := v.TableDump()
	for _, bad := range []any{"CARD", "Opaque", "", "tok", 1, true, nil, []any{"card"}} {
		r := app.VaultCard(t, "m_1", map[string]any{"token_format": bad, "card": testCard(testPAN)}, jose.ECDH_ES_A256KW)
		if r.Status != http.StatusBadRequest || r.Code() != "malformed_request" {
			t.Errorf("token_format %#v: %d %s", bad, r.Status, r.Body)
		}
	}
	if after := v.TableDump(); after != before {
		t.Error("a refused token_format changed the table")
	}
	r := app.VaultCard(t, "m_1", map[string]any{"token_format": "opaque", "card": testCard(testPAN)}, jose.ECDH_ES_A256KW)
	if tok, _ := r.JSON["token"].(string); r.Status != http.StatusCreated || !strings.HasPrefix(tok, "tok_") {
		t.Errorf("token_format opaque: %d %s", r.Status, r.Body)
	}
}

// TestCardShapedTokenCollisionsAreRetried vaults all 1,000 Luhn-valid
// 12-digit numbers sharing a first 4 and last 4, over two merchants: their
// card-shaped tokens share 9,000 possible middles, so dozens of draws
// collide (about 55 expected). Every card still gets a token of its own,
// and no card was overwritten by another: each token answers its own
// card's fingerprint, and reveals its own number.
func TestCardShapedTokenCollisionsAreRetried(t *testing.T) {
	app := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	v := vaulttest.Start(t, app)
	var numbers, merchants []string
	for i := range 1000 {
		// 8888, three digits, the one digit that makes the whole
		// Luhn-valid, 4321.
		partial := fmt.Sprintf("8888%03d", i)
		for d := byte('0'); d <= '9'; d++ {
			if n := partial + string(d) + "4321"; card.Luhn(n) {
				numbers = append(numbers, n)
				break
			}
		}
		merchants = append(merchants, []string{"m_a", "m_b"}[i%2])
	}
	answers := vaultMany(t, v, app.ID, merchants, numbers)
	owner := map[string]int{}
	for i, r := range answers {
		if j, taken := owner[r.Token]; taken {
			t.Fatalf("cards %d and %d got the same token", j, i)
		}
		owner[r.Token] = i
	}
	cards := 0
	for _, item := range v.Items() {
		if pk, ok := item["pk"].(*types.AttributeValueMemberS); ok && strings.HasPrefix(pk.Value, "CARD#") {
			cards++
		}
	}
	if cards != len(numbers) {
		t.Fatalf("%d card records for %d cards", cards, len(numbers))
	}
	// Each token holds its own card: the stored record's merchant and
	// fingerprint, and for a sample the number a reveal opens.
	for i, r := range answers {
		rec, err := v.Env.Store.Card(context.Background(), r.Token)
		if err != nil || rec.MerchantID != merchants[i] || rec.Fingerprint != r.Fingerprint {
			t.Fatalf("card %d: its token holds another card (%v)", i, err)
		}
		if i%100 == 0 {
			rv := reveal(t, app, merchants[i], r.Token)
			if rv.Status != http.StatusOK || app.OpenResponse(t, rv.Body)["card"].(map[string]any)["number"] != numbers[i] {
				t.Fatalf("card %d: its token reveals another number", i)
			}
		}
	}
}
