// Package vault holds the vault's operations over small ports: storage,
// keys, replay window. It knows nothing of AWS, HTTP or JOSE; the httpapi
// package authenticates requests and hands it typed inputs.
package vault

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/cardvault/vault/shared/card"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vaulterr"
)

// ReplayWindow is how long a request id (iss, jti) is remembered. A
// request is accepted up to 300 s after its iat and 60 s before it, so 15
// minutes covers every request that could still pass the freshness check,
// with room for clock skew between containers.
const ReplayWindow = 15 * time.Minute

// TTL bounds of ttl_seconds, per the contract.
const (
	MinCardTTL = 60 * time.Second
	MaxCardTTL = 10 * 365 * 24 * time.Hour
)

// Caller is the authenticated client request an operation runs for.
type Caller struct {
	ClientID   string
	MerchantID string
	JTI        string
}

// CardInput is card data as a client sent it. Number and HolderName stay
// wrapped until they are sealed.
type CardInput struct {
	Number     secret.Secret[string]
	ExpMonth   int
	ExpYear    int
	HolderName secret.Secret[string]
}

// VaultCardInput is a vault_card request.
type VaultCardInput struct {
	Caller
	CustomerID string
	Card       CardInput
	// TTL is the card's lifetime; zero means it lives until deleted.
	TTL time.Duration
}

// CardView is what vault_card and get_masked answer: nothing in it needs a
// key to produce.
type CardView struct {
	Token       string
	MerchantID  string
	CustomerID  string
	Fingerprint string
	Masked      card.Masked
	CreatedAt   time.Time
	// Duplicate is set by vault_card when the card was already vaulted for
	// this merchant and customer.
	Duplicate bool
}

// Trace is what an operation tells the audit trail about itself.
type Trace struct {
	Token         string
	KeyVersion    uint32
	KMSRequestIDs []string
	// KeyCacheHits and KeyCacheMisses count key lookups served from memory
	// and from the keyring.
	KeyCacheHits   int
	KeyCacheMisses int
}

// usedKeys records a key lookup in the trace.
func (t *Trace) usedKeys(u envelope.Usage) {
	if len(u.Calls) == 0 {
		t.KeyCacheHits++
		return
	}
	t.KeyCacheMisses++
	t.KMSRequestIDs = append(t.KMSRequestIDs, u.RequestIDs()...)
}

// Clock returns the current time.
type Clock func() time.Time

// sealedCard is the plaintext sealed into a card record. Short member
// names keep records small; the record is never shown in this form.
type sealedCard struct {
	Number     string `json:"n"`
	ExpMonth   int    `json:"m"`
	ExpYear    int    `json:"y"`
	HolderName string `json:"h,omitempty"`
}

// CardVault runs the operations that need the merchant's keys.
type CardVault struct {
	cards     CardStore
	replay    ReplayGuard
	merchants MerchantStatus
	keys      *envelope.Manager
	now       Clock
}

// NewCardVault builds a CardVault.
func NewCardVault(cards CardStore, replay ReplayGuard, merchants MerchantStatus, keys *envelope.Manager, now Clock) *CardVault {
	return &CardVault{cards: cards, replay: replay, merchants: merchants, keys: keys, now: now}
}

// validatedCard is a card that passed every check of the contract.
type validatedCard struct {
	digits string
	masked card.Masked
	sealed sealedCard
}

func validateCard(in CardInput, now time.Time) (validatedCard, error) {
	digits, err := card.Normalize(in.Number.Reveal())
	if err != nil {
		return validatedCard{}, err
	}
	brand, err := card.Validate(digits)
	if err != nil {
		return validatedCard{}, err
	}
	if err := card.CheckExpiry(in.ExpMonth, in.ExpYear, now); err != nil {
		return validatedCard{}, err
	}
	holder := in.HolderName.Reveal()
	if err := card.CheckHolderName(holder); err != nil {
		return validatedCard{}, err
	}
	return validatedCard{
		digits: digits,
		masked: card.Mask(digits, brand, in.ExpMonth, in.ExpYear),
		sealed: sealedCard{Number: digits, ExpMonth: in.ExpMonth, ExpYear: in.ExpYear, HolderName: holder},
	}, nil
}

// VaultCard stores a card for a merchant and customer, or finds the one
// already stored: the same number for the same merchant and customer
// always maps to the same token, even under concurrent requests.
func (v *CardVault) VaultCard(ctx context.Context, in VaultCardInput) (CardView, Trace, error) {
	now := v.now().UTC()
	c, err := validateCard(in.Card, now)
	if err != nil {
		return CardView{}, Trace{}, err
	}
	if in.TTL != 0 && (in.TTL < MinCardTTL || in.TTL > MaxCardTTL) {
		return CardView{}, Trace{}, vaulterr.New(vaulterr.InvalidCard, "ttl_seconds must be between 60 and 315360000")
	}
	if err := checkMerchant(ctx, v.merchants, in.MerchantID); err != nil {
		return CardView{}, Trace{}, err
	}
	// Everything is checked: from here on the request is carried out, so
	// its id is spent first. A replay is refused before anything changes.
	if err := consume(ctx, v.replay, in.Caller, now); err != nil {
		return CardView{}, Trace{}, err
	}
	keys, usage, err := v.keys.Primary(ctx, in.MerchantID)
	if err != nil {
		return CardView{}, Trace{}, mapKeyError(err)
	}
	trace := Trace{KeyVersion: keys.Version()}
	trace.usedKeys(usage)

	token, err := newToken()
	if err != nil {
		return CardView{}, trace, err
	}
	rec := newCardRecord(keys, in.MerchantID, in.CustomerID, token, c, now)
	if in.TTL > 0 {
		rec.ExpiresAt = now.Add(in.TTL)
	}
	if err := v.sealCard(keys, &rec, c.sealed); err != nil {
		return CardView{}, trace, err
	}
	view, err := v.storeCard(ctx, keys, rec, c.sealed)
	trace.Token = view.Token
	return view, trace, err
}

// newCardRecord is the record of a validated card under a new token:
// vault_card and imports build it the same way.
func newCardRecord(keys *envelope.MerchantKeys, merchantID, customerID, token string, c validatedCard, now time.Time) CardRecord {
	return CardRecord{
		Token:       token,
		MerchantID:  merchantID,
		CustomerID:  customerID,
		Fingerprint: "fp_" + base64.RawURLEncoding.EncodeToString(keys.Fingerprint("card-number", []byte(c.digits))),
		Masked:      c.masked,
		KeyVersion:  keys.Version(),
		CreatedAt:   now,
		UpdatedAt:   now,
	}
}

// storeCard writes a new card under rec.Token, or updates the card the
// merchant and customer already have for the same number. Every step is
// a conditional write, so concurrent requests for one new card agree on
// one token without transactions; a lost race is retried from the index.
func (v *CardVault) storeCard(ctx context.Context, keys *envelope.MerchantKeys, rec CardRecord, sc sealedCard) (CardView, error) {
	key := CardIndexKey{rec.MerchantID, rec.CustomerID, rec.Fingerprint}
	for attempt := 0; attempt < 4; attempt++ {
		existing, err := v.cards.ClaimCardIndex(ctx, key, rec.Token, rec.ExpiresAt)
		if err == nil {
			err = v.cards.CreateCard(ctx, rec)
			if err == nil {
				return viewOf(rec, false), nil
			}
			if !errors.Is(err, ErrConflict) {
				return CardView{}, err
			}
			// A concurrent duplicate found our index entry and wrote the
			// record first; update it as that request's duplicate would.
			existing = rec.Token
		} else if !errors.Is(err, ErrConflict) {
			return CardView{}, err
		}

		current, err := v.cards.Card(ctx, existing)
		switch {
		case errors.Is(err, ErrNotFound):
			// The request that claimed the token has not written its record
			// yet, or died before it could: write it for it.
			dup := rec
			dup.Token = existing
			if err := v.sealCard(keys, &dup, sc); err != nil {
				return CardView{}, err
			}
			if err := v.cards.CreateCard(ctx, dup); err == nil {
				return viewOf(dup, true), nil
			} else if !errors.Is(err, ErrConflict) {
				return CardView{}, err
			}
			continue
		case err != nil:
			return CardView{}, err
		}
		if current.MerchantID != rec.MerchantID {
			// Index entries are per merchant; a token of another merchant
			// here means the table was tampered with.
			return CardView{}, vaulterr.New(vaulterr.Integrity, "card index points at another merchant's record")
		}
		if current.Deleted || expired(current, rec.UpdatedAt) {
			// The entry outlived its card (a delete cut short, or an expiry
			// not yet purged): the card is gone, so this one is new.
			err := v.cards.TakeOverCardIndex(ctx, key, existing, rec.Token, rec.ExpiresAt)
			if err != nil && !errors.Is(err, ErrConflict) {
				return CardView{}, err
			}
			continue
		}
		updated := current
		updated.Masked = rec.Masked
		updated.UpdatedAt = rec.UpdatedAt
		if err := v.sealCard(keys, &updated, sc); err != nil {
			return CardView{}, err
		}
		err = v.cards.ReplaceCard(ctx, updated)
		if err == nil {
			return viewOf(updated, true), nil
		}
		if !errors.Is(err, ErrNotFound) {
			return CardView{}, err
		}
	}
	return CardView{}, vaulterr.New(vaulterr.Unavailable, "card record kept changing; retry")
}

func expired(rec CardRecord, now time.Time) bool {
	return !rec.ExpiresAt.IsZero() && !now.Before(rec.ExpiresAt)
}

func (v *CardVault) sealCard(keys *envelope.MerchantKeys, rec *CardRecord, c sealedCard) error {
	plaintext, err := json.Marshal(c)
	if err != nil {
		return err
	}
	defer secret.Wipe(plaintext)
	rec.Sealed, err = keys.Seal(cardRef(rec.MerchantID, rec.Token), plaintext)
	rec.KeyVersion = keys.Version()
	return err
}

func cardRef(merchantID, token string) envelope.RecordRef {
	return envelope.RecordRef{Type: envelope.RecordCard, MerchantID: merchantID, ID: token}
}

func viewOf(rec CardRecord, duplicate bool) CardView {
	return CardView{
		Token:       rec.Token,
		MerchantID:  rec.MerchantID,
		CustomerID:  rec.CustomerID,
		Fingerprint: rec.Fingerprint,
		Masked:      rec.Masked,
		CreatedAt:   rec.CreatedAt,
		Duplicate:   duplicate,
	}
}

// newToken is "tok_" and 128 random bits: unguessable, and spread evenly
// over the table's partitions.
func newToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "tok_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// validToken reports whether token has the shape newToken gives, so that
// no arbitrary route input reaches the store.
func validToken(token string) bool {
	const prefix = "tok_"
	if len(token) != len(prefix)+22 || token[:len(prefix)] != prefix {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(token[len(prefix):])
	return err == nil
}

// consume spends the caller's request id.
func consume(ctx context.Context, replay ReplayGuard, c Caller, now time.Time) error {
	err := replay.Consume(ctx, c.ClientID, c.JTI, now.Add(ReplayWindow))
	if errors.Is(err, ErrReplayed) {
		return vaulterr.New(vaulterr.Replayed, "request id (jti) already used")
	}
	return err
}

// liveCard reads a card the caller may see: it exists, belongs to the
// caller's merchant and has not expired. Anything else is not_found, so
// that another merchant's tokens cannot be told apart from unknown ones.
func liveCard(ctx context.Context, cards CardStore, merchants MerchantStatus, merchantID, token string, now time.Time) (CardRecord, error) {
	if !validToken(token) {
		return CardRecord{}, vaulterr.New(vaulterr.NotFound, "no such card")
	}
	if err := checkMerchant(ctx, merchants, merchantID); err != nil {
		return CardRecord{}, err
	}
	rec, err := cards.Card(ctx, token)
	if errors.Is(err, ErrNotFound) {
		return CardRecord{}, vaulterr.New(vaulterr.NotFound, "no such card")
	}
	if err != nil {
		return CardRecord{}, err
	}
	if rec.MerchantID != merchantID || rec.Deleted || expired(rec, now) {
		return CardRecord{}, vaulterr.New(vaulterr.NotFound, "no such card")
	}
	return rec, nil
}
