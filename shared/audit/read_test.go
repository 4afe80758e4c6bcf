package audit

import (
	"os"
	"strings"
	"testing"
)

func TestTailKeepsTheLastMatchingEventsInOrder(t *testing.T) {
	path := writeChain(t, 30)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := Tail(f, 3, Filter{Token: "tok_7"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "ev-0007" {
		t.Fatalf("token filter: %+v", got)
	}
	_, _ = f.Seek(0, 0)
	got, err = Tail(f, 4, Filter{Merchant: "m_123", Outcome: Allowed, Action: "reveal_card"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range got {
		ids = append(ids, e.ID)
	}
	if strings.Join(ids, ",") != "ev-0027,ev-0028,ev-0029,ev-0030" {
		t.Fatalf("last four: %v", ids)
	}
	_, _ = f.Seek(0, 0)
	if got, _ := Tail(f, 0, Filter{Outcome: Refused}); len(got) != 0 {
		t.Fatalf("outcome filter matched %d events", len(got))
	}
}

func TestScanLeavesOutALineStillBeingWritten(t *testing.T) {
	events := 0
	err := Scan(strings.NewReader(`{"event_id":"a","action":"health"}`+"\n"+`{"event_id":"b","act`), func(line int, e Event) error {
		events++
		if line != 1 || e.ID != "a" {
			t.Errorf("line %d event %+v", line, e)
		}
		return nil
	})
	if err != nil || events != 1 {
		t.Fatalf("scan: %d events, %v", events, err)
	}
	err = Scan(strings.NewReader("{}\nnot json\n"), func(int, Event) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("scan of a bad line: %v", err)
	}
}
