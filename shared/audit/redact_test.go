package audit

import (
	"strings"
	"testing"
)

func TestMaskCardNumbers(t *testing.T) {
	cases := map[string]string{
		"tok_abc":                               "tok_abc",
		"4242424242424242":                      "4242********4242",
		"x4242424242424242y":                    "x4242********4242y",
		"4242 4242 4242 4242":                   "4242 **** **** 4242",
		"5555-5555-5555-4444 and 1234":          "5555-****-****-4444 and 1234",
		"378282246310005":                       "3782*******0005",
		"1234567890123456":                      "1234567890123456", // fails Luhn: not a card number
		"12345678901234567890123":               "1234***************0123",
		"2026-11-22T10:00:00Z":                  "2026-11-22T10:00:00Z",
		"ids 4242424242424242,4000056655665556": "ids 4242********4242,4000********5556",
	}
	for in, want := range cases {
		if got := MaskCardNumbers(in); got != want {
			t.Errorf("MaskCardNumbers(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPrepareBoundsFieldsAndStampsVersion(t *testing.T) {
	e := prepare(Event{UserAgent: strings.Repeat("é", 300), KMSRequestIDs: []string{"4242424242424242"},
		RequestID: "5555555555554444", JTI: "4242424242424242", Token: "tok_4242424242424242"})
	if e.V != SchemaVersion {
		t.Errorf("v = %d", e.V)
	}
	if len(e.UserAgent) > maxFieldBytes || !strings.HasPrefix(e.UserAgent, "éé") || strings.ContainsRune(e.UserAgent, '\uFFFD') {
		t.Errorf("user agent not cut on a rune boundary: %d bytes", len(e.UserAgent))
	}
	// Identifiers made by AWS or the vault are kept as they are, so they
	// still join CloudTrail and API Gateway records; members a client
	// chooses are masked.
	if e.KMSRequestIDs[0] != "4242424242424242" || e.RequestID != "5555555555554444" {
		t.Errorf("system ids altered: %q %q", e.KMSRequestIDs[0], e.RequestID)
	}
	if e.JTI != "4242********4242" || e.Token != "tok_4242********4242" {
		t.Errorf("client-chosen members not masked: %q %q", e.JTI, e.Token)
	}
}

// A field is masked before it is cut: cutting first could leave the head
// of a card number at the end of the field, too short to be recognised.
func TestPrepareMasksBeforeCutting(t *testing.T) {
	pan := "4242424242424242"
	for pad := maxFieldBytes - len(pan); pad < maxFieldBytes; pad++ {
		e := prepare(Event{UserAgent: strings.Repeat("a", pad) + pan})
		if strings.Contains(e.UserAgent, "42424") {
			t.Fatalf("padding %d: user agent keeps %q of the card number", pad, e.UserAgent[pad:])
		}
	}
}

// TestPrepareKeepsTheIAMPrincipal: an AWS account id is 12 digits and can
// pass the Luhn check; the principal is AWS's identifier, not a client's
// input, and masking it would break the join to CloudTrail.
func TestPrepareKeepsTheIAMPrincipal(t *testing.T) {
	const account = "123456789015" // Luhn-valid
	e := prepare(Event{
		IAMUserARN:   "arn:aws:sts::" + account + ":assumed-role/app-server/s1",
		IAMAccountID: account,
		IAMCallerID:  "AROAEXAMPLEROLEID:s1",
		UserAgent:    "agent " + account,
	})
	if e.IAMAccountID != account || e.IAMUserARN != "arn:aws:sts::"+account+":assumed-role/app-server/s1" || e.IAMCallerID != "AROAEXAMPLEROLEID:s1" {
		t.Errorf("IAM principal altered: %q %q %q", e.IAMUserARN, e.IAMAccountID, e.IAMCallerID)
	}
	if e.UserAgent == "agent "+account {
		t.Error("a client-chosen field was not masked (the test's number must be Luhn-valid)")
	}
}

// TestCardShapedTokensAreNotMasked: a card-shaped token (12 to 19 digits,
// never Luhn-valid) is an identifier the trail must keep whole; the card
// number it stands for is masked.
func TestCardShapedTokensAreNotMasked(t *testing.T) {
	for _, tok := range []string{"4242730195584242", "424242420043", "4000056612345675556"} {
		if got := MaskCardNumbers(tok); got != tok {
			t.Errorf("token %s masked to %s", tok, got)
		}
		if e := prepare(Event{Token: tok}); e.Token != tok {
			t.Errorf("event token %s became %s", tok, e.Token)
		}
	}
	if got := MaskCardNumbers("4242424242424242"); got != "4242********4242" {
		t.Errorf("card number masked to %s", got)
	}
}
