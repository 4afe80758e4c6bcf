package vault

import "context"

// MaskedViews answers get_masked. It holds no key manager at all: the
// masked fields are stored in the clear beside the ciphertext, so the
// function serving this view runs without any decrypt permission.
type MaskedViews struct {
	cards     CardStore
	replay    ReplayGuard
	merchants MerchantStatus
	now       Clock
}

// NewMaskedViews builds a MaskedViews.
func NewMaskedViews(cards CardStore, replay ReplayGuard, merchants MerchantStatus, now Clock) *MaskedViews {
	return &MaskedViews{cards: cards, replay: replay, merchants: merchants, now: now}
}

// GetMasked returns the masked view of the caller's merchant's card.
func (m *MaskedViews) GetMasked(ctx context.Context, c Caller, token string) (CardView, Trace, error) {
	now := m.now().UTC()
	rec, err := liveCard(ctx, m.cards, m.merchants, c.MerchantID, token, now)
	if err != nil {
		return CardView{}, Trace{}, err
	}
	if err := consume(ctx, m.replay, c, now); err != nil {
		return CardView{}, Trace{}, err
	}
	return viewOf(rec, false), Trace{Token: rec.Token, KeyVersion: rec.KeyVersion}, nil
}
