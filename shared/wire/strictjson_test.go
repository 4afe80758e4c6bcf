package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseStrictObject(t *testing.T) {
	many := func(n int, dupAt int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			name := fmt.Sprintf("k%d", i)
			if i == dupAt {
				name = "K0"
			}
			fmt.Fprintf(&b, "%q:%d", name, i)
		}
		b.WriteString("}")
		return b.String()
	}
	cases := []struct {
		name    string
		doc     string
		err     error
		members []string
	}{
		{name: "empty object", doc: ` {} `},
		{name: "members", doc: `{"a":1,"b":{"c":[1,{"d":"e"}]},"f":"x\"y"}`, members: []string{"a", "b", "f"}},
		{name: "escaped name", doc: `{"\u0061":1}`, members: []string{"a"}},
		{name: "same name in sibling objects", doc: `{"a":{"x":1},"b":{"x":2},"c":[{"x":1},{"x":2}]}`, members: []string{"a", "b", "c"}},
		{name: "duplicate", doc: `{"a":1,"a":2}`, err: errDuplicateName},
		{name: "duplicate by case", doc: `{"a":1,"A":2}`, err: errDuplicateName},
		{name: "duplicate by Kelvin sign", doc: "{\"k\":1,\"\u212a\":2}", err: errDuplicateName},
		{name: "duplicate by escape", doc: `{"ab":1,"a\u0062":2}`, err: errDuplicateName},
		{name: "nested duplicate in array", doc: `{"a":[{"x":1,"x":2}]}`, err: errDuplicateName},
		{name: "many members", doc: many(100, -1), members: nil},
		{name: "many members, late duplicate", doc: many(100, 90), err: errDuplicateName},
		{name: "array", doc: `[{}]`, err: errNotObject},
		{name: "number", doc: `1`, err: errNotObject},
		{name: "trailing data", doc: `{} {}`, err: errInvalidJSON},
		{name: "empty", doc: ``, err: errInvalidJSON},
		{name: "invalid UTF-8", doc: "{\"a\":\"\xc3\x28\"}", err: errInvalidUTF8},
		{name: "too deep", doc: strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40), err: errTooDeep},
		{name: "deep arrays", doc: `{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "}", err: errTooDeep},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			members, err := parseStrictObject([]byte(tc.doc), nil)
			if !errors.Is(err, tc.err) {
				t.Fatalf("want %v, got %v", tc.err, err)
			}
			if tc.members == nil {
				return
			}
			var names []string
			for _, m := range members {
				names = append(names, string(m.name))
			}
			if strings.Join(names, ",") != strings.Join(tc.members, ",") {
				t.Fatalf("members %v, want %v", names, tc.members)
			}
		})
	}
}

func TestMemberRawValues(t *testing.T) {
	members, err := parseStrictObject([]byte(`{"s" : "v" , "n":-12,"o":{"a":[1, 2]},"t":true}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"s": `"v"`, "n": `-12`, "o": `{"a":[1, 2]}`, "t": `true`}
	for _, m := range members {
		if string(m.raw) != want[string(m.name)] {
			t.Fatalf("%s: raw %q, want %q", m.name, m.raw, want[string(m.name)])
		}
	}
}

// The strict reader checks the grammar itself, in its one pass: it must
// accept and refuse exactly what json.Valid does (for objects free of
// duplicate names, within the depth bound).
func TestStrictReaderAgreesWithJSONValid(t *testing.T) {
	for _, doc := range []string{
		`{}`, ` { } `, `{"a":1}`, `{"a":-0.5e+3}`, `{"a":[1,"x",true,false,null,{}]}`, `{"a":"\u00e9\n\"\\\/"}`,
		`{"a":0}`, `{"a":-0}`, `{"a":1E9}`, `{"a":[]}`, `{"a":[ ]}`,
		`{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,"a":1}`, `{"a":1 "b":2}`, `{a:1}`, `{'a':1}`,
		`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":1e+}`, `{"a":+1}`, `{"a":0x1}`,
		`{"a":tru}`, `{"a":nul}`, `{"a":nulls}`, `{"a":True}`, `{"a":[1,]}`, `{"a":[,1]}`, `{"a":[1 2]}`,
		`{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12g4"}`, "{\"a\":\"\t\"}", `{"a":"unterminated}`, `{"a":1}}`,
		`{"a":1} x`, `{"a":1}{}`, `{"a" 1}`, `{"a"::1}`, `{"a":[}`, `{"a":{]}`, `{"a":NaN}`, `{"a":Infinity}`,
	} {
		_, err := parseStrictObject([]byte(doc), nil)
		if valid := json.Valid([]byte(doc)); (err == nil) != valid {
			t.Errorf("%q: strict reader says %v, json.Valid says %v", doc, err, valid)
		}
	}
}

// The \u escapes of every string, member names included, must form valid
// UTF-16; a lone surrogate is refused (encoding/json would make it U+FFFD),
// and so is raw invalid UTF-8, wherever it stands.
func TestStringsMustBeValidUnicode(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		err  error
	}{
		{"pair", `{"a":"\ud83d\ude00"}`, nil},
		{"pair, upper case hex", `{"a":"\uD83D\uDE00"}`, nil},
		{"replacement character escaped", `{"a":"\ufffd"}`, nil},
		{"escaped backslash before u", `{"a":"\\ud800"}`, nil},
		{"last BMP character before surrogates", `{"a":"\ud7ff"}`, nil},
		{"first BMP character after surrogates", `{"a":"\ue000"}`, nil},
		{"lone high surrogate in a secret value", `{"value":"sk_live_abc\ud800def"}`, errLoneSurrogate},
		{"lone low surrogate in a holder name", `{"card":{"holder_name":"Ann\udc00Lee"}}`, errLoneSurrogate},
		{"high surrogate at the end of a string", `{"a":"x\udbff"}`, errLoneSurrogate},
		{"high surrogate before a plain character", `{"a":"\ud800A"}`, errLoneSurrogate},
		{"high surrogate before a non-u escape", `{"a":"\ud800\n"}`, errLoneSurrogate},
		{"two high surrogates", `{"a":"\ud800\ud800"}`, errLoneSurrogate},
		{"pair in the wrong order", `{"a":"\udc00\ud800"}`, errLoneSurrogate},
		{"high surrogate then a BMP escape", `{"a":"\ud800\u0041"}`, errLoneSurrogate},
		{"high surrogate then a bad escape", `{"a":"\ud800\u00zz"}`, errInvalidJSON},
		{"in a member name", `{"a\udc00":1}`, errLoneSurrogate},
		{"in a nested array", `{"m":{"k":["\udfff"]}}`, errLoneSurrogate},
		{"in a metadata value", `{"metadata":{"k":"v\ud800"}}`, errLoneSurrogate},
		{"in an id", `{"merchant_id":"m_1\udbff"}`, errLoneSurrogate},
		{"raw invalid UTF-8", "{\"a\":\"J\xffne\"}", errInvalidUTF8},
		{"surrogate encoded in UTF-8 (CESU-8)", "{\"a\":\"\xed\xa0\x80\"}", errInvalidUTF8},
		{"overlong UTF-8", "{\"a\":\"\xc0\xaf\"}", errInvalidUTF8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseStrictObject([]byte(tc.doc), nil); !errors.Is(err, tc.err) {
				t.Fatalf("want %v, got %v", tc.err, err)
			}
		})
	}
}
