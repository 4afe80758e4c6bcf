package client_test

import (
	"context"
	"errors"
	"log"

	"github.com/cardvault/vault/shared/client"
	"github.com/cardvault/vault/shared/secret"
)

// An app server vaults a card, keeps only the token, and reveals the card
// when it has to charge it.
func Example() {
	creds, err := client.LoadCredentials(".vault-local/demo-client.json")
	if err != nil {
		log.Fatal(err)
	}
	vault := client.New("http://127.0.0.1:3000", creds)
	ctx := context.Background()

	rec, err := vault.VaultCard(ctx, client.VaultCardRequest{
		MerchantID: "m_123",
		CustomerID: "c_9",
		Card: client.Card{
			Number:   secret.New("4242424242424242"),
			ExpMonth: 12,
			ExpYear:  2030,
		},
	})
	var apiErr *client.APIError
	if errors.As(err, &apiErr) && apiErr.Code == client.CodeInvalidCard {
		log.Printf("card refused: %s", apiErr.Message)
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("vaulted %s as %s", rec.Masked.Display, rec.Token)

	card, err := vault.RevealCard(ctx, "m_123", rec.Token)
	if err != nil {
		log.Fatal(err)
	}
	_ = card.Card.Number.Reveal() // hand to the payment processor, never to a log
}
