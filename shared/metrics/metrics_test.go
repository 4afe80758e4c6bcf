package metrics

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

var fixedNow = time.Date(2026, 11, 22, 10, 0, 0, 123_000_000, time.UTC)

func newTestRecorder(buf *bytes.Buffer) *Recorder {
	r := NewRecorder(buf, "vault-cards")
	r.now = func() time.Time { return fixedNow }
	return r
}

type emfLine struct {
	AWS struct {
		Timestamp         int64 `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  string     `json:"Namespace"`
			Dimensions [][]string `json:"Dimensions"`
			Metrics    []struct {
				Name string `json:"Name"`
				Unit string `json:"Unit"`
			} `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	} `json:"_aws"`
}

// decodeEMF checks one line against the EMF specification's rules: every
// metric and dimension a directive names is a root member of the right
// type. It returns the directives' metrics by name with their units and
// the root members.
func decodeEMF(t *testing.T, line string) (units map[string]string, root map[string]any) {
	t.Helper()
	var doc emfLine
	if err := json.Unmarshal([]byte(line), &doc); err != nil {
		t.Fatalf("not JSON: %v: %s", err, line)
	}
	if err := json.Unmarshal([]byte(line), &root); err != nil {
		t.Fatal(err)
	}
	if doc.AWS.Timestamp != fixedNow.UnixMilli() {
		t.Errorf("Timestamp %d, want %d (milliseconds)", doc.AWS.Timestamp, fixedNow.UnixMilli())
	}
	if len(doc.AWS.CloudWatchMetrics) == 0 {
		t.Fatal("no CloudWatchMetrics directive")
	}
	units = map[string]string{}
	for _, d := range doc.AWS.CloudWatchMetrics {
		if d.Namespace != Namespace {
			t.Errorf("namespace %q", d.Namespace)
		}
		for _, set := range d.Dimensions {
			if len(set) == 0 || set[0] != DimFunction {
				t.Errorf("dimension set %v does not start with Function", set)
			}
			for _, dim := range set {
				if v, ok := root[dim].(string); !ok || v == "" {
					t.Errorf("dimension %q is not a non-empty root string: %v", dim, root[dim])
				}
			}
		}
		for _, m := range d.Metrics {
			if _, ok := root[m.Name].(float64); !ok {
				t.Errorf("metric %q is not a root number: %v", m.Name, root[m.Name])
			}
			units[m.Name] = m.Unit
		}
	}
	return units, root
}

func TestRequestWritesOneEMFLine(t *testing.T) {
	var buf bytes.Buffer
	newTestRecorder(&buf).Request("reveal_card", "allowed", "", 12345*time.Microsecond, 1, 0, 0)
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines", len(lines))
	}
	units, root := decodeEMF(t, lines[0])
	want := map[string]string{
		MetricRequests: UnitCount, MetricLatency: UnitMilliseconds, MetricKeyCacheHits: UnitCount,
		MetricKeyCacheMisses: UnitCount, MetricKMSCalls: UnitCount,
	}
	if len(units) != len(want) {
		t.Errorf("metrics %v, want %v", units, want)
	}
	for name, unit := range want {
		if units[name] != unit {
			t.Errorf("%s unit %q, want %q", name, units[name], unit)
		}
	}
	if root[DimFunction] != "vault-cards" || root[DimOperation] != "reveal_card" || root[DimOutcome] != "allowed" {
		t.Errorf("dimensions %v", root)
	}
	if root[MetricLatency] != 12.345 || root[MetricRequests] != 1.0 || root[MetricKeyCacheHits] != 1.0 {
		t.Errorf("values %v", root)
	}
	if _, has := root[DimErrorCode]; has {
		t.Error("an allowed request carries an error code")
	}
}

func TestRefusalsAndFailuresAreCountedByCode(t *testing.T) {
	var buf bytes.Buffer
	r := newTestRecorder(&buf)
	r.Request("vault_card", "refused", "cvc_not_accepted", time.Millisecond, 0, 0, 0)
	r.Request("reveal_card", "failed", "unavailable", time.Millisecond, 0, 1, 1)
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	for i, want := range []struct{ metric, other, code string }{
		{MetricRefusals, MetricFailures, "cvc_not_accepted"},
		{MetricFailures, MetricRefusals, "unavailable"},
	} {
		units, root := decodeEMF(t, lines[i])
		if units[want.metric] != UnitCount || root[want.metric] != 1.0 || root[DimErrorCode] != want.code {
			t.Errorf("line %d: %s", i, lines[i])
		}
		if _, has := units[want.other]; has {
			t.Errorf("line %d also counts %s", i, want.other)
		}
	}
}

func TestNothingFromARequestReachesAMetric(t *testing.T) {
	var buf bytes.Buffer
	r := newTestRecorder(&buf)
	sensitive := []string{
		"4242424242424242", "Jane Doe", "eyJhbGciOiJFUzI1NiJ9.eyJ9.sig", "sk_live_abc123",
		"tok_4242", strings.Repeat("a", 41),
	}
	for _, s := range sensitive {
		r.Request(s, s, s, 0, 0, 0, 0)
	}
	out := buf.String()
	for _, s := range sensitive {
		if strings.Contains(out, s) {
			t.Errorf("metric output holds %q", s)
		}
	}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		_, root := decodeEMF(t, line)
		if root[DimOperation] != other || root[DimOutcome] != other {
			t.Errorf("labels not replaced: %v", root)
		}
	}
	if got := NewRecorder(&buf, "4242 4242 4242 4242").function; got != "unknown" {
		t.Errorf("function name %q accepted", got)
	}
}

func TestRecorderIsSafeForConcurrentUse(t *testing.T) {
	var buf bytes.Buffer
	r := newTestRecorder(&buf)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 50 {
				r.Request("get_masked", "allowed", "", time.Millisecond, 1, 0, 0)
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 16*50 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, line := range lines {
		decodeEMF(t, line)
	}
}

func TestNilRecorderRecordsNothing(t *testing.T) {
	var r *Recorder
	r.Request("health", "allowed", "", 0, 0, 0, 0)
}

// The directives are shared by every line, so a line is pinned byte for
// byte: this is the example docs/metrics.md shows.
func TestRefusedLineMatchesTheDocumentedExample(t *testing.T) {
	const want = `{"ErrorCode":"cvc_not_accepted","Function":"vault-cards","KMSCalls":0,"KeyCacheHits":0,"KeyCacheMisses":0,"Latency":0.412,"Operation":"vault_card","Outcome":"refused","Refusals":1,"Requests":1,"_aws":{"Timestamp":1795341600123,"CloudWatchMetrics":[{"Namespace":"CardVault","Dimensions":[["Function","Operation","Outcome"],["Function","Outcome"]],"Metrics":[{"Name":"Requests","Unit":"Count"}]},{"Namespace":"CardVault","Dimensions":[["Function","Operation"]],"Metrics":[{"Name":"Latency","Unit":"Milliseconds"},{"Name":"KeyCacheHits","Unit":"Count"},{"Name":"KeyCacheMisses","Unit":"Count"},{"Name":"KMSCalls","Unit":"Count"}]},{"Namespace":"CardVault","Dimensions":[["Function","ErrorCode"]],"Metrics":[{"Name":"Refusals","Unit":"Count"}]}]}}` + "\n"
	var buf bytes.Buffer
	newTestRecorder(&buf).Request("vault_card", "refused", "cvc_not_accepted", 412*time.Microsecond, 0, 0, 0)
	if got := buf.String(); got != want {
		t.Fatalf("line\n%s\nwant\n%s", got, want)
	}
}
