package wire

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/cardvault/vault/shared/vaulterr"
)

// The time window of the contract.
const (
	maxRequestAge   = 300 // seconds an iat may lie in the past
	maxClockAhead   = 60  // seconds an iat may lie in the future
	maxRequestLife  = 300 // seconds an exp may lie after iat
	maxClaimIDChars = 128 // jti, merchant_id
)

// claimSet is what the vault itself reads from every request's claims. It
// is filled from the members found by the strict scan, matching names
// exactly, so the claims are read once and without reflection.
type claimSet struct {
	iss, jti, op, merchantID string
	iat, exp                 int64
	hasExp                   bool
	audience                 bool // aud names the vault
	token, name              string
	hasToken, hasName        bool
	jobID                    string
	hasJobID                 bool
}

func malformedClaim(name string) error {
	return vaulterr.New(vaulterr.Malformed, "claim "+name+" is missing or ill-typed")
}

// readClaims extracts and type-checks the claims; a missing or ill-typed
// claim is malformed, whatever its value.
func readClaims(members []member) (claimSet, error) {
	var c claimSet
	var have struct{ iss, aud, iat, jti, op, merchant bool }
	for _, m := range members {
		var ok bool
		switch string(m.name) {
		case "iss":
			c.iss, ok = jsonString(m.raw)
			have.iss = ok
		case "aud":
			c.audience, ok = namesVault(m.raw)
			have.aud = ok
		case "iat":
			c.iat, ok = jsonInt(m.raw)
			have.iat = ok
		case "exp":
			c.exp, ok = jsonInt(m.raw)
			c.hasExp = true
		case "jti":
			c.jti, ok = jsonString(m.raw)
			ok = ok && charsWithin(c.jti, maxClaimIDChars)
			have.jti = ok
		case "op":
			c.op, ok = jsonString(m.raw)
			have.op = ok
		case "merchant_id":
			c.merchantID, ok = jsonString(m.raw)
			ok = ok && charsWithin(c.merchantID, maxClaimIDChars)
			have.merchant = ok
		case "token":
			c.token, ok = jsonString(m.raw)
			c.hasToken = true
		case "name":
			c.name, ok = jsonString(m.raw)
			c.hasName = true
		case "job_id":
			c.jobID, ok = jsonString(m.raw)
			c.hasJobID = true
		default:
			if known, variant := caseVariantOf(m.name); variant {
				return claimSet{}, vaulterr.New(vaulterr.Malformed, "a claim name differs from "+known+" only in case")
			}
			continue
		}
		if !ok {
			return claimSet{}, malformedClaim(string(m.name))
		}
	}
	switch {
	case !have.iss:
		return claimSet{}, malformedClaim("iss")
	case !have.aud:
		return claimSet{}, malformedClaim("aud")
	case !have.iat:
		return claimSet{}, malformedClaim("iat")
	case !have.jti:
		return claimSet{}, malformedClaim("jti")
	case !have.op:
		return claimSet{}, malformedClaim("op")
	case !have.merchant:
		return claimSet{}, malformedClaim("merchant_id")
	}
	return c, nil
}

// envelopeClaims are the claims readClaims reads from every request.
var envelopeClaims = [...]string{"iss", "aud", "iat", "exp", "jti", "op", "merchant_id", "token", "name"}

// caseVariantOf reports whether name differs from one of envelopeClaims
// only in case, and which. Like Object's reads, the vault refuses such a
// member rather than ignore it: encoding/json, and so many a client's
// library, would take "Merchant_ID" for merchant_id.
func caseVariantOf(name []byte) (string, bool) {
	for _, known := range envelopeClaims {
		if equalFold(name, known) {
			return known, true
		}
	}
	return "", false
}

// check applies the contract's rules, in the contract's order, to claims
// whose signature verified with a key of client.
func (c *claimSet) check(client *Client, want Expect, now time.Time) error {
	if c.iss != client.ID {
		return vaulterr.New(vaulterr.Unauthenticated, "issuer does not own the signing key")
	}
	if !c.audience {
		return vaulterr.New(vaulterr.Unauthenticated, "audience is not "+Audience)
	}
	nowS := now.Unix()
	// Compared as integers, never as nowS-iat, which a hostile iat could
	// overflow.
	if c.iat < nowS-maxRequestAge {
		return vaulterr.New(vaulterr.Stale, "request is too old")
	}
	if c.iat > nowS+maxClockAhead {
		return vaulterr.New(vaulterr.Stale, "request is issued in the future")
	}
	if c.hasExp {
		if c.exp > c.iat+maxRequestLife {
			return vaulterr.New(vaulterr.Stale, "exp is more than 300 s after iat")
		}
		if c.exp <= nowS {
			return vaulterr.New(vaulterr.Stale, "request has expired")
		}
	}
	if Operation(c.op) != want.Op {
		return vaulterr.New(vaulterr.Forbidden, "operation does not match route")
	}
	if !client.AllowsOperation(want.Op) {
		return vaulterr.New(vaulterr.Forbidden, "client is not allowed this operation")
	}
	if want.MerchantID != "" && c.merchantID != want.MerchantID {
		return vaulterr.New(vaulterr.Forbidden, "merchant does not match route")
	}
	if !client.AllowsMerchant(c.merchantID) {
		return vaulterr.New(vaulterr.Forbidden, "client is not allowed this merchant")
	}
	if want.Token != "" {
		if !c.hasToken {
			return malformedClaim("token")
		}
		if c.token != want.Token {
			return vaulterr.New(vaulterr.Forbidden, "token does not match route")
		}
	}
	if want.Name != "" {
		if !c.hasName {
			return malformedClaim("name")
		}
		if c.name != want.Name {
			return vaulterr.New(vaulterr.Forbidden, "name does not match route")
		}
	}
	if want.JobID != "" {
		if !c.hasJobID {
			return malformedClaim("job_id")
		}
		if c.jobID != want.JobID {
			return vaulterr.New(vaulterr.Forbidden, "job_id does not match route")
		}
	}
	return nil
}

// namesVault reads an aud claim, a string or an array of strings, and
// reports whether it names the vault; ok is false when it is ill-typed.
func namesVault(raw []byte) (names, ok bool) {
	if s, isString := jsonString(raw); isString {
		return s == Audience, true
	}
	if len(raw) == 0 || raw[0] != '[' {
		return false, false
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return false, false
	}
	for _, s := range list {
		if s == Audience {
			names = true
		}
	}
	return names, true
}

// jsonInt reads an integer JSON number. NumericDate may be fractional in
// general, but the contract asks for integer seconds, and refusing the rest
// keeps 1e3 and 1000.0 from being read differently by different clients.
func jsonInt(raw []byte) (int64, bool) {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, false
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	return v, err == nil
}

func charsWithin(s string, maxChars int) bool {
	return s != "" && utf8.RuneCountInString(s) <= maxChars
}
