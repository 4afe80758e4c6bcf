package localmode_test

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/internal/vaulttest"
)

func customerCardsPath(merchant, customer string) string {
	return "/v1/merchants/" + url.PathEscape(merchant) + "/customers/" + url.PathEscape(customer) + "/cards"
}

func fingerprintCardsPath(merchant, fingerprint string) string {
	return "/v1/merchants/" + url.PathEscape(merchant) + "/fingerprints/" + url.PathEscape(fingerprint) + "/cards"
}

// listAll follows next_cursor from the first page to the last and returns
// every card and every page's size.
func listAll(t *testing.T, c *vaulttest.Client, merchant, path string, claims map[string]any) (cards []map[string]any, pages []int) {
	t.Helper()
	cursor := ""
	for range 100 {
		extra := map[string]any{}
		for k, v := range claims {
			extra[k] = v
		}
		if cursor != "" {
			extra["cursor"] = cursor
		}
		r := c.Call(t, http.MethodGet, path, "list_cards", merchant, extra)
		if r.Status != http.StatusOK || r.JSON["merchant_id"] != merchant {
			t.Fatalf("list_cards: %d %s", r.Status, r.Body)
		}
		page, _ := r.JSON["cards"].([]any)
		if r.JSON["cards"] == nil {
			t.Fatalf("list_cards: no cards array: %s", r.Body)
		}
		pages = append(pages, len(page))
		for _, card := range page {
			cards = append(cards, card.(map[string]any))
		}
		next, present := r.JSON["next_cursor"]
		if !present {
			t.Fatalf("list_cards: next_cursor missing: %s", r.Body)
		}
		if next == nil {
			return cards, pages
		}
		cursor = next.(string)
	}
	t.Fatal("list_cards: more than 100 pages")
	return nil, nil
}

// TestListCards: a customer's saved cards and a fingerprint's, newest
// first (created_at, then token), paged by cursor; never a deleted or
// past-ttl card, always a card past its expiry month.
func TestListCards(t *testing.T) {
	app := vaulttest.NewClient("app", jose.ES256, []string{"m_list", "m_other"})
	v := vaulttest.Start(t, app)
	vaultFor := func(customer, number string, extra map[string]any) map[string]any {
		t.Helper()
		claims := map[string]any{"customer_id": customer, "card": testCard(number)}
		for k, val := range extra {
			claims[k] = val
		}
		r := app.VaultCard(t, "m_list", claims, jose.ECDH_ES_A256KW)
		if r.Status != http.StatusCreated {
			t.Fatalf("vault: %d %s", r.Status, r.Body)
		}
		return r.JSON
	}

	// Fourteen cards over five seconds, several in the same second, both
	// token formats.
	var all []map[string]any
	for i := range 14 {
		extra := map[string]any{}
		if i%3 == 0 {
			extra["token_format"] = "card"
		}
		all = append(all, vaultFor("c_list", luhnNumber(fmt.Sprintf("8%013d", 5000+i)), extra))
		if i%3 == 2 {
			v.Advance(time.Second)
		}
	}
	now := v.Now()
	endingThisMonth := testCard(luhnNumber("800000000000077"))
	endingThisMonth["exp_month"], endingThisMonth["exp_year"] = int(now.Month()), now.Year()
	r := app.VaultCard(t, "m_list", map[string]any{"customer_id": "c_list", "card": endingThisMonth}, jose.ECDH_ES_A256KW)
	if r.Status != http.StatusCreated {
		t.Fatalf("vault: %d %s", r.Status, r.Body)
	}
	pastExpiry := r.JSON
	withTTL := vaultFor("c_list", luhnNumber("800000000000088"), map[string]any{"ttl_seconds": 60})
	deleted := []map[string]any{all[4], all[9]}
	for _, d := range deleted {
		tok := d["token"].(string)
		if r := app.Call(t, http.MethodDelete, "/v1/cards/"+tok, "delete_card", "m_list", map[string]any{"token": tok}); r.Status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
	}
	// Another customer's card of the same number as all[0].
	sameNumber := vaultFor("c_twin", luhnNumber(fmt.Sprintf("8%013d", 5000)), nil)
	v.Advance(2 * 366 * 24 * time.Hour) // past the ttl card's end and the expiry month

	want := []map[string]any{pastExpiry}
	for _, c := range all {
		if c["token"] != deleted[0]["token"] && c["token"] != deleted[1]["token"] {
			want = append(want, c)
		}
	}
	sort.Slice(want, func(i, j int) bool {
		a, b := want[i], want[j]
		if a["created_at"] != b["created_at"] {
			return a["created_at"].(string) > b["created_at"].(string)
		}
		return a["token"].(string) > b["token"].(string)
	})

	got, pages := listAll(t, app, "m_list", customerCardsPath("m_list", "c_list"), map[string]any{"customer_id": "c_list", "limit": 4})
	if len(got) != len(want) {
		t.Fatalf("listed %d cards (pages %v), want %d", len(got), pages, len(want))
	}
	for i := range want {
		if got[i]["token"] != want[i]["token"] {
			t.Fatalf("card %d: %v, want %v (not newest first, then by token)", i, got[i]["token"], want[i]["token"])
		}
		if got[i]["token"] == withTTL["token"] {
			t.Fatal("a card past its ttl_seconds is listed")
		}
	}
	for _, n := range pages {
		if n > 4 {
			t.Fatalf("a page of %d cards with limit 4", n)
		}
	}
	// Each listed card is the get_masked object.
	masked := app.GetMasked(t, "m_list", want[3]["token"].(string))
	for k, val := range masked.JSON {
		if fmt.Sprint(got[3][k]) != fmt.Sprint(val) {
			t.Errorf("listed card member %s = %v, get_masked answers %v", k, got[3][k], val)
		}
	}
	if _, has := got[3]["duplicate"]; has || len(got[3]) != len(masked.JSON) {
		t.Errorf("listed card %v is not the get_masked object %v", got[3], masked.JSON)
	}
	// Default limit 25: everything on one page.
	if _, pages := listAll(t, app, "m_list", customerCardsPath("m_list", "c_list"), map[string]any{"customer_id": "c_list"}); len(pages) != 1 {
		t.Errorf("default limit: pages %v", pages)
	}

	// By fingerprint: the same number across customers.
	fp := sameNumber["fingerprint"].(string)
	byFP, _ := listAll(t, app, "m_list", fingerprintCardsPath("m_list", fp), map[string]any{"fingerprint": fp, "limit": 1})
	if len(byFP) != 2 || byFP[0]["token"] != sameNumber["token"] || byFP[1]["token"] != all[0]["token"] {
		t.Fatalf("by fingerprint: %v", byFP)
	}
	// Nobody's cards: an empty page, no cursor.
	if cards, pages := listAll(t, app, "m_list", customerCardsPath("m_list", "c_nobody"), map[string]any{"customer_id": "c_nobody"}); len(cards) != 0 || len(pages) != 1 {
		t.Errorf("an unknown customer: %v", cards)
	}
	if cards, _ := listAll(t, app, "m_other", customerCardsPath("m_other", "c_list"), map[string]any{"customer_id": "c_list"}); len(cards) != 0 {
		t.Error("another merchant's listing shows this merchant's cards")
	}
}

// TestListCardsRefusals: the claims and cursor rules, each refusal
// changing nothing; a shredded merchant answers 404.
func TestListCardsRefusals(t *testing.T) {
	app := vaulttest.NewClient("app", jose.ES256, []string{"m_1", "m_2"})
	narrow := vaulttest.NewClient("narrow", jose.ES256, []string{"m_1"}, "get_masked")
	v := vaulttest.Start(t, app, narrow)
	var fp string
	for i := range 3 {
		r := app.VaultCard(t, "m_1", map[string]any{"customer_id": "c_1", "card": testCard(luhnNumber(fmt.Sprintf("8%013d", i)))}, jose.ECDH_ES_A256KW)
		if r.Status != http.StatusCreated {
			t.Fatalf("vault: %d %s", r.Status, r.Body)
		}
		fp = r.JSON["fingerprint"].(string)
	}
	app.VaultCard(t, "m_1", map[string]any{"customer_id": "c_2", "card": testCard(testPAN)}, jose.ECDH_ES_A256KW)
	app.VaultCard(t, "m_2", map[string]any{"customer_id": "c_1", "card": testCard(testPAN)}, jose.ECDH_ES_A256KW)

	custPath := customerCardsPath("m_1", "c_1")
	first := app.Call(t, http.MethodGet, custPath, "list_cards", "m_1", map[string]any{"customer_id": "c_1", "limit": 1})
	cursor, _ := first.JSON["next_cursor"].(string)
	if first.Status != http.StatusOK || cursor == "" {
		t.Fatalf("setup: %d %s", first.Status, first.Body)
	}
	other := app.Call(t, http.MethodGet, customerCardsPath("m_1", "c_2"), "list_cards", "m_1", map[string]any{"customer_id": "c_2", "limit": 1})
	if other.Status != http.StatusOK {
		t.Fatalf("setup: %d %s", other.Status, other.Body)
	}

	before := v.TableDump()
	for _, c := range []struct {
		name     string
		path     string
		merchant string
		claims   map[string]any
		status   int
		code     string
	}{
		{"customer_id missing", custPath, "m_1", map[string]any{}, 400, "malformed_request"},
		{"customer_id not a string", custPath, "m_1", map[string]any{"customer_id": 1}, 400, "malformed_request"},
		{"customer_id another", custPath, "m_1", map[string]any{"customer_id": "c_2"}, 403, "forbidden"},
		{"fingerprint missing", fingerprintCardsPath("m_1", fp), "m_1", map[string]any{"customer_id": "c_1"}, 400, "malformed_request"},
		{"fingerprint another", fingerprintCardsPath("m_1", fp), "m_1", map[string]any{"fingerprint": "fp_x"}, 403, "forbidden"},
		{"merchant another", custPath, "m_2", map[string]any{"customer_id": "c_1"}, 403, "forbidden"},
		{"limit 0", custPath, "m_1", map[string]any{"customer_id": "c_1", "limit": 0}, 400, "malformed_request"},
		{"limit 101", custPath, "m_1", map[string]any{"customer_id": "c_1", "limit": 101}, 400, "malformed_request"},
		{"limit a string", custPath, "m_1", map[string]any{"customer_id": "c_1", "limit": "5"}, 400, "malformed_request"},
		{"limit a fraction", custPath, "m_1", map[string]any{"customer_id": "c_1", "limit": 1.5}, 400, "malformed_request"},
		{"limit null", custPath, "m_1", map[string]any{"customer_id": "c_1", "limit": nil}, 400, "malformed_request"},
		{"cursor garbage", custPath, "m_1", map[string]any{"customer_id": "c_1", "cursor": "not-a-cursor"}, 400, "malformed_request"},
		{"cursor empty", custPath, "m_1", map[string]any{"customer_id": "c_1", "cursor": ""}, 400, "malformed_request"},
		{"cursor null", custPath, "m_1", map[string]any{"customer_id": "c_1", "cursor": nil}, 400, "malformed_request"},
		{"cursor not a string", custPath, "m_1", map[string]any{"customer_id": "c_1", "cursor": 7}, 400, "malformed_request"},
		{"cursor of another customer", custPath, "m_1", map[string]any{"customer_id": "c_1", "cursor": "x" + cursor[1:]}, 400, "malformed_request"},
		{"cursor of another route", fingerprintCardsPath("m_1", fp), "m_1", map[string]any{"fingerprint": fp, "cursor": cursor}, 400, "malformed_request"},
		{"cursor of another merchant", customerCardsPath("m_2", "c_1"), "m_2", map[string]any{"customer_id": "c_1", "cursor": cursor}, 400, "malformed_request"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := app.Call(t, http.MethodGet, c.path, "list_cards", c.merchant, c.claims)
			if r.Status != c.status || r.Code() != c.code {
				t.Fatalf("%d %q, want %d %q: %s", r.Status, r.Code(), c.status, c.code, r.Body)
			}
		})
	}
	// A cursor of c_2's listing on c_1's.
	if next, _ := other.JSON["next_cursor"].(string); next != "" {
		if r := app.Call(t, http.MethodGet, custPath, "list_cards", "m_1", map[string]any{"customer_id": "c_1", "cursor": next}); r.Status != 400 {
			t.Errorf("another customer's cursor: %d", r.Status)
		}
	}
	if r := narrow.Call(t, http.MethodGet, custPath, "list_cards", "m_1", map[string]any{"customer_id": "c_1"}); r.Status != 403 {
		t.Errorf("a client without list_cards: %d", r.Status)
	}
	if after := v.TableDump(); after != before {
		t.Error("a refused list_cards changed the table")
	}

	// Replayed, then shredded.
	jws := app.Sign(t, app.Claims("list_cards", "m_1", map[string]any{"customer_id": "c_1", "cursor": cursor}))
	if r := app.Bearer(http.MethodGet, custPath, jws); r.Status != http.StatusOK {
		t.Fatalf("second page: %d %s", r.Status, r.Body)
	}
	if r := app.Bearer(http.MethodGet, custPath, jws); r.Status != http.StatusConflict || r.Code() != "replayed" {
		t.Errorf("replay: %d %s", r.Status, r.Body)
	}
	if r := app.Call(t, http.MethodDelete, "/v1/merchants/m_1", "shred_merchant", "m_1", nil); r.Status != http.StatusNoContent {
		t.Fatalf("shred: %d %s", r.Status, r.Body)
	}
	for _, path := range []string{custPath, fingerprintCardsPath("m_1", fp)} {
		claims := map[string]any{"customer_id": "c_1"}
		if path != custPath {
			claims = map[string]any{"fingerprint": fp}
		}
		if r := app.Call(t, http.MethodGet, path, "list_cards", "m_1", claims); r.Status != http.StatusNotFound {
			t.Errorf("shredded merchant: %d %s", r.Status, r.Body)
		}
	}
}
