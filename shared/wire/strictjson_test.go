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
