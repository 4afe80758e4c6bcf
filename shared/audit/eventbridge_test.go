package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/awsfake"
)

const testBus = "card-vault-audit"

// fastRetries keeps the sink's own backoff short; the fake's SDK client
// already backs off 1 ms between its attempts.
var fastRetries = WithBackoff(time.Millisecond, time.Millisecond)

func newFakeBus(t *testing.T) (*awsfake.EventBridge, EventBridgeAPI) {
	t.Helper()
	fake := awsfake.NewEventBridge(t)
	return fake, awsfake.NewEventBridgeClient(t, fake.URL)
}

// detailOf decodes an accepted entry's detail and checks its envelope.
func detailOf(t *testing.T, entry awsfake.EventEntry) Event {
	t.Helper()
	if entry.Source != EventSource || entry.DetailType != EventDetailType || entry.EventBusName != testBus {
		t.Fatalf("envelope: source %q detail-type %q bus %q", entry.Source, entry.DetailType, entry.EventBusName)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(entry.Detail), &raw); err != nil {
		t.Fatalf("detail is not JSON: %v", err)
	}
	for _, chain := range []string{"seq", "prev", "hash"} {
		if _, has := raw[chain]; has {
			t.Errorf("detail carries the file chain member %q", chain)
		}
	}
	var e Event
	if err := json.Unmarshal([]byte(entry.Detail), &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEventBridgeSinkPutsOneEventWithTheDocumentedEnvelope(t *testing.T) {
	fake, client := newFakeBus(t)
	sink := NewEventBridgeSink(client, testBus, fastRetries)
	in := testEvent(1)
	in.Token = "4242424242424242"
	in.KeyVersion = 3
	in.KMSRequestIDs = []string{"kms-req-1"}
	if err := sink.Record(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	entries := fake.Entries()
	if len(entries) != 1 || fake.Calls() != 1 {
		t.Fatalf("%d entries in %d calls", len(entries), fake.Calls())
	}
	if strings.Contains(entries[0].Detail, "4242424242424242") {
		t.Fatalf("detail holds a card number: %s", entries[0].Detail)
	}
	got := detailOf(t, entries[0])
	want := in
	want.V = SchemaVersion
	want.Token = "4242********4242"
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("detail decodes to\n%+v\nwant\n%+v", got, want)
	}
}

func TestEventBridgeSinkRetriesThrottledCalls(t *testing.T) {
	fake, client := newFakeBus(t)
	sink := NewEventBridgeSink(client, testBus, fastRetries)
	// More failures than the SDK's own attempts: the sink's second
	// attempt gets through.
	failures := awsfake.ClientMaxAttempts + 1
	fake.FailNext(failures, "ThrottlingException", 400)
	if err := sink.Record(context.Background(), testEvent(1)); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Entries()); n != 1 || fake.Calls() != failures+1 {
		t.Fatalf("%d entries after %d calls, want 1 after %d", n, fake.Calls(), failures+1)
	}
}

func TestEventBridgeSinkResendsARefusedEntry(t *testing.T) {
	fake, client := newFakeBus(t)
	sink := NewEventBridgeSink(client, testBus, fastRetries)
	// The calls succeed but refuse the entry itself, which the SDK does
	// not retry: the sink does.
	fake.FailEntries(2)
	if err := sink.Record(context.Background(), testEvent(1)); err != nil {
		t.Fatal(err)
	}
	entries := fake.Entries()
	if len(entries) != 1 || fake.Calls() != 3 {
		t.Fatalf("%d entries in %d calls, want 1 in 3", len(entries), fake.Calls())
	}
	if id := detailOf(t, entries[0]).ID; id != testEvent(1).ID {
		t.Fatalf("delivered %s", id)
	}
}

func TestEventBridgeSinkFailsWhenTheOutagePersists(t *testing.T) {
	const attempts = 3
	outage := attempts * awsfake.ClientMaxAttempts
	fake, client := newFakeBus(t)
	sink := NewEventBridgeSink(client, testBus, fastRetries, WithMaxAttempts(attempts))

	fake.FailNext(outage, "ServiceUnavailableException", 503)
	if err := sink.Record(context.Background(), testEvent(1)); err == nil {
		t.Fatal("Record succeeded through an outage")
	}
	if fake.Calls() != outage {
		t.Fatalf("%d calls, want %d (bounded retries)", fake.Calls(), outage)
	}

	fake.FailEntries(attempts)
	if err := sink.Record(context.Background(), testEvent(2)); err == nil {
		t.Fatal("Record succeeded while every entry was refused")
	}

	// Recovered: the next events go through, once each.
	for i := 3; i <= 4; i++ {
		if err := sink.Record(context.Background(), testEvent(i)); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
	}
	if n := len(fake.Entries()); n != 2 {
		t.Fatalf("%d entries after recovery, want 2", n)
	}
}

func TestEventBridgeSinkDoesNotRetryWhatRetryingCannotCure(t *testing.T) {
	fake, client := newFakeBus(t)
	sink := NewEventBridgeSink(client, testBus, fastRetries)
	fake.FailNext(1, "AccessDeniedException", 400)
	if err := sink.Record(context.Background(), testEvent(1)); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("Record: %v", err)
	}
	if fake.Calls() != 1 {
		t.Fatalf("%d calls for a non-retryable error", fake.Calls())
	}
}

func TestEventBridgeSinkStopsAtTheCallersDeadline(t *testing.T) {
	fake, client := newFakeBus(t)
	sink := NewEventBridgeSink(client, testBus, fastRetries)
	fake.FailNext(100, "ThrottlingException", 400)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sink.Record(ctx, testEvent(1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Record with a cancelled context: %v", err)
	}
}

func TestAWSSinkLogsFirstAndFailsWithTheBus(t *testing.T) {
	fake, client := newFakeBus(t)
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	sink := AWSSink(logger, client, testBus, fastRetries, WithMaxAttempts(1))

	if err := sink.Record(context.Background(), testEvent(1)); err != nil {
		t.Fatal(err)
	}
	fake.FailNext(awsfake.ClientMaxAttempts, "ThrottlingException", 400)
	if err := sink.Record(context.Background(), testEvent(2)); err == nil {
		t.Fatal("AWSSink hid an EventBridge failure")
	}
	if n := len(fake.Entries()); n != 1 {
		t.Fatalf("%d entries on the bus, want 1", n)
	}
	// Both events are in the log, the one the bus missed included.
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec struct {
			Msg   string `json:"msg"`
			Event Event  `json:"event"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Msg == "audit" {
			ids = append(ids, rec.Event.ID)
		}
	}
	if strings.Join(ids, ",") != "ev-0001,ev-0002" {
		t.Fatalf("logged events %v", ids)
	}
}
