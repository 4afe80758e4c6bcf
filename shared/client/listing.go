package client

import (
	"context"
	"fmt"
	"net/http"
)

// ListCardsRequest asks for one page of a merchant's saved cards: those of
// one customer (CustomerID) or those of one fingerprint (Fingerprint, the
// same number across customers); exactly one of the two. Limit is 1..100
// (zero: the vault's default, 25); Cursor is the NextCursor of the page
// before, or "" for the first page.
type ListCardsRequest struct {
	MerchantID  string
	CustomerID  string
	Fingerprint string
	Limit       int
	Cursor      string
}

// CardList is one page of list_cards: masked views, newest first. A page
// may hold fewer than Limit cards and still have a NextCursor (entries of
// expired cards are read and left out); NextCursor is "" on the last page.
type CardList struct {
	MerchantID string        `json:"merchant_id"`
	Cards      []*CardRecord `json:"cards"`
	NextCursor string        `json:"-"`
}

// listAnswer is list_cards' JSON, whose next_cursor is null on the last
// page.
type listAnswer struct {
	CardList
	Next *string `json:"next_cursor"`
}

// ListCards returns one page of saved cards; the vault decrypts nothing
// for it.
func (c *Client) ListCards(ctx context.Context, r ListCardsRequest) (*CardList, error) {
	if r.MerchantID == "" {
		return nil, fmt.Errorf("vault client: %s: merchant id is empty", OpListCards)
	}
	if (r.CustomerID == "") == (r.Fingerprint == "") {
		return nil, fmt.Errorf("vault client: %s: give a customer id or a fingerprint, not both", OpListCards)
	}
	merchant, err := segment("merchant id", r.MerchantID)
	if err != nil {
		return nil, err
	}
	kind, claim, subject := "customers", "customer_id", r.CustomerID
	if r.Fingerprint != "" {
		kind, claim, subject = "fingerprints", "fingerprint", r.Fingerprint
	}
	seg, err := segment(claim, subject)
	if err != nil {
		return nil, err
	}
	extra := map[string]any{claim: subject}
	if r.Limit != 0 {
		extra["limit"] = r.Limit
	}
	if r.Cursor != "" {
		extra["cursor"] = r.Cursor
	}
	got, _, err := doJSON[listAnswer](ctx, c, call{
		op: OpListCards, method: http.MethodGet,
		path:       "/v1/merchants/" + merchant + "/" + kind + "/" + seg + "/cards",
		merchantID: r.MerchantID, extra: extra,
	})
	if err != nil {
		return nil, err
	}
	if got.Cards == nil || got.MerchantID != r.MerchantID {
		return nil, fmt.Errorf("%w: not a card list of merchant %s", ErrInvalidAnswer, r.MerchantID)
	}
	list := got.CardList
	if got.Next != nil {
		list.NextCursor = *got.Next
	}
	return &list, nil
}
