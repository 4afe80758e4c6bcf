// Package logging builds the vault's structured logger. Every line it
// writes goes through one handler that masks, in the message and in every
// attribute (keys, values, groups, errors and marshalled values alike),
// anything that could be a card number, exactly as audit events are
// masked. Log lines carry identifiers a client chose (merchant ids, secret
// names, tokens), and a careless or hostile client can put a card number
// in any of them; masking each call site's fields would miss the next one.
package logging

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cardvault/vault/shared/audit"
)

// maxFieldBytes bounds every string a log line carries. It is larger than
// the audit trail's bound, since operators need whole error messages, but
// still keeps a hostile value from bloating the log.
const maxFieldBytes = 4 << 10

// New is the vault's logger: JSON lines on w, every field masked.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(Mask(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})))
}

// Mask wraps a handler so that everything it is given is masked first.
// Wrapping a masking handler again returns it unchanged.
func Mask(h slog.Handler) slog.Handler {
	if m, ok := h.(maskingHandler); ok {
		return m
	}
	return maskingHandler{next: h}
}

type maskingHandler struct{ next slog.Handler }

var _ slog.Handler = maskingHandler{}

func (h maskingHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h maskingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Field(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(maskAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h maskingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		masked[i] = maskAttr(a)
	}
	return maskingHandler{next: h.next.WithAttrs(masked)}
}

func (h maskingHandler) WithGroup(name string) slog.Handler {
	return maskingHandler{next: h.next.WithGroup(Field(name))}
}

// Field is what the log keeps of a string: valid UTF-8, card numbers
// masked (first 4 and last 4 digits kept, as in audit events), then
// bounded. Masking comes first so that the cut can never leave the head of
// a card number unmasked.
func Field(s string) string {
	s = audit.MaskCardNumbers(strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) > maxFieldBytes {
		cut := maxFieldBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

func maskAttr(a slog.Attr) slog.Attr {
	return slog.Attr{Key: Field(a.Key), Value: maskValue(a.Value.Resolve())}
}

func maskValue(v slog.Value) slog.Value {
	switch v.Kind() {
	case slog.KindString:
		return slog.StringValue(Field(v.String()))
	case slog.KindGroup:
		group := v.Group()
		masked := make([]slog.Attr, len(group))
		for i, a := range group {
			masked[i] = maskAttr(a)
		}
		return slog.GroupValue(masked...)
	case slog.KindInt64, slog.KindUint64, slog.KindFloat64:
		// A number can be a card number too (an int64 holds 19 digits);
		// it is judged in the digits the JSON handler would write.
		s := v.String()
		if v.Kind() == slog.KindFloat64 {
			s = strconv.FormatFloat(v.Float64(), 'f', -1, 64)
		}
		if audit.MaskCardNumbers(s) != s {
			return slog.StringValue(Field(s))
		}
		return v
	case slog.KindAny:
		return maskAny(v.Any())
	default: // bool, duration, time: nothing a client chose
		return v
	}
}

// maskAny masks a value the JSON handler would marshal or print. It is
// rendered here once, as the handler would render it: an error by its
// message, anything else as JSON (or by fmt when it has no JSON form).
func maskAny(x any) slog.Value {
	switch t := x.(type) {
	case nil:
		return slog.AnyValue(nil)
	case error:
		return slog.StringValue(Field(t.Error()))
	}
	b, err := json.Marshal(x)
	if err != nil {
		return slog.StringValue(Field(fmt.Sprintf("%+v", x)))
	}
	s := string(b)
	if masked := Field(s); masked != s {
		// Masking may have cut a JSON number or the document: keep the
		// text, as a string.
		return slog.StringValue(masked)
	}
	return slog.AnyValue(json.RawMessage(b))
}
