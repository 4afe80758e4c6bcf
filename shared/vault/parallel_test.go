package vault

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vaulterr"
)

// rendezvous lets two reads prove they are in flight together: each
// arrives, then waits for the other, and fails if it never comes (the
// reads ran one after the other).
type rendezvous struct{ a, b chan struct{} }

func newRendezvous() *rendezvous { return &rendezvous{a: make(chan struct{}), b: make(chan struct{})} }

func meet(mine, theirs chan struct{}) error {
	close(mine)
	select {
	case <-theirs:
		return nil
	case <-time.After(5 * time.Second):
		return errors.New("the other read never started while this one was in flight")
	}
}

// meetingMerchants answers Shredded only once the record read has begun.
type meetingMerchants struct {
	r        *rendezvous
	shredded bool
}

func (m meetingMerchants) Shredded(context.Context, string) (bool, error) {
	return m.shredded, meet(m.r.a, m.r.b)
}

// meetingCards answers Card only once the merchant read has begun.
type meetingCards struct {
	CardStore
	r   *rendezvous
	rec CardRecord
}

func (c meetingCards) Card(context.Context, string) (CardRecord, error) {
	return c.rec, meet(c.r.b, c.r.a)
}

type meetingSecrets struct {
	SecretStore
	r   *rendezvous
	rec SecretRecord
}

func (s meetingSecrets) LatestSecret(context.Context, string, string) (SecretRecord, error) {
	return s.rec, meet(s.r.b, s.r.a)
}

type countingReplay struct{ n atomic.Int32 }

func (c *countingReplay) Consume(context.Context, string, string, time.Time) error {
	c.n.Add(1)
	return nil
}

const testToken = "tok_AAAAAAAAAAAAAAAAAAAAAA"

func TestGetMaskedReadsTheMerchantAndTheCardTogether(t *testing.T) {
	for _, shredded := range []bool{false, true} {
		r := newRendezvous()
		replay := &countingReplay{}
		cards := meetingCards{r: r, rec: CardRecord{Token: testToken, MerchantID: "m_1"}}
		views := NewMaskedViews(cards, replay, meetingMerchants{r: r, shredded: shredded}, time.Now)
		_, _, err := views.GetMasked(context.Background(), Caller{ClientID: "c", MerchantID: "m_1", JTI: "j"}, testToken)
		switch {
		case !shredded && err != nil:
			t.Fatalf("GetMasked: %v", err)
		case shredded && vaulterr.CodeOf(err) != vaulterr.NotFound:
			t.Fatalf("GetMasked of a shredded merchant = %v, want not_found", err)
		}
		if got, want := replay.n.Load(), map[bool]int32{false: 1, true: 0}[shredded]; got != want {
			t.Errorf("shredded=%v: %d request ids spent, want %d (a refused request changes nothing)", shredded, got, want)
		}
	}
}

func TestGetSecretReadsTheMerchantAndTheSecretTogether(t *testing.T) {
	for _, shredded := range []bool{false, true} {
		r := newRendezvous()
		replay := &countingReplay{}
		secrets := meetingSecrets{r: r, rec: SecretRecord{MerchantID: "m_1", Name: "api_key", Version: 1}}
		meta := NewSecretMetadata(secrets, replay, meetingMerchants{r: r, shredded: shredded}, time.Now)
		_, _, err := meta.GetSecret(context.Background(), Caller{ClientID: "c", MerchantID: "m_1", JTI: "j"}, "api_key")
		switch {
		case !shredded && err != nil:
			t.Fatalf("GetSecret: %v", err)
		case shredded && vaulterr.CodeOf(err) != vaulterr.NotFound:
			t.Fatalf("GetSecret of a shredded merchant = %v, want not_found", err)
		}
		if got, want := replay.n.Load(), map[bool]int32{false: 1, true: 0}[shredded]; got != want {
			t.Errorf("shredded=%v: %d request ids spent, want %d (a refused request changes nothing)", shredded, got, want)
		}
	}
}

// meetingLister answers ListCards only once the merchant read has begun.
type meetingLister struct {
	r    *rendezvous
	page CardListPage
}

func (l meetingLister) ListCards(context.Context, CardListQuery) (CardListPage, error) {
	return l.page, meet(l.r.b, l.r.a)
}

func TestListCardsReadsTheMerchantAndThePageTogether(t *testing.T) {
	for _, shredded := range []bool{false, true} {
		r := newRendezvous()
		replay := &countingReplay{}
		page := CardListPage{Cards: []CardRecord{{Token: testToken, MerchantID: "m_1", CustomerID: "cus_1"}}}
		listings := NewCardListings(meetingLister{r: r, page: page}, replay, meetingMerchants{r: r, shredded: shredded}, time.Now)
		list, _, err := listings.ListCards(context.Background(), ListCardsInput{
			Caller: Caller{ClientID: "c", MerchantID: "m_1", JTI: "j"}, By: ListByCustomer, Subject: "cus_1"})
		switch {
		case !shredded && (err != nil || len(list.Cards) != 1):
			t.Fatalf("ListCards: %+v %v", list, err)
		case shredded && vaulterr.CodeOf(err) != vaulterr.NotFound:
			t.Fatalf("ListCards of a shredded merchant = %v, want not_found", err)
		}
		if got, want := replay.n.Load(), map[bool]int32{false: 1, true: 0}[shredded]; got != want {
			t.Errorf("shredded=%v: %d request ids spent, want %d (a refused request changes nothing)", shredded, got, want)
		}
	}
}

func TestCheckMerchantWithReadsBothTogetherAndRefusesTheMerchantFirst(t *testing.T) {
	for _, shredded := range []bool{false, true} {
		r := newRendezvous()
		readErr := errors.New("the read's own failure")
		err := CheckMerchantWith(context.Background(), meetingMerchants{r: r, shredded: shredded}, "m_1", func() error {
			return errors.Join(meet(r.b, r.a), readErr)
		})
		switch {
		case shredded && vaulterr.CodeOf(err) != vaulterr.NotFound:
			t.Fatalf("shredded merchant: %v, want not_found before the read's failure", err)
		case !shredded && !errors.Is(err, readErr):
			t.Fatalf("live merchant: %v, want the read's failure", err)
		}
	}
}

type meetingHead struct {
	SecretStore
	r *rendezvous
}

func (s meetingHead) SecretHead(context.Context, string, string) (SecretHead, error) {
	return SecretHead{}, meet(s.r.b, s.r.a)
}

// put_secret reads the latest version beside the shred mark; a shredded
// merchant is still refused before anything changes (no key is even
// loaded: the vault here has none).
func TestPutSecretReadsTheMerchantAndTheLatestVersionTogether(t *testing.T) {
	r := newRendezvous()
	replay := &countingReplay{}
	secrets := NewSecretVault(meetingHead{r: r}, replay, meetingMerchants{r: r, shredded: true}, nil, time.Now)
	_, _, err := secrets.PutSecret(context.Background(), PutSecretInput{Caller: Caller{ClientID: "c", MerchantID: "m_1", JTI: "j"}, Name: "api_key", Value: secret.New("v")})
	if vaulterr.CodeOf(err) != vaulterr.NotFound {
		t.Fatalf("PutSecret of a shredded merchant = %v, want not_found", err)
	}
	if n := replay.n.Load(); n != 0 {
		t.Errorf("%d request ids spent, want 0 (a refused request changes nothing)", n)
	}
}
