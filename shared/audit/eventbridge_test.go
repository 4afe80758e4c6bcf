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

	"github.com/cardvault/vault/shared/internal/awsfake"
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

func TestEventBridgeSinkResendsOnlyRefusedEntries(t *testing.T) {
	fake, client := newFakeBus(t)
	b := NewBatcher(NewEventBridgeSink(client, testBus, fastRetries), 0)
	fake.FailEntries(3)
	for i := 1; i <= 10; i++ {
		if err := b.Record(context.Background(), testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	entries := fake.Entries()
	if len(entries) != 10 || fake.Calls() != 2 || b.Pending() != 0 {
		t.Fatalf("%d entries in %d calls, %d pending; want 10 in 2, 0", len(entries), fake.Calls(), b.Pending())
	}
	seen := map[string]bool{}
	for _, entry := range entries {
		id := detailOf(t, entry).ID
		if seen[id] {
			t.Fatalf("event %s delivered twice", id)
		}
		seen[id] = true
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

func TestBatcherKeepsEventsThroughAnOutageAndLosesNoneOnRecovery(t *testing.T) {
	fake, client := newFakeBus(t)
	b := NewBatcher(NewEventBridgeSink(client, testBus, fastRetries, WithMaxAttempts(1)), 0)
	ctx := context.Background()

	// The batch that fills at the 10th event cannot be sent.
	fake.FailNext(awsfake.ClientMaxAttempts, "ThrottlingException", 400)
	for i := 1; i <= 10; i++ {
		if err := b.Record(ctx, testEvent(i)); err != nil {
			t.Fatalf("Record %d: %v", i, err)
		}
	}
	if b.Pending() != 10 || len(fake.Entries()) != 0 {
		t.Fatalf("pending %d, delivered %d", b.Pending(), len(fake.Entries()))
	}
	fake.FailNext(awsfake.ClientMaxAttempts, "InternalException", 500)
	if err := b.Flush(ctx); err == nil {
		t.Fatal("Flush succeeded during the outage")
	}

	// Recovered.
	for i := 11; i <= 25; i++ {
		if err := b.Record(ctx, testEvent(i)); err != nil {
			t.Fatalf("Record %d: %v", i, err)
		}
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	entries := fake.Entries()
	if len(entries) != 25 || b.Pending() != 0 {
		t.Fatalf("%d delivered, %d pending; want 25, 0", len(entries), b.Pending())
	}
	for i, entry := range entries {
		if id := detailOf(t, entry).ID; id != testEvent(i+1).ID {
			t.Fatalf("entry %d is %s: order lost", i, id)
		}
	}
	if err := b.Flush(ctx); err != nil || fake.Calls() != 2*awsfake.ClientMaxAttempts+3 {
		t.Fatalf("empty flush: %v, %d calls", err, fake.Calls())
	}
}

func TestBatcherRefusesPastItsBacklog(t *testing.T) {
	_, client := newFakeBus(t)
	b := NewBatcher(NewEventBridgeSink(client, testBus), 3)
	for i := 1; i <= 3; i++ {
		if err := b.Record(context.Background(), testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Record(context.Background(), testEvent(4)); !errors.Is(err, ErrBacklogFull) {
		t.Fatalf("Record past the backlog: %v", err)
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

func TestAWSBatcherLogsEveryEventAtOnce(t *testing.T) {
	fake, client := newFakeBus(t)
	var logs bytes.Buffer
	b := AWSBatcher(slog.New(slog.NewJSONHandler(&logs, nil)), client, testBus, fastRetries)
	e := testEvent(1)
	e.Action = ActionRotationPage
	if err := b.Record(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"rotation_page"`) || len(fake.Entries()) != 0 {
		t.Fatalf("log %q, %d entries", logs.String(), len(fake.Entries()))
	}
	if err := b.Flush(context.Background()); err != nil || len(fake.Entries()) != 1 {
		t.Fatalf("flush: %v, %d entries", err, len(fake.Entries()))
	}
}
