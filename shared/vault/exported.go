package vault

import (
	"context"
	"errors"

	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/secret"
)

// MerchantRecords lists a merchant's sealed records, cards and secrets,
// page by page: what an export needs to find the merchant's cards. It
// reads the same index rotation does, so it holds references and
// ciphertexts only.
type MerchantRecords interface {
	RecordsOf(ctx context.Context, merchantID string, cursor string, limit int) ([]SealedRecord, string, error)
}

// ExportedCard is one card of an export, in the clear, on its way into
// the file encrypted to the receiving provider.
type ExportedCard struct {
	Token      string
	CustomerID string
	Number     secret.Secret[string]
	ExpMonth   int
	ExpYear    int
	HolderName secret.Secret[string]
}

// exportPage is how many records an export lists at a time.
const exportPage = 200

// ExportCards opens every live card of the merchant (deleted and expired
// ones are skipped, secrets are not cards) and hands it to each, one at
// a time: no more than a page of references is held at once. include,
// if set, picks the cards by customer id. It returns how many cards it
// handed on. A card that fails authentication stops the export with
// integrity_error: an export must never silently miss a card.
func (v *CardVault) ExportCards(ctx context.Context, merchantID string, records MerchantRecords, include func(customerID string) bool, each func(ExportedCard) error) (int, Trace, error) {
	var trace Trace
	if err := checkMerchant(ctx, v.merchants, merchantID); err != nil {
		return 0, trace, err
	}
	exported := 0
	cursor := ""
	for {
		page, next, err := records.RecordsOf(ctx, merchantID, cursor, exportPage)
		if err != nil {
			return exported, trace, err
		}
		for _, r := range page {
			if r.Ref.Type != envelope.RecordCard {
				continue
			}
			rec, err := v.cards.Card(ctx, r.Ref.ID)
			if errors.Is(err, ErrNotFound) {
				continue // deleted since it was listed
			}
			if err != nil {
				return exported, trace, err
			}
			now := v.now().UTC()
			if rec.MerchantID != merchantID || rec.Deleted || expired(rec, now) {
				continue
			}
			if include != nil && !include(rec.CustomerID) {
				continue
			}
			sc, usage, err := v.openCard(ctx, rec)
			trace.usedKeys(usage)
			if err != nil {
				return exported, trace, err
			}
			err = each(ExportedCard{
				Token:      rec.Token,
				CustomerID: rec.CustomerID,
				Number:     secret.New(sc.Number),
				ExpMonth:   sc.ExpMonth,
				ExpYear:    sc.ExpYear,
				HolderName: secret.New(sc.HolderName),
			})
			if err != nil {
				return exported, trace, err
			}
			exported++
		}
		if next == "" {
			return exported, trace, nil
		}
		cursor = next
	}
}
