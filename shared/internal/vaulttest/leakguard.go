package vaulttest

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/cardvault/vault/shared/card"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/localmode"
)

// The leak guard: every vault a test starts is checked, when the test
// ends, for anything the contract forbids in its log output and audit
// trail: card numbers, holder names, secret values, key material and raw
// JOSE. Tests name the values they send with Sensitive; card numbers are
// also found by shape (a Luhn-valid run of 12 to 19 digits), so a number
// no test registered is caught as well.

// commonTestPANs are the well-known test card numbers, always searched for.
var commonTestPANs = []string{
	"4242424242424242", "5555555555554444", "378282246310005",
	"6011111111111117", "4000056655665556",
}

// minSensitiveLen keeps very short registered values (a one-letter secret
// in a validation test) from matching ordinary words.
const minSensitiveLen = 6

var sensitive struct {
	mu     sync.Mutex
	values map[string]bool
}

// Sensitive registers values (card numbers, holder names, secret values)
// that no vault started by this test binary may ever write to its log or
// audit trail. Call it from TestMain, an init function or a test.
func Sensitive(values ...string) {
	sensitive.mu.Lock()
	defer sensitive.mu.Unlock()
	if sensitive.values == nil {
		sensitive.values = map[string]bool{}
	}
	for _, v := range values {
		if len(v) >= minSensitiveLen {
			sensitive.values[v] = true
		}
	}
}

func sensitiveValues() []string {
	sensitive.mu.Lock()
	defer sensitive.mu.Unlock()
	out := append([]string(nil), commonTestPANs...)
	for v := range sensitive.values {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// guardLeaks checks the vault's outputs when the test ends. It is
// registered before the vault's own cleanups, so it runs after them: by
// then background work has stopped and the audit file is closed.
func (v *Vault) guardLeaks() {
	v.t.Cleanup(func() {
		for _, leak := range v.Leaks() {
			v.t.Errorf("leak guard: %s", leak)
		}
	})
}

// Leaks lists what the vault's log output and audit trail hold that they
// must not. Each entry says where and what kind, never the value.
func (v *Vault) Leaks() []string {
	needles := append(sensitiveValues(), v.keyMaterial()...)
	var leaks []string
	for _, out := range []struct{ name, text string }{
		{"log output", v.Logs.String()},
		{"audit trail", v.AuditText()},
	} {
		for _, l := range FindLeaks(out.text, needles) {
			leaks = append(leaks, out.name+": "+l)
		}
	}
	return leaks
}

// FindLeaks searches text for each needle, for raw JOSE and for anything
// shaped like a card number, and describes what it found without quoting
// it.
func FindLeaks(text string, needles []string) []string {
	var leaks []string
	for _, n := range needles {
		if n != "" && strings.Contains(text, n) {
			leaks = append(leaks, fmt.Sprintf("line %d holds a sensitive value (%s)", lineOf(text, strings.Index(text, n)), describe(n)))
		}
	}
	if i := joseSegment(text); i >= 0 {
		leaks = append(leaks, fmt.Sprintf("line %d holds raw JOSE (a base64url JSON header)", lineOf(text, i)))
	}
	for _, i := range cardNumberRuns(text) {
		leaks = append(leaks, fmt.Sprintf("line %d holds a Luhn-valid 12-19 digit run (a card number)", lineOf(text, i)))
	}
	return leaks
}

// describe names a value by its length and at most its first 4
// characters, which is what the contract lets any output show of a card.
func describe(s string) string {
	head := s
	if len(head) > 4 {
		head = head[:4]
	}
	return fmt.Sprintf("%d characters starting %q", len(s), head)
}

// jsonMember is how a base64url JOSE segment decodes: a JSON object
// opening with a member name ({"alg":, {"iss":, ...).
var jsonMember = regexp.MustCompile(`^\{"[A-Za-z0-9_]{1,32}"\s*:`)

// joseSegment returns the offset of the first base64url-encoded JSON
// object in text (what every JWS and JWE starts with: "eyJ" is the
// encoding of `{"`), or -1. Random identifiers of the same alphabet
// contain "eyJ" now and then, so a run counts only if it decodes to the
// start of a JSON member.
func joseSegment(text string) int {
	for from := 0; ; {
		i := strings.Index(text[from:], "eyJ")
		if i < 0 {
			return -1
		}
		start := from + i
		end := start
		for end < len(text) && isBase64URL(text[end]) {
			end++
		}
		from = end
		if start > 0 && isBase64URL(text[start-1]) {
			continue
		}
		run := text[start:end]
		run = run[:min(len(run), 48)/4*4]
		if decoded, err := base64.URLEncoding.DecodeString(run); err == nil && jsonMember.Match(decoded) {
			return start
		}
	}
}

func isBase64URL(c byte) bool {
	return isDigit(c) || c == '-' || c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func lineOf(text string, i int) int { return strings.Count(text[:i], "\n") + 1 }

// cardNumberRuns returns the offsets of digit runs of 12 to 19 digits
// (optionally grouped by single spaces or dashes, as people type cards)
// that pass the Luhn check and stand alone: a run glued to letters is part
// of a hash or an identifier, not a card number.
func cardNumberRuns(text string) []int {
	var found []int
	for i := 0; i < len(text); {
		if !isDigit(text[i]) {
			i++
			continue
		}
		start, end := i, i
		var digits []byte
		for j := i; j < len(text); j++ {
			if isDigit(text[j]) {
				digits = append(digits, text[j])
				end = j + 1
				continue
			}
			if (text[j] == ' ' || text[j] == '-') && j+1 < len(text) && isDigit(text[j+1]) {
				continue
			}
			break
		}
		i = end
		if len(digits) < 12 || len(digits) > 19 || !card.Luhn(string(digits)) {
			continue
		}
		if (start > 0 && (isWordByte(text[start-1]) || text[start-1] == '.')) || (end < len(text) && isWordByte(text[end])) {
			continue
		}
		found = append(found, start)
	}
	return found
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isWordByte(c byte) bool {
	return isDigit(c) || c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// keyMaterial is every private key value the vault or its test clients
// hold, in the encodings they could leak in: the local master key (hex
// and base64), the private members of the vault's JWKS and of the test
// clients' keys.
func (v *Vault) keyMaterial() []string {
	var out []string
	if data, err := os.ReadFile(filepath.Join(v.Dir, localmode.MasterKeyFile)); err == nil {
		h := strings.TrimSpace(string(data))
		out = append(out, h, strings.ToUpper(h))
		if raw, err := hex.DecodeString(h); err == nil {
			out = append(out, base64.StdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw))
		}
	}
	if data, err := os.ReadFile(filepath.Join(v.Dir, localmode.VaultJWKSFile)); err == nil {
		out = append(out, privateMembers(data)...)
	}
	return append(out, clientKeyMaterial()...)
}

// privateMembers extracts the private members of every key of a JWKS.
func privateMembers(jwks []byte) []string {
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if json.Unmarshal(jwks, &set) != nil {
		return nil
	}
	var out []string
	for _, k := range set.Keys {
		for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if s, ok := k[m].(string); ok && len(s) >= 16 {
				out = append(out, s)
			}
		}
	}
	return out
}

// clientKeyMaterial is the private members of the test clients' keys.
func clientKeyMaterial() []string {
	loadKeys()
	var out []string
	for _, key := range []any{keys.ec, keys.ec2, keys.rsa, keys.ed} {
		doc, err := json.Marshal(jose.JSONWebKey{Key: key})
		if err != nil {
			continue
		}
		out = append(out, privateMembers([]byte(`{"keys":[`+string(doc)+`]}`))...)
	}
	return out
}
