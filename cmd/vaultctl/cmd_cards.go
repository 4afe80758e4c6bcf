package main

import (
	"context"
	"fmt"

	"github.com/cardvault/vault/shared/client"
	"github.com/cardvault/vault/shared/secret"
)

func runVault(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("vault", "")
	merchant := fs.String("merchant", "", "merchant id (required)")
	customer := fs.String("customer", "", "customer id")
	number := fs.String("number", "", `card number, or "-" to read it from stdin (keeps it out of shell history)`)
	exp := fs.String("exp", "", "expiry MM/YYYY (required)")
	holder := fs.String("holder", "", "card holder name")
	ttl := fs.Int("ttl", 0, "seconds until the card expires from the vault (60 .. 10 years)")
	tokenFormat := fs.String("token-format", "", `token of a new card: "opaque" (tok_..., the vault's default) or "card" (digits shaped like the number)`)
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := required("merchant", *merchant, "number", *number, "exp", *exp); err != nil {
		return err
	}
	month, year, err := parseExpiry(*exp)
	if err != nil {
		return err
	}
	pan, err := a.valueOrStdin("card number", *number)
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	rec, err := c.VaultCard(ctx, client.VaultCardRequest{
		MerchantID: *merchant,
		CustomerID: *customer,
		Card: client.Card{
			Number:     secret.New(pan),
			ExpMonth:   month,
			ExpYear:    year,
			HolderName: secret.New(*holder),
		},
		TTLSeconds:  *ttl,
		TokenFormat: *tokenFormat,
	})
	if err != nil {
		return err
	}
	return printJSON(a.stdout, rec)
}

// cardArgs parses the --merchant flag and the TOKEN argument shared by the
// commands on one card.
func (a *app) cardArgs(name string, args []string) (merchant, token string, err error) {
	fs := a.newFlagSet(name, "TOKEN")
	m := fs.String("merchant", "", "merchant id (required)")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return "", "", err
	}
	if err := required("merchant", *m); err != nil {
		return "", "", err
	}
	return *m, pos[0], nil
}

func runMasked(ctx context.Context, a *app, args []string) error {
	merchant, token, err := a.cardArgs("masked", args)
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	rec, err := c.GetMasked(ctx, merchant, token)
	if err != nil {
		return err
	}
	// get_masked has no "duplicate": print the view as the vault gave it.
	return printJSON(a.stdout, maskedView{CardRecord: rec})
}

// maskedView prints a CardRecord without the Duplicate flag, which only
// vault_card answers.
type maskedView struct {
	*client.CardRecord
	Duplicate *struct{} `json:"duplicate,omitempty"`
}

// revealedCardView is what `reveal` prints: the one place the CLI takes the
// card out of its secret wrappers, because showing it is the command's job.
type revealedCardView struct {
	MerchantID string `json:"merchant_id"`
	Token      string `json:"token"`
	Card       struct {
		Number     string `json:"number"`
		ExpMonth   int    `json:"exp_month"`
		ExpYear    int    `json:"exp_year"`
		HolderName string `json:"holder_name,omitempty"`
	} `json:"card"`
}

func runReveal(ctx context.Context, a *app, args []string) error {
	merchant, token, err := a.cardArgs("reveal", args)
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	got, err := c.RevealCard(ctx, merchant, token)
	if err != nil {
		return err
	}
	var view revealedCardView
	view.MerchantID, view.Token = got.MerchantID, got.Token
	view.Card.Number = got.Card.Number.Reveal()
	view.Card.ExpMonth, view.Card.ExpYear = got.Card.ExpMonth, got.Card.ExpYear
	view.Card.HolderName = got.Card.HolderName.Reveal()
	return printJSON(a.stdout, view)
}

func runDelete(ctx context.Context, a *app, args []string) error {
	merchant, token, err := a.cardArgs("delete", args)
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	if err := c.DeleteCard(ctx, merchant, token); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "deleted card %s\n", token)
	return nil
}
