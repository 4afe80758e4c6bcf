package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/cardvault/vault/shared/card"
	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
	"github.com/cardvault/vault/shared/wire"
)

// VaultCardRoutes are the routes of the vault-card function.
func VaultCardRoutes(v *vault.CardVault) []Route {
	return []Route{{
		Method: http.MethodPost, Path: "/v1/cards", Op: wire.OpVaultCard, Body: JOSEBody,
		Handle: func(ctx context.Context, r *Request) (Reply, error) {
			in, err := decodeVaultCard(r)
			if err != nil {
				return Reply{}, err
			}
			view, trace, err := v.VaultCard(ctx, in)
			if err != nil {
				return Reply{Trace: trace}, err
			}
			status := http.StatusCreated
			if view.Duplicate {
				status = http.StatusOK
			}
			return Reply{Status: status, JSON: cardJSON(view, true), Trace: trace}, nil
		},
	}}
}

// MaskedRoutes are the routes of the get-masked function.
func MaskedRoutes(m *vault.MaskedViews) []Route {
	return []Route{{
		Method: http.MethodGet, Path: "/v1/cards/{token}", Op: wire.OpGetMasked, Body: Bearer,
		Handle: func(ctx context.Context, r *Request) (Reply, error) {
			view, trace, err := m.GetMasked(ctx, r.Caller(), r.Params["token"])
			if err != nil {
				return Reply{Trace: trace}, err
			}
			return Reply{Status: http.StatusOK, JSON: cardJSON(view, false), Trace: trace}, nil
		},
	}}
}

// decodeVaultCard reads vault_card's own claims from the members the
// strict scan already found: the request path is measured against the
// bare JOSE floor, and decoding the card object with encoding/json was a
// tenth of the vault's own work.
func decodeVaultCard(r *Request) (vault.VaultCardInput, error) {
	claims := r.Auth.Claims()
	c, present, err := claims.Object("card")
	if !present || err != nil {
		return vault.VaultCardInput{}, malformed("claim card must be an object")
	}
	// A verification code is refused whatever else is wrong with the
	// request: it must never be processed, let alone stored.
	if raw, _ := r.Auth.Claim("card"); card.FindCVC(raw) {
		return vault.VaultCardInput{}, vaulterr.New(vaulterr.CVCNotAccepted, "card verification codes are never accepted")
	}
	number, hasNumber, err1 := c.String("number")
	month, hasMonth, err2 := c.Int("exp_month")
	year, hasYear, err3 := c.Int("exp_year")
	holder, hasHolder, err4 := c.String("holder_name")
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return vault.VaultCardInput{}, malformed("claim card has an ill-typed member or one misnamed in case")
	}
	if !hasNumber || !hasMonth || !hasYear {
		return vault.VaultCardInput{}, malformed("claim card needs number, exp_month and exp_year")
	}
	in := vault.VaultCardInput{
		Caller: r.Caller(),
		Card: vault.CardInput{
			Number:   secret.New(number),
			ExpMonth: month,
			ExpYear:  year,
		},
	}
	if hasHolder {
		in.Card.HolderName = secret.New(holder)
	}
	// token_format, when present, is exactly one of the two names: a
	// misspelt format must not silently give the other kind of token.
	if _, ok := r.Auth.Claim("token_format"); ok {
		format, _, err := claims.String("token_format")
		if err != nil || (format != string(vault.TokenFormatOpaque) && format != string(vault.TokenFormatCard)) {
			return vault.VaultCardInput{}, malformed(`claim token_format must be "opaque" or "card"`)
		}
		in.TokenFormat = vault.TokenFormat(format)
	}
	// customer_id and ttl_seconds, when present, must be valid: null is
	// not a way to leave them out. Each is read first, so that a name
	// differing only in case (Customer_ID) is refused, not ignored.
	customer, _, err := claims.String("customer_id")
	if err != nil {
		return vault.VaultCardInput{}, malformed("claim customer_id must be a string")
	}
	ttl, _, err := claims.Int("ttl_seconds")
	if err != nil {
		return vault.VaultCardInput{}, malformed("claim ttl_seconds must be an integer")
	}
	if _, ok := r.Auth.Claim("customer_id"); ok {
		if n := utf8.RuneCountInString(customer); n < 1 || n > 128 {
			return vault.VaultCardInput{}, vaulterr.New(vaulterr.InvalidCard, "customer_id must be 1 to 128 characters")
		}
		in.CustomerID = customer
	}
	if _, ok := r.Auth.Claim("ttl_seconds"); ok {
		if ttl < int(vault.MinCardTTL/time.Second) || ttl > int(vault.MaxCardTTL/time.Second) {
			return vault.VaultCardInput{}, vaulterr.New(vaulterr.InvalidCard, "ttl_seconds must be between 60 and 315360000")
		}
		in.TTL = time.Duration(ttl) * time.Second
	}
	return in, nil
}

// cardResponse is the contract's card JSON.
type cardResponse struct {
	Token       string      `json:"token"`
	MerchantID  string      `json:"merchant_id"`
	CustomerID  string      `json:"customer_id,omitempty"`
	Fingerprint string      `json:"fingerprint"`
	Duplicate   *bool       `json:"duplicate,omitempty"`
	Masked      card.Masked `json:"masked"`
	CreatedAt   string      `json:"created_at"`
}

func cardJSON(v vault.CardView, withDuplicate bool) cardResponse {
	r := cardResponse{
		Token:       v.Token,
		MerchantID:  v.MerchantID,
		CustomerID:  v.CustomerID,
		Fingerprint: v.Fingerprint,
		Masked:      v.Masked,
		CreatedAt:   v.CreatedAt.UTC().Format(time.RFC3339),
	}
	if withDuplicate {
		d := v.Duplicate
		r.Duplicate = &d
	}
	return r
}

func malformed(message string) error { return vaulterr.New(vaulterr.Malformed, message) }
