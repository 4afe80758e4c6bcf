// Package vault holds the vault's operations over small ports: storage,
// keys, replay window. It knows nothing of AWS, HTTP or JOSE; the httpapi
// package authenticates requests and hands it typed inputs.
package vault

import (
	"context"
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
	// Witness, when set, records the request's audit event before an
	// operation makes a change that cannot be undone (a deletion, a
	// shred, a new key version); an error stops the change and is
	// returned. The API sets it for the operations that fail closed when
	// their audit event cannot be recorded.
	Witness func(ctx context.Context, t Trace) error
}

// witness records the request's event, if the caller wants it recorded
// before an irreversible change.
func (c Caller) witness(ctx context.Context, t Trace) error {
	if c.Witness == nil {
		return nil
	}
	return c.Witness(ctx, t)
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
	// TokenFormat is the shape of a new card's token; "" is
	// TokenFormatOpaque. A duplicate keeps the token it has, whatever its
	// format.
	TokenFormat TokenFormat
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
	// Undo, set by an operation that stored something (vault_card,
	// put_secret), takes the write back: the API calls it when the
	// request's audit event cannot be recorded, so that nothing stays
	// stored unaudited.
	Undo func(ctx context.Context) error
	// Forward describes a forward (nil for every other operation).
	Forward *ForwardTrace
	// JobID names the import or export job a request creates, so that
	// the event witnessed before the job exists names it.
	JobID string
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
	replay    UndoableReplayGuard
	merchants MerchantStatus
	keys      *envelope.Manager
	now       Clock
}

// NewCardVault builds a CardVault.
func NewCardVault(cards CardStore, replay UndoableReplayGuard, merchants MerchantStatus, keys *envelope.Manager, now Clock) *CardVault {
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
	format, ok := ParseTokenFormat(string(in.TokenFormat))
	if !ok {
		return CardView{}, Trace{}, vaulterr.New(vaulterr.Malformed, `token_format must be "opaque" or "card"`)
	}
	c, err := validateCard(in.Card, now)
	if err != nil {
		return CardView{}, Trace{}, err
	}
	if in.TTL != 0 && (in.TTL < MinCardTTL || in.TTL > MaxCardTTL) {
		return CardView{}, Trace{}, vaulterr.New(vaulterr.InvalidCard, "ttl_seconds must be between 60 and 315360000")
	}
	// A warm process holds the merchant's keys, so it can fingerprint the
	// card at once and look for a duplicate while it reads the merchant's
	// state and spends the request id: one round trip for all three. A
	// cold one loads its keys only once the request is admitted, since a
	// merchant's first request creates them. A request the reads refuse
	// has its spend taken back, so it changes nothing.
	keys, warm := v.keys.CachedPrimary(in.MerchantID)
	indexed := "" // the token a live index entry points at
	read := func() error { return checkMerchant(ctx, v.merchants, in.MerchantID) }
	if warm {
		key := CardIndexKey{in.MerchantID, in.CustomerID, cardFingerprint(keys, c.digits)}
		read = func() error {
			return CheckMerchantWith(ctx, v.merchants, in.MerchantID, func() (err error) {
				indexed, err = v.cards.CardIndex(ctx, key)
				if errors.Is(err, ErrNotFound) {
					return nil
				}
				return err
			})
		}
	}
	if err := admit(ctx, v.replay, in.Caller, now, read); err != nil {
		return CardView{}, Trace{}, err
	}
	// From here on the request is carried out. A duplicate's record is
	// read for the update below.
	var (
		currentErr error
		current    CardRecord
	)
	if indexed != "" {
		current, currentErr = v.cards.Card(ctx, indexed)
	}
	usage := envelope.Usage{}
	if !warm {
		if keys, usage, err = v.keys.Primary(ctx, in.MerchantID); err != nil {
			return CardView{}, Trace{}, mapKeyError(err)
		}
	}
	trace := Trace{KeyVersion: keys.Version()}
	trace.usedKeys(usage)

	rec := CardRecord{
		MerchantID:  in.MerchantID,
		CustomerID:  in.CustomerID,
		Fingerprint: cardFingerprint(keys, c.digits),
		Masked:      c.masked,
		KeyVersion:  keys.Version(),
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	if in.TTL > 0 {
		rec.ExpiresAt = now.Add(in.TTL)
	}
	rec.Token, err = newToken(format, c.digits)
	if err != nil {
		return CardView{}, trace, err
	}
	if indexed != "" && currentErr == nil && holdsCard(current, CardIndexKey{rec.MerchantID, rec.CustomerID, rec.Fingerprint}) && !current.Deleted && !expired(current, now) {
		// The card is vaulted already: update it as storeCard would, with
		// no claim. If it changed meanwhile, storeCard starts over.
		view, undo, err := v.replaceDuplicate(ctx, keys, current, rec, c.sealed)
		if !errors.Is(err, ErrNotFound) {
			trace.Token = view.Token
			trace.Undo = undo
			return view, trace, err
		}
	} else if currentErr != nil && !errors.Is(currentErr, ErrNotFound) {
		return CardView{}, trace, currentErr
	}

	if err := v.sealCard(keys, &rec, c.sealed); err != nil {
		return CardView{}, trace, err
	}
	view, undo, err := v.storeCard(ctx, keys, rec, c.sealed, format)
	trace.Token = view.Token
	trace.Undo = undo
	return view, trace, err
}

// cardFingerprint is the merchant-keyed fingerprint of a card number,
// which duplicate detection is keyed by.
func cardFingerprint(keys *envelope.MerchantKeys, digits string) string {
	return "fp_" + base64.RawURLEncoding.EncodeToString(keys.Fingerprint("card-number", []byte(digits)))
}

// replaceDuplicate updates the stored card current with a new vaulting
// of it (rec: the masked view, expiry and holder just given), keeping its
// token and creation time; ErrNotFound if current was deleted, expired or
// replaced meanwhile. It returns how to put current back.
func (v *CardVault) replaceDuplicate(ctx context.Context, keys *envelope.MerchantKeys, current, rec CardRecord, sc sealedCard) (CardView, func(context.Context) error, error) {
	// The duplicate's record is sealed again beside its clear fields,
	// which binds them anew: check first that it is the record the
	// vault wrote, so that a tampered one is reported, not blessed.
	if _, _, err := v.openCard(ctx, current); err != nil {
		return CardView{}, nil, err
	}
	updated := current
	updated.Masked = rec.Masked
	updated.UpdatedAt = rec.UpdatedAt
	if err := v.sealCard(keys, &updated, sc); err != nil {
		return CardView{}, nil, err
	}
	if err := v.cards.ReplaceCard(ctx, updated); err != nil {
		return CardView{}, nil, err
	}
	restore := func(ctx context.Context) error { return v.cards.ReplaceCard(ctx, current) }
	return viewOf(updated, true), restore, nil
}

// maxTokenCollisions bounds how often a new card's token is drawn again
// because another record already holds it. Opaque tokens (128 random
// bits) never collide; a card-shaped token of a 12-digit number has only
// 9,000 possible middles per first 4 and last 4, so a collision is rare
// but real, and each redraw meets one with the probability that such
// tokens are taken: 16 redraws fail only if the space is nearly full.
const maxTokenCollisions = 16

// storeCard writes a new card under rec.Token, or updates the card the
// merchant and customer already have for the same number. Every step is
// a conditional write, so concurrent requests for one new card agree on
// one token without transactions; a lost race is retried from the index.
// A token already held by another record (a card-shaped token's
// collision) is never overwritten: the index entry moves to a fresh
// token and the card is created there. It returns how to take its write
// back: delete the card it created, or put back the duplicate's record as
// it was.
func (v *CardVault) storeCard(ctx context.Context, keys *envelope.MerchantKeys, rec CardRecord, sc sealedCard, format TokenFormat) (CardView, func(context.Context) error, error) {
	key := CardIndexKey{rec.MerchantID, rec.CustomerID, rec.Fingerprint}
	deleteCreated := func(created CardRecord) func(context.Context) error {
		return func(ctx context.Context) error { return v.cards.DeleteCreatedCard(ctx, created) }
	}
	collisions := 0
	for attempt := 0; attempt < 4; attempt++ {
		existing, err := v.cards.ClaimCardIndex(ctx, key, rec.Token, rec.ExpiresAt)
		if err == nil {
			err = v.cards.CreateCard(ctx, rec)
			if err == nil {
				return viewOf(rec, false), deleteCreated(rec), nil
			}
			if !errors.Is(err, ErrConflict) {
				return CardView{}, nil, err
			}
			// A concurrent duplicate found our index entry and wrote the
			// record first (update it as that request's duplicate would),
			// or the token is another record's (below).
			existing = rec.Token
		} else if !errors.Is(err, ErrConflict) {
			return CardView{}, nil, err
		}

		current, err := v.cards.Card(ctx, existing)
		switch {
		case errors.Is(err, ErrNotFound):
			// The request that claimed the token has not written its record
			// yet, or died before it could: write it for it.
			dup := rec
			dup.Token = existing
			if err := v.sealCard(keys, &dup, sc); err != nil {
				return CardView{}, nil, err
			}
			if err := v.cards.CreateCard(ctx, dup); err == nil {
				return viewOf(dup, true), deleteCreated(dup), nil
			} else if !errors.Is(err, ErrConflict) {
				return CardView{}, nil, err
			}
			continue
		case err != nil:
			return CardView{}, nil, err
		}
		occupied := !holdsCard(current, key)
		if occupied && !isCardToken(existing) {
			// Index entries are per merchant, customer and card, and an
			// opaque token is never drawn twice: a record of another card
			// here means the table was tampered with.
			return CardView{}, nil, vaulterr.New(vaulterr.Integrity, "card index points at another card's record")
		}
		if occupied || current.Deleted || expired(current, rec.UpdatedAt) {
			// The entry's token is no live card of this key: another card
			// holds it (a card-shaped token drawn twice), or its card is
			// gone (a delete cut short, an expiry not yet purged). Move the
			// entry to a token of our own; if that is the token in the way,
			// draw a new one first.
			if existing == rec.Token {
				if collisions++; collisions > maxTokenCollisions {
					return CardView{}, nil, vaulterr.New(vaulterr.Unavailable, "no free token found for this card; retry")
				}
				attempt-- // a redraw is not a lost race
				if rec.Token, err = newToken(format, sc.Number); err != nil {
					return CardView{}, nil, err
				}
				if err := v.sealCard(keys, &rec, sc); err != nil {
					return CardView{}, nil, err
				}
			}
			err := v.cards.TakeOverCardIndex(ctx, key, existing, rec.Token, rec.ExpiresAt)
			if err != nil && !errors.Is(err, ErrConflict) {
				return CardView{}, nil, err
			}
			continue
		}
		view, undo, err := v.replaceDuplicate(ctx, keys, current, rec, sc)
		if !errors.Is(err, ErrNotFound) {
			return view, undo, err
		}
	}
	return CardView{}, nil, vaulterr.New(vaulterr.Unavailable, "card record kept changing; retry")
}

// holdsCard reports whether rec is the card of index key: same merchant,
// customer and fingerprint.
func holdsCard(rec CardRecord, key CardIndexKey) bool {
	return rec.MerchantID == key.MerchantID && rec.CustomerID == key.CustomerID && rec.Fingerprint == key.Fingerprint
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
	rec.KeyVersion = keys.Version()
	rec.Sealed, err = keys.Seal(cardRef(*rec), plaintext)
	return err
}

// cardRef names a card record and binds its clear fields.
func cardRef(rec CardRecord) envelope.RecordRef {
	return envelope.RecordRef{Type: envelope.RecordCard, MerchantID: rec.MerchantID, ID: rec.Token, Clear: CardClearFields(rec)}
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
	// The merchant's state and the record are read at once: one round
	// trip. Reading another merchant's record, or a shredded merchant's,
	// changes nothing, and neither is answered.
	var rec CardRecord
	if err := CheckMerchantWith(ctx, merchants, merchantID, func() (err error) {
		rec, err = cards.Card(ctx, token)
		if errors.Is(err, ErrNotFound) {
			return vaulterr.New(vaulterr.NotFound, "no such card")
		}
		return err
	}); err != nil {
		return CardRecord{}, err
	}
	if rec.MerchantID != merchantID || rec.Deleted || expired(rec, now) {
		return CardRecord{}, vaulterr.New(vaulterr.NotFound, "no such card")
	}
	return rec, nil
}
