package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const pan = "4384740755556791"

type hostileStruct struct {
	Merchant string `json:"merchant"`
	Number   int64  `json:"number"`
}

type stringer struct{}

func (stringer) String() string { return "tok_" + pan }

type valuer struct{}

func (valuer) LogValue() slog.Value { return slog.StringValue("secret " + pan) }

// Every place a card number can enter a log line is masked: the message,
// attribute keys and values of every kind, groups, handler attributes and
// group names, errors and marshalled values.
func TestEveryFieldIsMasked(t *testing.T) {
	var out bytes.Buffer
	logger := New(&out, slog.LevelDebug).With("merchant_id", pan).WithGroup("g" + pan)
	logger.Info("request for "+pan,
		"merchant_id", pan,
		pan, "as a key",
		slog.Int64("count", 4384740755556791),
		slog.Uint64("ucount", 4384740755556791),
		slog.Float64("float", 4384740755556791),
		slog.Group("inner", "customer_id", "cus_"+pan, slog.Group("deeper", "name", pan)),
		"err", fmt.Errorf("merchant %s: %w", pan, errors.New("conditional check failed")),
		"struct", hostileStruct{Merchant: pan, Number: 4384740755556791},
		"map", map[string]string{"k": pan},
		"stringer", stringer{},
		"valuer", valuer{},
		"spaced", "4384 7407 5555 6791",
	)
	text := out.String()
	for _, leak := range []string{pan, "4384 7407 5555 6791", "74075555"} {
		if strings.Contains(text, leak) {
			t.Errorf("log line holds %q:\n%s", leak, text)
		}
	}
	if !strings.Contains(text, "4384********6791") {
		t.Errorf("no masked form in the line:\n%s", text)
	}
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("masked line is not JSON: %v\n%s", err, text)
	}
}

// Lines without card numbers keep their structure: numbers stay numbers,
// marshalled values stay JSON objects.
func TestCleanLinesAreUnchanged(t *testing.T) {
	var out bytes.Buffer
	New(&out, slog.LevelInfo).Info("request", "status", 201, "struct", hostileStruct{Merchant: "m_1", Number: 12})
	var line struct {
		Status int           `json:"status"`
		Struct hostileStruct `json:"struct"`
	}
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line.Status != 201 || line.Struct != (hostileStruct{Merchant: "m_1", Number: 12}) {
		t.Errorf("line changed: %s", out.String())
	}
}

// A field is masked before it is bounded, so a cut can never leave the
// head of a card number.
func TestLongFieldsAreMaskedThenCut(t *testing.T) {
	for pad := maxFieldBytes - len(pan); pad < maxFieldBytes; pad++ {
		got := Field(strings.Repeat("a", pad) + pan)
		if len(got) > maxFieldBytes || strings.Contains(got, "43847") {
			t.Fatalf("padding %d: field of %d bytes ends %q", pad, len(got), got[pad:])
		}
	}
}

func TestMaskIsIdempotent(t *testing.T) {
	h := Mask(slog.NewJSONHandler(&bytes.Buffer{}, nil))
	if Mask(h) != h {
		t.Error("a masking handler was wrapped again")
	}
}
