package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
	"github.com/cardvault/vault/shared/wire"
)

// Sealer seals a response for the client that asked: a JWS by the vault,
// inside a JWE to the client's registered key.
type Sealer interface {
	SealResponse(c *wire.Client, claims any) (string, error)
}

// revealedCardClaims is the payload of a reveal_card response. It exists
// only long enough to be sealed.
type revealedCardClaims struct {
	Issuer     string          `json:"iss"`
	Audience   string          `json:"aud"`
	IssuedAt   int64           `json:"iat"`
	JTI        string          `json:"jti"`
	MerchantID string          `json:"merchant_id"`
	Token      string          `json:"token"`
	Card       revealedCardObj `json:"card"`
}

type revealedCardObj struct {
	Number     string `json:"number"`
	ExpMonth   int    `json:"exp_month"`
	ExpYear    int    `json:"exp_year"`
	HolderName string `json:"holder_name,omitempty"`
}

type revealedSecretClaims struct {
	Issuer     string `json:"iss"`
	Audience   string `json:"aud"`
	IssuedAt   int64  `json:"iat"`
	JTI        string `json:"jti"`
	MerchantID string `json:"merchant_id"`
	Name       string `json:"name"`
	Version    uint32 `json:"version"`
	Value      string `json:"value"`
}

// canReceive refuses a reveal to a client with no registered encryption
// key before anything is read or its request id spent: the response could
// not be sealed for it.
func canReceive(r *Request) error {
	if !r.Auth.Client.HasEncryptionKey() {
		return vaulterr.New(vaulterr.Forbidden, "client has no registered encryption key for responses")
	}
	return nil
}

// RevealCardRoutes are the routes of the reveal-card function.
func RevealCardRoutes(v *vault.CardVault, sealer Sealer, now func() time.Time) []Route {
	return []Route{{
		Method: http.MethodPost, Path: "/v1/cards/{token}/reveal", Op: wire.OpRevealCard, Body: Bearer,
		Handle: func(ctx context.Context, r *Request) (Reply, error) {
			if err := canReceive(r); err != nil {
				return Reply{}, err
			}
			card, trace, err := v.RevealCard(ctx, r.Caller(), r.Params["token"])
			if err != nil {
				return Reply{Trace: trace}, err
			}
			jwe, err := sealer.SealResponse(r.Auth.Client, revealedCardClaims{
				Issuer: wire.Audience, Audience: r.Auth.Client.ID, IssuedAt: now().Unix(), JTI: r.Auth.JTI,
				MerchantID: card.MerchantID, Token: card.Token,
				Card: revealedCardObj{Number: card.Number.Reveal(), ExpMonth: card.ExpMonth, ExpYear: card.ExpYear, HolderName: card.HolderName.Reveal()},
			})
			if err != nil {
				return Reply{Trace: trace}, err
			}
			return Reply{Status: http.StatusOK, JOSE: jwe, Trace: trace}, nil
		},
	}}
}

// DeleteCardRoutes are the routes of the delete-card function.
func DeleteCardRoutes(d *vault.CardDeleter) []Route {
	return []Route{{
		Method: http.MethodDelete, Path: "/v1/cards/{token}", Op: wire.OpDeleteCard, Body: Bearer,
		Handle: func(ctx context.Context, r *Request) (Reply, error) {
			trace, err := d.DeleteCard(ctx, r.Caller(), r.Params["token"])
			if err != nil {
				return Reply{Trace: trace}, err
			}
			return Reply{Status: http.StatusNoContent, Trace: trace}, nil
		},
	}}
}

// PutSecretRoutes are the routes of the put-secret function.
func PutSecretRoutes(s *vault.SecretVault) []Route {
	return []Route{{
		Method: http.MethodPut, Path: "/v1/merchants/{merchant_id}/secrets/{name}", Op: wire.OpPutSecret, Body: JOSEBody,
		Handle: func(ctx context.Context, r *Request) (Reply, error) {
			in, err := decodePutSecret(r)
			if err != nil {
				return Reply{}, err
			}
			view, trace, err := s.PutSecret(ctx, in)
			if err != nil {
				return Reply{Trace: trace}, err
			}
			status := http.StatusOK
			if view.Created {
				status = http.StatusCreated
			}
			return Reply{Status: status, JSON: secretJSON(view), Trace: trace}, nil
		},
	}}
}

// RevealSecretRoutes are the routes of the reveal-secret function.
func RevealSecretRoutes(s *vault.SecretVault, sealer Sealer, now func() time.Time) []Route {
	return []Route{{
		Method: http.MethodPost, Path: "/v1/merchants/{merchant_id}/secrets/{name}/reveal", Op: wire.OpRevealSecret, Body: Bearer,
		Handle: func(ctx context.Context, r *Request) (Reply, error) {
			if err := canReceive(r); err != nil {
				return Reply{}, err
			}
			sec, trace, err := s.RevealSecret(ctx, r.Caller(), r.Params["name"])
			if err != nil {
				return Reply{Trace: trace}, err
			}
			jwe, err := sealer.SealResponse(r.Auth.Client, revealedSecretClaims{
				Issuer: wire.Audience, Audience: r.Auth.Client.ID, IssuedAt: now().Unix(), JTI: r.Auth.JTI,
				MerchantID: sec.MerchantID, Name: sec.Name, Version: sec.Version, Value: sec.Value.Reveal(),
			})
			if err != nil {
				return Reply{Trace: trace}, err
			}
			return Reply{Status: http.StatusOK, JOSE: jwe, Trace: trace}, nil
		},
	}}
}

// SecretMetadataRoutes are the routes of the secret-metadata function.
func SecretMetadataRoutes(m *vault.SecretMetadata) []Route {
	return []Route{
		{
			Method: http.MethodGet, Path: "/v1/merchants/{merchant_id}/secrets/{name}", Op: wire.OpGetSecret, Body: Bearer,
			Handle: func(ctx context.Context, r *Request) (Reply, error) {
				view, trace, err := m.GetSecret(ctx, r.Caller(), r.Params["name"])
				if err != nil {
					return Reply{Trace: trace}, err
				}
				return Reply{Status: http.StatusOK, JSON: secretJSON(view), Trace: trace}, nil
			},
		},
		{
			Method: http.MethodDelete, Path: "/v1/merchants/{merchant_id}/secrets/{name}", Op: wire.OpDeleteSecret, Body: Bearer,
			Handle: func(ctx context.Context, r *Request) (Reply, error) {
				trace, err := m.DeleteSecret(ctx, r.Caller(), r.Params["name"])
				if err != nil {
					return Reply{Trace: trace}, err
				}
				return Reply{Status: http.StatusNoContent, Trace: trace}, nil
			},
		},
	}
}

// decodePutSecret reads put_secret's own claims through the strict
// reader, like every claim of every operation: names match exactly, and
// one that differs only in case (VALUE) is refused, never taken for value.
func decodePutSecret(r *Request) (vault.PutSecretInput, error) {
	claims := r.Auth.Claims()
	value, hasValue, err := claims.String("value")
	if err != nil || !hasValue {
		return vault.PutSecretInput{}, malformed("claim value is required and must be a string")
	}
	metadata, _, err := claims.StringMap("metadata")
	if err != nil {
		return vault.PutSecretInput{}, malformed("claim metadata must be an object of strings")
	}
	return vault.PutSecretInput{
		Caller:   r.Caller(),
		Name:     r.Params["name"],
		Value:    secret.New(value),
		Metadata: metadata,
	}, nil
}

type secretResponse struct {
	MerchantID string            `json:"merchant_id"`
	Name       string            `json:"name"`
	Version    uint32            `json:"version"`
	Masked     string            `json:"masked"`
	Metadata   map[string]string `json:"metadata"`
	CreatedAt  string            `json:"created_at"`
	UpdatedAt  string            `json:"updated_at"`
}

func secretJSON(v vault.SecretView) secretResponse {
	md := v.Metadata
	if md == nil {
		md = map[string]string{}
	}
	return secretResponse{
		MerchantID: v.MerchantID, Name: v.Name, Version: v.Version, Masked: v.Masked, Metadata: md,
		CreatedAt: v.CreatedAt.UTC().Format(time.RFC3339), UpdatedAt: v.UpdatedAt.UTC().Format(time.RFC3339),
	}
}
