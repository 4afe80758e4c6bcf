package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/cardvault/vault/shared/client"
)

func runCards(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return usageError("cards needs a subcommand: list")
	}
	switch args[0] {
	case "list":
		return runCardsList(ctx, a, args[1:])
	default:
		return usageError("unknown cards subcommand %q (list)", args[0])
	}
}

// runCardsList prints one page of a customer's or a fingerprint's saved
// cards: a table, or with --json the vault's answer as it came.
func runCardsList(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("cards list", "")
	merchant := fs.String("merchant", "", "merchant id (required)")
	customer := fs.String("customer", "", "list this customer's cards")
	fingerprint := fs.String("fingerprint", "", "list the cards of this fingerprint (the same number, across customers)")
	limit := fs.Int("limit", 0, "cards per page, 1..100 (default: the vault's, 25)")
	cursor := fs.String("cursor", "", "next_cursor of the page before")
	asJSON := fs.Bool("json", false, "print the vault's JSON answer instead of a table")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := required("merchant", *merchant); err != nil {
		return err
	}
	if (*customer == "") == (*fingerprint == "") {
		return usageError("cards list needs --customer or --fingerprint (one of them)")
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	list, err := c.ListCards(ctx, client.ListCardsRequest{
		MerchantID: *merchant, CustomerID: *customer, Fingerprint: *fingerprint,
		Limit: *limit, Cursor: *cursor,
	})
	if err != nil {
		return err
	}
	if *asJSON {
		var next *string
		if list.NextCursor != "" {
			next = &list.NextCursor
		}
		// The cards as get_masked shows them: no "duplicate".
		cards := make([]maskedView, 0, len(list.Cards))
		for _, card := range list.Cards {
			cards = append(cards, maskedView{CardRecord: card})
		}
		return printJSON(a.stdout, struct {
			MerchantID string       `json:"merchant_id"`
			Cards      []maskedView `json:"cards"`
			NextCursor *string      `json:"next_cursor"`
		}{list.MerchantID, cards, next})
	}
	w := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "TOKEN\tCUSTOMER\tBRAND\tCARD\tEXPIRES\tCREATED")
	for _, card := range list.Cards {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%02d/%d\t%s\n", card.Token, orDash(card.CustomerID), card.Masked.Brand,
			card.Masked.Display, card.Masked.ExpMonth, card.Masked.ExpYear, card.CreatedAt.UTC().Format(time.RFC3339))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if list.NextCursor != "" {
		fmt.Fprintf(a.stderr, "more cards: --cursor %s\n", list.NextCursor)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
