package localmode_test

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/card"
	"github.com/cardvault/vault/shared/internal/vaulttest"
)

// luhnNumber completes a partial number with its Luhn check digit.
func luhnNumber(partial string) string { return partial + string(card.LuhnCheckDigit(partial)) }

// vaultMany vaults each claims set with up to 4 requests in flight and
// returns the answers in order.
func vaultMany(t *testing.T, c *vaulttest.Client, merchants []string, claims []map[string]any) []*vaulttest.Response {
	t.Helper()
	out := make([]*vaulttest.Response, len(claims))
	var wg sync.WaitGroup
	next := make(chan int)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = c.VaultCard(t, merchants[i], claims[i], jose.ECDH_ES_A256KW)
			}
		}()
	}
	for i := range claims {
		next <- i
	}
	close(next)
	wg.Wait()
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
	var (
		numbers   []string
		merchants []string
		claims    []map[string]any
	)
	for n := 12; n <= 19; n++ {
		for i := range perLength {
			// An IIN no brand claims, so every length is a valid card.
			numbers = append(numbers, luhnNumber(fmt.Sprintf("8%0*d", n-2, i*7919+n)))
			merchants = append(merchants, "m_shape")
			claims = append(claims, map[string]any{"customer_id": "c_shape", "token_format": "card", "card": testCard(numbers[len(numbers)-1])})
		}
	}
	answers := vaultMany(t, app, merchants, claims)
	seen := map[string]bool{}
	var digitCounts [10]int
	middles := 0
	for i, r := range answers {
		number := numbers[i]
		if r.Status != http.StatusCreated {
			t.Fatalf("vault %d-digit card: %d %s", len(number), r.Status, r.Body)
		}
		tok, _ := r.JSON["token"].(string)
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
		masked := r.JSON["masked"].(map[string]any)
		if masked["first4"] != tok[:4] || masked["last4"] != tok[n-4:] {
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

	// Every route that takes a token takes a card-shaped one.
	for _, i := range []int{0, perLength * 3, perLength*8 - 1} {
		number := numbers[i]
		tok := answers[i].JSON["token"].(string)
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
		dup := app.VaultCard(t, "m_shape", map[string]any{"customer_id": "c_shape", "token_format": "opaque", "card": testCard(number)}, jose.ECDH_ES_A256KW)
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
	tok := answers[1].JSON["token"].(string)
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

// TestCardShapedTokenCollisionsAreRetried vaults 600 of the 1,000
// Luhn-valid 12-digit numbers sharing a first 4 and last 4, over two
// merchants: their card-shaped tokens share 9,000 possible middles, so
// draws collide (about 20 expected; none at all has odds of e^-20). Every card still gets a token of its own,
// and no card was overwritten by another: each token answers its own
// card's fingerprint, and reveals its own number.
func TestCardShapedTokenCollisionsAreRetried(t *testing.T) {
	app := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	v := vaulttest.Start(t, app)
	var (
		numbers   []string
		merchants []string
		claims    []map[string]any
	)
	for i := range 600 {
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
		claims = append(claims, map[string]any{"customer_id": "c_1", "token_format": "card", "card": testCard(numbers[i])})
	}
	answers := vaultMany(t, app, merchants, claims)
	owner := map[string]int{}
	for i, r := range answers {
		if r.Status != http.StatusCreated {
			t.Fatalf("card %d: %d %s", i, r.Status, r.Body)
		}
		tok := r.JSON["token"].(string)
		if j, taken := owner[tok]; taken {
			t.Fatalf("cards %d and %d got the same token", j, i)
		}
		owner[tok] = i
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
	for i, r := range answers {
		tok := r.JSON["token"].(string)
		m := app.GetMasked(t, merchants[i], tok)
		if m.Status != http.StatusOK || m.JSON["fingerprint"] != r.JSON["fingerprint"] {
			t.Fatalf("card %d: its token answers %d with another card's fingerprint", i, m.Status)
		}
		if i%50 == 0 {
			rv := reveal(t, app, merchants[i], tok)
			if rv.Status != http.StatusOK || app.OpenResponse(t, rv.Body)["card"].(map[string]any)["number"] != numbers[i] {
				t.Fatalf("card %d: its token reveals another number", i)
			}
		}
	}
}
