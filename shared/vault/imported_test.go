package vault_test

import (
	"context"
	"testing"

	"github.com/cardvault/vault/shared/card"
	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

func importedCard(f *fixture, customer, number string, format vault.TokenFormat) vault.ImportedCard {
	f.t.Helper()
	tok, err := vault.ImportToken(format, secret.New(number))
	if err != nil {
		f.t.Fatal(err)
	}
	return vault.ImportedCard{CustomerID: customer, Token: tok, Card: vault.CardInput{
		Number: secret.New(number), ExpMonth: 12, ExpYear: f.clock.Now().Year() + 2,
	}}
}

// TestImportedCardsTakeCardShapedTokensAndRedrawOnCollision: an import
// asking for card-shaped tokens gets them for its new cards (the number's
// length, first 4 and last 4, never Luhn-valid), a row whose drawn token
// another card already holds is stored under a fresh one, as vault_card's
// collisions are, and a token of another format than the job's is refused
// as the caller's bug it is.
func TestImportedCardsTakeCardShapedTokensAndRedrawOnCollision(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	row := importedCard(f, "cus_1", visa, vault.TokenFormatCard)
	if len(row.Token) != len(visa) || row.Token[:4] != "4242" || row.Token[12:] != "4242" || card.Luhn(row.Token) {
		t.Fatalf("ImportToken(card) = %q", row.Token)
	}
	// Another card already holds the token the row drew.
	other := f.vault("m_imp", "cus_9", mastercard)
	taken := vault.CardRecord{Token: row.Token, MerchantID: "m_imp", CustomerID: "cus_9", Fingerprint: other.Fingerprint,
		CreatedAt: f.clock.Now(), UpdatedAt: f.clock.Now()}
	if err := f.store.CreateCard(ctx, taken); err != nil {
		t.Fatal(err)
	}
	fresh := importedCard(f, "cus_2", mastercard, vault.TokenFormatCard)
	res, err := f.cards.VaultImported(ctx, "m_imp", vault.TokenFormatCard, []vault.ImportedCard{row, fresh})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil || r.View.Duplicate {
			t.Fatalf("row %d: %+v", i, r)
		}
	}
	if got := res[0].View.Token; got == row.Token || len(got) != len(visa) || got[:4] != "4242" || got[12:] != "4242" || card.Luhn(got) {
		t.Fatalf("a colliding row's token %q (drawn %q): not redrawn card-shaped", got, row.Token)
	}
	if res[1].View.Token != fresh.Token {
		t.Fatalf("a row without collision got %q, not its drawn %q", res[1].View.Token, fresh.Token)
	}
	// The same row again is the card it vaulted: a duplicate, same token.
	again, err := f.cards.VaultImported(ctx, "m_imp", vault.TokenFormatCard, []vault.ImportedCard{importedCard(f, "cus_2", mastercard, vault.TokenFormatCard)})
	if err != nil || again[0].Err != nil || !again[0].View.Duplicate || again[0].View.Token != fresh.Token {
		t.Fatalf("repeat: %+v %v", again, err)
	}
	// An opaque token in a card-format job is a bug of the caller.
	wrong := importedCard(f, "cus_3", "378282246310005", vault.TokenFormatOpaque)
	if out, err := f.cards.VaultImported(ctx, "m_imp", vault.TokenFormatCard, []vault.ImportedCard{wrong}); vaulterr.CodeOf(err) != vaulterr.Internal {
		t.Fatalf("a token of another format was accepted: %+v %v", out, err)
	}
	if _, err := f.cards.VaultImported(ctx, "m_imp", "short", nil); vaulterr.CodeOf(err) != vaulterr.Malformed {
		t.Fatalf("unknown token format: %v", err)
	}
}
