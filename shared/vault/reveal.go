package vault

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vaulterr"
)

// RevealedCard is a card in the clear, on its way to be sealed for the
// client that asked for it.
type RevealedCard struct {
	Token      string
	MerchantID string
	Number     secret.Secret[string]
	ExpMonth   int
	ExpYear    int
	HolderName secret.Secret[string]
}

// RevealCard opens the caller's merchant's card.
func (v *CardVault) RevealCard(ctx context.Context, c Caller, token string) (RevealedCard, Trace, error) {
	now := v.now().UTC()
	rec, err := liveCard(ctx, v.cards, v.merchants, c.MerchantID, token, now)
	if err != nil {
		return RevealedCard{}, Trace{}, err
	}
	if err := consume(ctx, v.replay, c, now); err != nil {
		return RevealedCard{}, Trace{}, err
	}
	trace := Trace{Token: rec.Token, KeyVersion: rec.KeyVersion}
	sc, usage, err := v.openCard(ctx, rec)
	trace.usedKeys(usage)
	if err != nil {
		return RevealedCard{}, trace, err
	}
	return RevealedCard{
		Token:      rec.Token,
		MerchantID: rec.MerchantID,
		Number:     secret.New(sc.Number),
		ExpMonth:   sc.ExpMonth,
		ExpYear:    sc.ExpYear,
		HolderName: secret.New(sc.HolderName),
	}, trace, nil
}

// openCard decrypts a card record with its clear fields in the AAD, so a
// record whose clear fields were altered fails like a moved ciphertext.
// It also checks the masked view against the card itself, which is all a
// record written before the clear fields were bound (format 1) has.
func (v *CardVault) openCard(ctx context.Context, rec CardRecord) (sealedCard, envelope.Usage, error) {
	version, err := envelope.KeyVersionOf(rec.Sealed)
	if err != nil || version != rec.KeyVersion {
		return sealedCard{}, envelope.Usage{}, integrityError()
	}
	keys, usage, err := v.keys.Version(ctx, rec.MerchantID, version)
	if errors.Is(err, envelope.ErrNoKey) || errors.Is(err, envelope.ErrShredded) {
		// The merchant was shredded: nothing of it can be decrypted.
		return sealedCard{}, usage, vaulterr.New(vaulterr.NotFound, "no such card")
	}
	if err != nil {
		return sealedCard{}, usage, err
	}
	plaintext, err := keys.Open(cardRef(rec), rec.Sealed)
	if err != nil {
		return sealedCard{}, usage, integrityError()
	}
	defer secret.Wipe(plaintext)
	var sc sealedCard
	if err := json.Unmarshal(plaintext, &sc); err != nil {
		return sealedCard{}, usage, integrityError()
	}
	if !strings.HasPrefix(sc.Number, rec.Masked.First4) || !strings.HasSuffix(sc.Number, rec.Masked.Last4) ||
		sc.ExpMonth != rec.Masked.ExpMonth || sc.ExpYear != rec.Masked.ExpYear {
		return sealedCard{}, usage, integrityError()
	}
	return sc, usage, nil
}

func integrityError() error {
	return vaulterr.New(vaulterr.Integrity, "stored record failed authentication")
}

// CardDeleter deletes cards. It needs no keys, so the function serving
// delete_card holds no decrypt permission.
type CardDeleter struct {
	cards     CardStore
	replay    ReplayGuard
	merchants MerchantStatus
	now       Clock
}

// NewCardDeleter builds a CardDeleter.
func NewCardDeleter(cards CardStore, replay ReplayGuard, merchants MerchantStatus, now Clock) *CardDeleter {
	return &CardDeleter{cards: cards, replay: replay, merchants: merchants, now: now}
}

// DeleteCard deletes the caller's merchant's card and its index entry.
// Vaulting the same card again afterwards makes a new token.
func (d *CardDeleter) DeleteCard(ctx context.Context, c Caller, token string) (Trace, error) {
	t := d.now().UTC()
	rec, err := liveCard(ctx, d.cards, d.merchants, c.MerchantID, token, t)
	if err != nil {
		return Trace{}, err
	}
	if err := consume(ctx, d.replay, c, t); err != nil {
		return Trace{}, err
	}
	trace := Trace{Token: rec.Token, KeyVersion: rec.KeyVersion}
	if err := c.witness(ctx, trace); err != nil {
		return trace, err
	}
	err = d.cards.DeleteCard(ctx, rec)
	if errors.Is(err, ErrNotFound) {
		return trace, vaulterr.New(vaulterr.NotFound, "no such card")
	}
	return trace, err
}
