package httpapi

import (
	"context"
	"net/http"

	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
	"github.com/cardvault/vault/shared/wire"
)

// ListCardsRoutes are the two list_cards routes: a customer's saved
// cards and the cards of one fingerprint. They are served by the
// get-masked function, which holds no key: a listing shows masked views
// only.
func ListCardsRoutes(l *vault.CardListings) []Route {
	route := func(path, param string, by vault.CardListBy) Route {
		return Route{
			Method: http.MethodGet, Path: path, Op: wire.OpListCards, Body: Bearer,
			Handle: func(ctx context.Context, r *Request) (Reply, error) {
				in, err := decodeListCards(r, param, by)
				if err != nil {
					return Reply{}, err
				}
				list, trace, err := l.ListCards(ctx, in)
				if err != nil {
					return Reply{Trace: trace}, err
				}
				return Reply{Status: http.StatusOK, JSON: cardListJSON(list), Trace: trace}, nil
			},
		}
	}
	return []Route{
		route("/v1/merchants/{merchant_id}/customers/{customer_id}/cards", "customer_id", vault.ListByCustomer),
		route("/v1/merchants/{merchant_id}/fingerprints/{fingerprint}/cards", "fingerprint", vault.ListByFingerprint),
	}
}

// decodeListCards reads list_cards' claims: the route's customer or
// fingerprint (missing 400, another 403, like the token and name claims of
// other routes), an optional limit and an optional cursor. null is not a
// way to leave limit or cursor out.
func decodeListCards(r *Request, param string, by vault.CardListBy) (vault.ListCardsInput, error) {
	claims := r.Auth.Claims()
	subject, present, err := claims.String(param)
	if err != nil || !present {
		return vault.ListCardsInput{}, malformed("claim " + param + " must be the route's " + param)
	}
	if subject != r.Params[param] {
		return vault.ListCardsInput{}, vaulterr.New(vaulterr.Forbidden, "claim "+param+" does not match the route")
	}
	in := vault.ListCardsInput{Caller: r.Caller(), By: by, Subject: subject}
	if _, sent := r.Auth.Claim("limit"); sent {
		limit, present, err := claims.Int("limit")
		if err != nil || !present || limit < 1 || limit > vault.MaxListLimit {
			return vault.ListCardsInput{}, malformed("claim limit must be an integer from 1 to 100")
		}
		in.Limit = limit
	}
	if _, sent := r.Auth.Claim("cursor"); sent {
		cursor, present, err := claims.String("cursor")
		if err != nil || !present || cursor == "" {
			return vault.ListCardsInput{}, malformed("claim cursor must be a next_cursor of this listing")
		}
		in.Cursor = cursor
	}
	return in, nil
}

// cardListResponse is the contract's list_cards JSON: next_cursor is
// null on the last page.
type cardListResponse struct {
	MerchantID string         `json:"merchant_id"`
	Cards      []cardResponse `json:"cards"`
	NextCursor *string        `json:"next_cursor"`
}

func cardListJSON(l vault.CardList) cardListResponse {
	out := cardListResponse{MerchantID: l.MerchantID, Cards: make([]cardResponse, 0, len(l.Cards))}
	for _, v := range l.Cards {
		out.Cards = append(out.Cards, cardJSON(v, false))
	}
	if l.NextCursor != "" {
		next := l.NextCursor
		out.NextCursor = &next
	}
	return out
}
