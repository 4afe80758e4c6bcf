package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"

	"github.com/cardvault/vault/shared/vaulterr"
)

// CardListBy says which saved cards a listing reads: one customer's, or
// every card of one fingerprint (the same number, across customers).
type CardListBy string

const (
	ListByCustomer    CardListBy = "customer"
	ListByFingerprint CardListBy = "fingerprint"
)

// List page sizes, per the contract.
const (
	DefaultListLimit = 25
	MaxListLimit     = 100
)

// CardListPosition is where a listing page stopped: the sort key of the
// last card it evaluated. Listings run newest first, by creation time to
// the second (what the answer shows) and then by token.
type CardListPosition struct {
	CreatedAt time.Time
	Token     string
}

// CardListQuery is one page of a listing.
type CardListQuery struct {
	MerchantID string
	By         CardListBy
	// Subject is the customer id or the fingerprint.
	Subject string
	Limit   int
	// After, when set, starts the page after that position.
	After *CardListPosition
	// Now is the instant expiry is judged by.
	Now time.Time
}

// CardListPage is what one query of the listing index gave: the live
// cards among the entries it read (at most Limit) and, if the index holds
// more, the position after the last entry read.
type CardListPage struct {
	Cards []CardRecord
	Next  *CardListPosition
}

// CardLister reads the listing indexes. A page is one query: entries of
// deleted cards are not in the index, and entries of expired cards are
// read and dropped, so a page may hold fewer than Limit cards and still
// have a Next.
type CardLister interface {
	ListCards(ctx context.Context, q CardListQuery) (CardListPage, error)
}

// ListCardsInput is a list_cards request.
type ListCardsInput struct {
	Caller
	By      CardListBy
	Subject string
	// Limit is 1..MaxListLimit; zero means DefaultListLimit.
	Limit int
	// Cursor is a NextCursor of an earlier answer, or "".
	Cursor string
}

// CardList is list_cards' answer.
type CardList struct {
	MerchantID string
	Cards      []CardView
	// NextCursor is "" on the last page.
	NextCursor string
}

// CardListings answers list_cards. Like MaskedViews it holds no key
// manager: the listing indexes carry the masked view only, so the
// function serving it runs without any KMS permission.
type CardListings struct {
	cards     CardLister
	replay    ReplayGuard
	merchants MerchantStatus
	now       Clock
}

// NewCardListings builds a CardListings.
func NewCardListings(cards CardLister, replay ReplayGuard, merchants MerchantStatus, now Clock) *CardListings {
	return &CardListings{cards: cards, replay: replay, merchants: merchants, now: now}
}

// ListCards returns one page of the caller's merchant's cards of a
// customer or fingerprint, newest first.
func (l *CardListings) ListCards(ctx context.Context, in ListCardsInput) (CardList, Trace, error) {
	now := l.now().UTC()
	limit := in.Limit
	if limit == 0 {
		limit = DefaultListLimit
	}
	if limit < 1 || limit > MaxListLimit {
		return CardList{}, Trace{}, vaulterr.New(vaulterr.Malformed, "limit must be 1 to 100")
	}
	if (in.By != ListByCustomer && in.By != ListByFingerprint) || in.Subject == "" {
		return CardList{}, Trace{}, vaulterr.New(vaulterr.Malformed, "a listing needs a customer or a fingerprint")
	}
	q := CardListQuery{MerchantID: in.MerchantID, By: in.By, Subject: in.Subject, Limit: limit, Now: now}
	if in.Cursor != "" {
		after, err := decodeListCursor(in.Cursor, in.MerchantID, in.By, in.Subject)
		if err != nil {
			return CardList{}, Trace{}, err
		}
		q.After = &after
	}
	// The shred mark and the page are both reads: one round trip.
	var page CardListPage
	if err := CheckMerchantWith(ctx, l.merchants, in.MerchantID, func() (err error) {
		page, err = l.cards.ListCards(ctx, q)
		return err
	}); err != nil {
		return CardList{}, Trace{}, err
	}
	if err := consume(ctx, l.replay, in.Caller, now); err != nil {
		return CardList{}, Trace{}, err
	}
	out := CardList{MerchantID: in.MerchantID, Cards: make([]CardView, 0, len(page.Cards))}
	for _, rec := range page.Cards {
		// The index and the store's filter judge expiry to the second;
		// the exact expiry decides, as for every other read.
		if rec.MerchantID != in.MerchantID || rec.Deleted || expired(rec, now) {
			continue
		}
		out.Cards = append(out.Cards, viewOf(rec, false))
	}
	if page.Next != nil {
		out.NextCursor = encodeListCursor(*page.Next, in.MerchantID, in.By, in.Subject)
	}
	return out, Trace{}, nil
}

// The cursor is base64url (no padding) of: a version byte, 16 bytes of
// SHA-256 over the listing it belongs to (merchant, route, customer or
// fingerprint), the position's creation time in Unix seconds (8 bytes,
// big-endian) and its token. The binding makes a cursor of another
// listing a 400, not a silent jump; it needs no key, because a cursor can
// only ever name a position inside the listing it is used with: the
// listing's partition comes from the authenticated request, never from
// the cursor, and any position in it is one the caller may read from the
// start anyway. So the function serving it, which holds no key at all, can
// make and check cursors, and every container agrees on them.
const (
	cursorVersion    = 1
	cursorBindingLen = 16
	cursorHeaderLen  = 1 + cursorBindingLen + 8
)

func listBinding(merchantID string, by CardListBy, subject string) []byte {
	h := sha256.New()
	for _, part := range []string{"card-vault list_cards cursor", merchantID, string(by), subject} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(part))) // #nosec G115 -- ids are at most a few hundred bytes
		h.Write(n[:])
		h.Write([]byte(part))
	}
	return h.Sum(nil)[:cursorBindingLen]
}

func encodeListCursor(p CardListPosition, merchantID string, by CardListBy, subject string) string {
	b := make([]byte, 0, cursorHeaderLen+len(p.Token))
	b = append(b, cursorVersion)
	b = append(b, listBinding(merchantID, by, subject)...)
	b = binary.BigEndian.AppendUint64(b, uint64(p.CreatedAt.Unix())) // #nosec G115 -- creation times are after 1970
	b = append(b, p.Token...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// errBadCursor is every way a cursor can be wrong: the answer does not
// say which, since a client can only have made it up or mixed it up.
var errBadCursor = vaulterr.New(vaulterr.Malformed, "cursor is not a next_cursor of this listing")

func decodeListCursor(cursor, merchantID string, by CardListBy, subject string) (CardListPosition, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(cursor)
	if err != nil || len(b) < cursorHeaderLen+minCardTokenDigits || b[0] != cursorVersion {
		return CardListPosition{}, errBadCursor
	}
	if !bytes.Equal(b[1:1+cursorBindingLen], listBinding(merchantID, by, subject)) {
		return CardListPosition{}, errBadCursor
	}
	secs := binary.BigEndian.Uint64(b[1+cursorBindingLen : cursorHeaderLen])
	token := string(b[cursorHeaderLen:])
	if secs > 1<<40 || !validToken(token) {
		return CardListPosition{}, errBadCursor
	}
	return CardListPosition{CreatedAt: time.Unix(int64(secs), 0).UTC(), Token: token}, nil // #nosec G115 -- bounded above
}
