package awsfake

import (
	"encoding/json"
	"sync"
	"time"
)

// EventBridge is a loopback Amazon EventBridge serving PutEvents. It keeps
// the entries it accepted and can fail whole calls (FailNext) or single
// entries (FailEntries), as the real service does under throttling.
type EventBridge struct {
	// URL is the base endpoint to give the SDK client.
	URL string

	endpoint *endpoint

	mu             sync.Mutex
	entries        []EventEntry
	failingEntries int
}

// EventEntry is one entry EventBridge accepted, as the client sent it
// (an empty EventBusName means the default bus).
type EventEntry struct {
	EventID      string
	Source       string
	DetailType   string
	Detail       string
	EventBusName string
	Resources    []string
}

// maxPutEventsEntries is PutEvents' limit on entries per call.
const maxPutEventsEntries = 10

// NewEventBridge starts a fake EventBridge; it stops when its owner is
// done (the test ends).
func NewEventBridge(t Cleaner) *EventBridge {
	e := &EventBridge{}
	e.endpoint = newEndpoint(t, "AWSEvents", map[string]handler{
		"PutEvents": e.putEvents,
	}, nil)
	e.URL = e.endpoint.server.URL
	return e
}

// Entries returns the accepted entries, oldest first.
func (e *EventBridge) Entries() []EventEntry {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]EventEntry(nil), e.entries...)
}

// Calls is the number of PutEvents calls received, failed attempts
// included.
func (e *EventBridge) Calls() int { return e.endpoint.Calls("") }

// FailNext makes the next n calls fail as a whole with errType and status.
func (e *EventBridge) FailNext(n int, errType string, status int) {
	e.endpoint.FailNext(n, errType, status)
}

// FailEntries makes the next n entries, across calls, be refused one by
// one with ErrorCode "ThrottlingException" while the call itself succeeds
// with a FailedEntryCount.
func (e *EventBridge) FailEntries(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failingEntries += n
}

// SetLatency delays every answer by d.
func (e *EventBridge) SetLatency(d time.Duration) { e.endpoint.SetLatency(d) }

func (e *EventBridge) putEvents(req request) (any, *apiError) {
	var in struct {
		Entries []struct {
			Source, DetailType, Detail, EventBusName string
			Resources                                []string
		}
	}
	if apiErr := decode(req, &in); apiErr != nil {
		return nil, apiErr
	}
	if len(in.Entries) == 0 || len(in.Entries) > maxPutEventsEntries {
		return nil, clientError("ValidationException", "Entries must hold 1 to 10 entries")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	results := make([]map[string]string, len(in.Entries))
	failed := 0
	for i, entry := range in.Entries {
		switch {
		case e.failingEntries > 0:
			e.failingEntries--
			results[i] = map[string]string{"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}
		case entry.Source == "" || entry.DetailType == "" || !json.Valid([]byte(entry.Detail)):
			results[i] = map[string]string{"ErrorCode": "MalformedDetail", "ErrorMessage": "Source, DetailType and a JSON Detail are required"}
		default:
			id := newUUID()
			e.entries = append(e.entries, EventEntry{
				EventID: id, Source: entry.Source, DetailType: entry.DetailType,
				Detail: entry.Detail, EventBusName: entry.EventBusName, Resources: entry.Resources,
			})
			results[i] = map[string]string{"EventId": id}
			continue
		}
		failed++
	}
	return map[string]any{"FailedEntryCount": failed, "Entries": results}, nil
}
