// Package metrics writes the vault's operational metrics as CloudWatch
// Embedded Metric Format (EMF) lines: JSON objects that a Lambda prints to
// stdout and CloudWatch Logs turns into metrics, with no agent, no API call
// on the request path and no extra dependency. docs/metrics.md lists the
// metrics, units and dimensions.
//
// A metric line only ever holds the function name, the operation, the
// outcome, the error code and numbers. Label values are checked against
// the shapes those take (lowercase words joined by underscores) and any
// other value is written as "other", so that nothing taken from a request
// can reach a metric, and the number of dimension values, which CloudWatch
// bills per metric stream, stays bounded.
package metrics

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of every vault metric.
const Namespace = "CardVault"

// Metric names.
const (
	MetricRequests       = "Requests"
	MetricRefusals       = "Refusals"
	MetricFailures       = "Failures"
	MetricLatency        = "Latency"
	MetricKeyCacheHits   = "KeyCacheHits"
	MetricKeyCacheMisses = "KeyCacheMisses"
	MetricKMSCalls       = "KMSCalls"
)

// Dimension names.
const (
	DimFunction  = "Function"
	DimOperation = "Operation"
	DimOutcome   = "Outcome"
	DimErrorCode = "ErrorCode"
)

// Units, as EMF spells them.
const (
	UnitCount        = "Count"
	UnitMilliseconds = "Milliseconds"
)

// other replaces a label value of the wrong shape.
const other = "other"

// Recorder writes one EMF line per request. A nil *Recorder records
// nothing, so wiring can leave it out. Safe for concurrent use.
type Recorder struct {
	function string
	now      func() time.Time

	mu sync.Mutex
	w  io.Writer
}

// NewRecorder writes to w (stdout in Lambda) for the named function.
func NewRecorder(w io.Writer, function string) *Recorder {
	if !validFunctionName(function) {
		function = "unknown"
	}
	return &Recorder{w: w, function: function, now: time.Now}
}

// Request records one request: its operation (the contract's operation
// name, or get_jwks, health, unknown_route), outcome (allowed, refused,
// failed), error code ("" when allowed), latency, and the merchant key
// cache hits and misses and KMS calls it caused. Writing is best effort: a
// metric that cannot be written never fails a request.
func (r *Recorder) Request(op, outcome, code string, latency time.Duration, cacheHits, cacheMisses, kmsCalls int) {
	if r == nil {
		return
	}
	op, outcome, code = label(op), outcomeLabel(outcome), label(code)
	if op == "" {
		op = other
	}
	doc := map[string]any{
		DimFunction:          r.function,
		DimOperation:         op,
		DimOutcome:           outcome,
		MetricRequests:       1,
		MetricLatency:        float64(latency.Microseconds()) / 1000,
		MetricKeyCacheHits:   max(cacheHits, 0),
		MetricKeyCacheMisses: max(cacheMisses, 0),
		MetricKMSCalls:       max(kmsCalls, 0),
	}
	directives := noCodeDirectives
	if code != "" && outcome != "allowed" {
		name := MetricRefusals
		directives = refusalDirectives
		if outcome == "failed" {
			name, directives = MetricFailures, failureDirectives
		}
		doc[DimErrorCode] = code
		doc[name] = 1
	}
	doc["_aws"] = metadata{Timestamp: r.now().UnixMilli(), CloudWatchMetrics: directives}
	r.write(doc)
}

func (r *Recorder) write(doc map[string]any) {
	line, err := json.Marshal(doc)
	if err != nil {
		return
	}
	line = append(line, '\n')
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = r.w.Write(line)
}

// A line's EMF directives depend only on which count, if any, it adds per
// error code, so every line takes one of three slices built once instead
// of building the same ones on each request. They are shared by every
// request: json.Marshal only reads them, and nothing may write to them.
var (
	requestsDirective = directive{
		Namespace:  Namespace,
		Dimensions: [][]string{{DimFunction, DimOperation, DimOutcome}, {DimFunction, DimOutcome}},
		Metrics:    []metricDef{{MetricRequests, UnitCount}},
	}
	perOperationDirective = directive{
		Namespace:  Namespace,
		Dimensions: [][]string{{DimFunction, DimOperation}},
		Metrics: []metricDef{
			{MetricLatency, UnitMilliseconds},
			{MetricKeyCacheHits, UnitCount},
			{MetricKeyCacheMisses, UnitCount},
			{MetricKMSCalls, UnitCount},
		},
	}

	noCodeDirectives  = []directive{requestsDirective, perOperationDirective}
	refusalDirectives = []directive{requestsDirective, perOperationDirective, byErrorCode(MetricRefusals)}
	failureDirectives = []directive{requestsDirective, perOperationDirective, byErrorCode(MetricFailures)}
)

// byErrorCode is the directive counting the named metric per error code.
func byErrorCode(metric string) directive {
	return directive{
		Namespace:  Namespace,
		Dimensions: [][]string{{DimFunction, DimErrorCode}},
		Metrics:    []metricDef{{metric, UnitCount}},
	}
}

// metadata is EMF's "_aws" member.
type metadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

type directive struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

type metricDef struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// maxLabelLen bounds a label value; the longest operation or error code is
// well under it.
const maxLabelLen = 40

// label passes lowercase words joined by underscores, the shape of every
// operation name and error code, and turns anything else into "other". No
// digits, dots or separators pass, so no card number, key, JOSE string or
// name can become a dimension value.
func label(s string) string {
	if s == "" {
		return ""
	}
	if len(s) > maxLabelLen || s[0] == '_' || s[len(s)-1] == '_' {
		return other
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && c != '_' {
			return other
		}
	}
	return s
}

func outcomeLabel(s string) string {
	switch s {
	case "allowed", "refused", "failed":
		return s
	}
	return other
}

// validFunctionName accepts Lambda function names ([A-Za-z0-9_-], at most
// 64) and dots; the name comes from configuration, never from a request.
func validFunctionName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
