package vault

import (
	"context"
	"testing"
	"time"
)

// meetingReplay spends only once the reads have begun, and remembers
// what it was asked to take back.
type meetingReplay struct {
	ReplayGuard
	r       *rendezvous
	unspent []ReplaySpend
}

func (m *meetingReplay) Spend(_ context.Context, issuer, jti string, _ time.Time) (ReplaySpend, error) {
	return ReplaySpend{Issuer: issuer, JTI: jti, Attempt: []byte{1}}, meet(m.r.b, m.r.a)
}

func (m *meetingReplay) Unspend(_ context.Context, s ReplaySpend) error {
	m.unspent = append(m.unspent, s)
	return nil
}

// TestAdmitSpendsWhileItReads: the spend is in flight while the reads
// are, one round trip for both; a refusal takes back that spend.
func TestAdmitSpendsWhileItReads(t *testing.T) {
	for _, shredded := range []bool{false, true} {
		r := newRendezvous()
		replay := &meetingReplay{r: r}
		merchants := meetingMerchants{r: r, shredded: shredded}
		c := Caller{ClientID: "c", MerchantID: "m_1", JTI: "j"}
		err := admit(context.Background(), replay, c, time.Now(), func() error {
			return checkMerchant(context.Background(), merchants, c.MerchantID)
		})
		if shredded != (err != nil) {
			t.Fatalf("shredded=%v: admit = %v", shredded, err)
		}
		if got := len(replay.unspent); got != map[bool]int{false: 0, true: 1}[shredded] {
			t.Fatalf("shredded=%v: %d undos", shredded, got)
		}
		if shredded && (replay.unspent[0].JTI != "j" || len(replay.unspent[0].Attempt) == 0) {
			t.Fatalf("the undo named %+v, not the request's own spend", replay.unspent[0])
		}
	}
}
