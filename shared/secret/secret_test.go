package secret_test

import (
	"bytes"
	"context"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/cardvault/vault/shared/secret"
)

const (
	pan    = "4242424242424242"
	holder = "Jane Doe"
	key    = "key-material-0123"
)

type cardData struct {
	Number string
	Holder string
}

const (
	redactedString = "*** string ***"
	redactedBytes  = "*** []uint8 ***"
	redactedCard   = "*** secret_test.cardData ***"
)

// leakForms are the ways the test values could show up if a wrapper let
// them through: as text, in hex (%x), and as decimal bytes (%d, %v of a
// []byte).
func leakForms() []string {
	return []string{
		pan, holder, key,
		hex.EncodeToString([]byte(pan)), hex.EncodeToString([]byte(key)),
		strings.Trim(fmt.Sprint([]byte(key)[:4]), "[]"),
		strings.Trim(fmt.Sprint([]byte(pan)[:4]), "[]"),
	}
}

func assertNoLeak(t *testing.T, what, out string) {
	t.Helper()
	for _, leak := range leakForms() {
		if strings.Contains(strings.ToLower(out), strings.ToLower(leak)) {
			t.Fatalf("%s leaks %q: %s", what, leak, out)
		}
	}
}

// samples are one Secret of each kind the vault holds, with the redacted
// form each must print as.
func samples() []struct {
	name     string
	value    any
	redacted string
} {
	return []struct {
		name     string
		value    any
		redacted string
	}{
		{"string", secret.New(pan), redactedString},
		{"bytes", secret.New([]byte(key)), redactedBytes},
		{"struct", secret.New(cardData{Number: pan, Holder: holder}), redactedCard},
		{"pointer to string secret", ptr(secret.New(pan)), redactedString},
		{"pointer to bytes secret", ptr(secret.New([]byte(key))), redactedBytes},
	}
}

func ptr[T any](v T) *T { return &v }

func TestEveryFormatVerbRedacts(t *testing.T) {
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10v", "%-20s", "% x", "%#x", "%08d", "%.3s"}
	for _, tt := range samples() {
		for _, verb := range verbs {
			got := fmt.Sprintf(verb, tt.value)
			if got != tt.redacted {
				t.Errorf("%s under %s = %q, want %q", tt.name, verb, got, tt.redacted)
			}
			assertNoLeak(t, tt.name+" "+verb, got)
		}
	}
}

func TestPrintFunctionsRedact(t *testing.T) {
	for _, tt := range samples() {
		if got := fmt.Sprint(tt.value); got != tt.redacted {
			t.Errorf("Sprint(%s) = %q", tt.name, got)
		}
		if got := fmt.Sprintln(tt.value); got != tt.redacted+"\n" {
			t.Errorf("Sprintln(%s) = %q", tt.name, got)
		}
		var buf bytes.Buffer
		fmt.Fprintln(&buf, "card", tt.value)
		if got := buf.String(); got != "card "+tt.redacted+"\n" {
			t.Errorf("Fprintln(%s) = %q", tt.name, got)
		}
		if s, ok := tt.value.(fmt.Stringer); !ok || s.String() != tt.redacted {
			t.Errorf("%s is not a redacting fmt.Stringer", tt.name)
		}
		if s, ok := tt.value.(fmt.GoStringer); !ok || s.GoString() != tt.redacted {
			t.Errorf("%s is not a redacting fmt.GoStringer", tt.name)
		}
	}
}

func TestErrorsRedact(t *testing.T) {
	for _, tt := range samples() {
		err := fmt.Errorf("vault card: %v", tt.value)
		if got := err.Error(); got != "vault card: "+tt.redacted {
			t.Errorf("Errorf(%s) = %q", tt.name, got)
		}
		wrapped := fmt.Errorf("outer: %w", errors.New(fmt.Sprint(tt.value)))
		assertNoLeak(t, tt.name+" wrapped error", wrapped.Error())
	}
}

type exportedFields struct {
	ID     string
	Number secret.Secret[string]
	Key    secret.Secret[[]byte]
	Card   secret.Secret[cardData]
}

type taggedFields struct {
	Number secret.Secret[string]   `json:"number"`
	Holder *secret.Secret[string]  `json:"holder_name"`
	Key    secret.Secret[[]byte]   `json:"key,omitempty"`
	Card   secret.Secret[cardData] `json:"card"`
}

// unexportedFields is how a package keeps secrets private: fmt reaches
// these fields by reflection, without calling their methods.
type unexportedFields struct {
	ID     string
	number secret.Secret[string]
	key    secret.Secret[[]byte]
	card   secret.Secret[cardData]
}

func newExported() exportedFields {
	return exportedFields{ID: "tok_1", Number: secret.New(pan), Key: secret.New([]byte(key)), Card: secret.New(cardData{pan, holder})}
}

func newUnexported() unexportedFields {
	return unexportedFields{ID: "tok_1", number: secret.New(pan), key: secret.New([]byte(key)), card: secret.New(cardData{pan, holder})}
}

func TestStructFieldsRedactUnderFmt(t *testing.T) {
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d", "%q"} {
		for name, v := range map[string]any{
			"exported":              newExported(),
			"pointer to exported":   ptr(newExported()),
			"unexported":            newUnexported(),
			"pointer to unexported": ptr(newUnexported()),
		} {
			assertNoLeak(t, name+" "+verb, fmt.Sprintf(verb, v))
		}
	}
	if got, want := fmt.Sprintf("%+v", newExported()), "{ID:tok_1 Number:"+redactedString+" Key:"+redactedBytes+" Card:"+redactedCard+"}"; got != want {
		t.Fatalf("%%+v = %q, want %q", got, want)
	}
}

func TestJSONRedacts(t *testing.T) {
	holderSecret := secret.New(holder)
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"string", secret.New(pan), `"*** string ***"`},
		{"bytes", secret.New([]byte(key)), `"*** []uint8 ***"`},
		{"struct", secret.New(cardData{pan, holder}), `"*** secret_test.cardData ***"`},
		{"pointer", &holderSecret, `"*** string ***"`},
		{"nil pointer", (*secret.Secret[string])(nil), `null`},
		{"fields", taggedFields{Number: secret.New(pan), Holder: &holderSecret, Key: secret.New([]byte(key)), Card: secret.New(cardData{pan, holder})},
			`{"number":"*** string ***","holder_name":"*** string ***","key":"*** []uint8 ***","card":"*** secret_test.cardData ***"}`},
		{"exported fields", newExported(),
			`{"ID":"tok_1","Number":"*** string ***","Key":"*** []uint8 ***","Card":"*** secret_test.cardData ***"}`},
		{"unexported fields", newUnexported(), `{"ID":"tok_1"}`},
		{"map values", map[string]any{"number": secret.New(pan), "key": secret.New([]byte(key))},
			`{"key":"*** []uint8 ***","number":"*** string ***"}`},
		{"map of secrets", map[string]secret.Secret[string]{"a": secret.New(pan)}, `{"a":"*** string ***"}`},
		{"slice", []secret.Secret[string]{secret.New(pan), secret.New(holder)}, `["*** string ***","*** string ***"]`},
		{"slice of any", []any{secret.New([]byte(key)), []any{secret.New(pan)}}, `["*** []uint8 ***",["*** string ***"]]`},
		// A type name may hold quotes: the field tags of an anonymous
		// struct. The redacted form must still be one valid JSON string.
		{"anonymous struct with tags", secret.New(struct {
			Number string `json:"number"`
		}{pan}), `"*** struct { Number string \"json:\\\"number\\\"\" } ***"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if string(got) != tt.want {
				t.Fatalf("Marshal = %s, want %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Fatalf("invalid JSON %s", got)
			}
			assertNoLeak(t, tt.name, string(got))
		})
	}
}

func TestTextMarshalerRedacts(t *testing.T) {
	for _, tt := range samples() {
		m, ok := tt.value.(encoding.TextMarshaler)
		if !ok {
			t.Fatalf("%s is not an encoding.TextMarshaler", tt.name)
		}
		got, err := m.MarshalText()
		if err != nil || string(got) != tt.redacted {
			t.Fatalf("MarshalText(%s) = %q, %v", tt.name, got, err)
		}
	}
}

func TestSlogRedacts(t *testing.T) {
	handlers := map[string]func(*bytes.Buffer) slog.Handler{
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	}
	logCalls := map[string]func(*slog.Logger){
		"key-value pairs": func(l *slog.Logger) {
			l.Info("vault card", "number", secret.New(pan), "key", secret.New([]byte(key)), "card", secret.New(cardData{pan, holder}))
		},
		"attributes": func(l *slog.Logger) {
			l.LogAttrs(context.TODO(), slog.LevelInfo, "vault card", slog.Any("number", secret.New(pan)), slog.Any("holder", ptr(secret.New(holder))))
		},
		"group": func(l *slog.Logger) {
			l.Info("vault card", slog.Group("card", slog.Any("number", secret.New(pan)), slog.Any("key", secret.New([]byte(key)))))
		},
		"logger with attributes": func(l *slog.Logger) {
			l.With("number", secret.New(pan)).WithGroup("g").Info("vault card", "holder", secret.New(holder))
		},
		"struct with exported fields": func(l *slog.Logger) { l.Info("vault card", slog.Any("request", newExported())) },
		"struct with unexported fields": func(l *slog.Logger) {
			l.Info("vault card", slog.Any("request", newUnexported()))
		},
		"pointer to struct": func(l *slog.Logger) { l.Info("vault card", slog.Any("request", ptr(newExported()))) },
		"slice and map": func(l *slog.Logger) {
			l.Info("vault card", "numbers", []secret.Secret[string]{secret.New(pan)}, "m", map[string]any{"k": secret.New([]byte(key))})
		},
		"error": func(l *slog.Logger) { l.Error("refused", "err", fmt.Errorf("card %v", secret.New(pan))) },
	}
	for hname, newHandler := range handlers {
		for cname, call := range logCalls {
			t.Run(hname+"/"+cname, func(t *testing.T) {
				var buf bytes.Buffer
				call(slog.New(newHandler(&buf)))
				out := buf.String()
				if !strings.Contains(out, "***") && cname != "struct with unexported fields" {
					t.Fatalf("no redacted value in %s", out)
				}
				assertNoLeak(t, hname+" "+cname, out)
			})
		}
	}
}

func TestSlogAttributeValue(t *testing.T) {
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", slog.Group("card", slog.Any("number", secret.New(pan))))
	var line struct {
		Card struct {
			Number string `json:"number"`
		} `json:"card"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line.Card.Number != redactedString {
		t.Fatalf("card.number = %q, want %q", line.Card.Number, redactedString)
	}
	if v := secret.New(pan).LogValue(); v.Kind() != slog.KindString || v.String() != redactedString {
		t.Fatalf("LogValue = %v", v)
	}
}

func TestRevealReturnsTheValue(t *testing.T) {
	if got := secret.New(pan).Reveal(); got != pan {
		t.Fatalf("Reveal = %q", got)
	}
	if got := secret.New([]byte(key)).Reveal(); string(got) != key {
		t.Fatalf("Reveal = %q", got)
	}
	if got := secret.New(cardData{pan, holder}).Reveal(); got != (cardData{pan, holder}) {
		t.Fatalf("Reveal = %+v", got)
	}
	s := secret.New(pan)
	if got := (&s).Reveal(); got != pan {
		t.Fatalf("Reveal through pointer = %q", got)
	}
	copied := s
	if copied.Reveal() != pan {
		t.Fatal("a copy of a Secret lost its value")
	}
}

// == on Secrets would compare sensitive values in variable time; the type
// refuses it at compile time instead.
func TestSecretIsNotComparable(t *testing.T) {
	if reflect.TypeFor[secret.Secret[string]]().Comparable() {
		t.Fatal("Secret[string] is comparable")
	}
}

func TestZeroSecret(t *testing.T) {
	var s secret.Secret[string]
	if s.Reveal() != "" {
		t.Fatal("zero Secret[string] reveals a value")
	}
	var b secret.Secret[[]byte]
	if b.Reveal() != nil {
		t.Fatal("zero Secret[[]byte] reveals a value")
	}
	var c secret.Secret[cardData]
	if c.Reveal() != (cardData{}) {
		t.Fatal("zero Secret[cardData] reveals a value")
	}
	if got := fmt.Sprint(s); got != redactedString {
		t.Fatalf("zero Secret prints %q", got)
	}
}

func TestNilPointerDoesNotPanic(t *testing.T) {
	var p *secret.Secret[string]
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		_ = fmt.Sprintf(verb, p)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "p", p)
}

func TestWipeZeroes(t *testing.T) {
	b := []byte(key)
	secret.Wipe(b)
	if !bytes.Equal(b, make([]byte, len(key))) {
		t.Fatalf("Wipe left %q", b)
	}
	secret.Wipe(nil)
	secret.Wipe([]byte{})

	// Wiping the revealed slice wipes the wrapped bytes: they share their
	// backing array, which is how key material held in a Secret is wiped.
	s := secret.New([]byte(key))
	secret.Wipe(s.Reveal())
	if !bytes.Equal(s.Reveal(), make([]byte, len(key))) {
		t.Fatalf("wrapped bytes left %q after Wipe", s.Reveal())
	}
}
