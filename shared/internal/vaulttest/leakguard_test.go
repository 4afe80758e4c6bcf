package vaulttest

import (
	"strings"
	"testing"
)

func TestFindLeaksFindsCardNumbersByShape(t *testing.T) {
	for _, text := range []string{
		`{"msg":"x","pan":"4111111111111111"}`,
		"card 4242 4242 4242 4242 seen",
		"card 5555-5555-5555-4444.",
		`"n":378282246310005}`,
	} {
		if len(FindLeaks(text, nil)) == 0 {
			t.Errorf("no leak found in %q", text[:8])
		}
	}
}

func TestFindLeaksIgnoresIdentifiersAndTimes(t *testing.T) {
	for _, text := range []string{
		`{"time":"2026-11-22T10:00:00.123456789Z","duration_ms":3}`,
		`"prev":"a4111111111111111b","id":"tok_4111111111111111"`,
		`"ratio":0.4111111111111111`,
		"4111111111111112", // fails the Luhn check
		"4111 1111",        // too short
	} {
		if leaks := FindLeaks(text, nil); len(leaks) != 0 {
			t.Errorf("%q: %v", text, leaks)
		}
	}
}

func TestFindLeaksFindsRegisteredValuesAndJOSE(t *testing.T) {
	leaks := FindLeaks("line one\nsk_live_abcdef and eyJhbGciOiJFUzI1NiJ9", []string{"sk_live_abcdef"})
	if len(leaks) != 2 || !strings.Contains(leaks[0], "line 2") || strings.Contains(strings.Join(leaks, ""), "abcdef") {
		t.Fatalf("leaks: %v", leaks)
	}
}

func TestFindLeaksTellsJOSEFromRandomIdentifiers(t *testing.T) {
	for _, text := range []string{
		`"jti":"eyJabc0123456789abcdef"`, // "eyJ" by chance in a random id
		`"request_id":"KeyJ0rP2x9Qm1sT4uVwXyZ"`,
	} {
		if leaks := FindLeaks(text, nil); len(leaks) != 0 {
			t.Errorf("%q: %v", text, leaks)
		}
	}
	for _, text := range []string{
		"Bearer eyJhbGciOiJFUzI1NiIsImtpZCI6ImFwcC1zaWcifQ.eyJpc3MiOiJhcHAifQ.c2ln",
		`"body":"eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIn0"`,
		"claims eyJpc3MiOiJhcHAiLCJhdWQiOiJjYXJkLXZhdWx0In0",
	} {
		if len(FindLeaks(text, nil)) == 0 {
			t.Errorf("no JOSE found in %q", text[:12])
		}
	}
}

func TestKeyMaterialCoversVaultAndClientKeys(t *testing.T) {
	jwks := `{"keys":[{"kty":"EC","d":"0123456789abcdefghij","x":"public-x-value-long"}]}`
	if got := privateMembers([]byte(jwks)); len(got) != 1 || got[0] != "0123456789abcdefghij" {
		t.Fatalf("private members: %v", got)
	}
	if len(clientKeyMaterial()) < 4 {
		t.Fatal("test client keys not covered")
	}
}
