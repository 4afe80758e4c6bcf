package wire

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/vaulterr"
)

var wantVault = Expect{Op: OpVaultCard}

func TestOpenRoundTrip(t *testing.T) {
	f := mustFixture(t)
	signers := []struct {
		alg jose.SignatureAlgorithm
		key any
		kid string
	}{
		{jose.ES256, f.ecSig, "app-sig-es"},
		{jose.PS256, f.rsaSig, "app-sig-rsa"},
		{jose.RS256, f.rsaSig, "app-sig-rsa"},
		{jose.EdDSA, f.edSig, "app-sig-ed"},
	}
	for _, s := range signers {
		for _, carrier := range []string{"bearer", string(jose.RSA_OAEP_256), string(jose.ECDH_ES_A256KW)} {
			t.Run(string(s.alg)+"/"+carrier, func(t *testing.T) {
				c := claims()
				jws := signJWS(t, s.alg, s.key, s.kid, mustJSON(c), nil)
				var req *Request
				var err error
				if carrier == "bearer" {
					req, err = f.opener.OpenBearer(jws, wantVault)
				} else {
					req, err = f.opener.OpenJWE(encryptJWE(t, f, jws, jweOptions{alg: jose.KeyAlgorithm(carrier)}), wantVault)
				}
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				if req.Client.ID != "app-server" || req.Issuer != "app-server" || req.Op != OpVaultCard ||
					req.JTI != c["jti"] || req.MerchantID != "m_123" || req.SigningKeyID != s.kid ||
					!req.IssuedAt.Equal(fixedNow) || !req.ExpiresAt.IsZero() {
					t.Fatalf("unexpected request: %+v", req)
				}
				claims := req.Claims()
				customer, _, err1 := claims.String("customer_id")
				card, _, err2 := claims.Object("card")
				number, _, err3 := card.String("number")
				month, _, err4 := card.Int("exp_month")
				if err := errors.Join(err1, err2, err3, err4); err != nil {
					t.Fatalf("claims: %v", err)
				}
				if customer != "c_9" || number != cardNumber || month != 12 {
					t.Fatalf("read %q %q %d", customer, number, month)
				}
			})
		}
	}
}

// openCase is one request and the contract code it must get ("" means
// accepted).
type openCase struct {
	name string
	jwe  bool // the credential is a JWE body; otherwise a bearer JWS
	cred func(t *testing.T, f *testFixture) string
	want Expect
	code vaulterr.Code
}

func es256(t *testing.T, f *testFixture, c map[string]any) string {
	return signJWS(t, jose.ES256, f.ecSig, "app-sig-es", mustJSON(c), nil)
}

func es256Raw(t *testing.T, f *testFixture, payload string) string {
	return signJWS(t, jose.ES256, f.ecSig, "app-sig-es", []byte(payload), nil)
}

func claimsJWS(mutate ...any) func(t *testing.T, f *testFixture) string {
	return func(t *testing.T, f *testFixture) string { return es256(t, f, with(claims(), mutate...)) }
}

func rawJWS(payload string) func(t *testing.T, f *testFixture) string {
	return func(t *testing.T, f *testFixture) string { return es256Raw(t, f, payload) }
}

func headerJWS(header string) func(t *testing.T, f *testFixture) string {
	return func(t *testing.T, f *testFixture) string {
		return rawES256(t, f.ecSig, header, string(mustJSON(claims())))
	}
}

func jweOf(o jweOptions, mutate ...any) func(t *testing.T, f *testFixture) string {
	return func(t *testing.T, f *testFixture) string {
		return encryptJWE(t, f, es256(t, f, with(claims(), mutate...)), o)
	}
}

const validPayloadPrefix = `{"iss":"app-server","aud":"card-vault","iat":1790000000,"jti":"j1","op":"vault_card","merchant_id":"m_123",`

func authenticationCases() []openCase {
	return []openCase{
		{name: "valid bearer", cred: claimsJWS(), want: wantVault},
		{name: "empty credential", cred: func(*testing.T, *testFixture) string { return "" }, want: wantVault, code: vaulterr.Unauthenticated},
		{name: "oversized", cred: func(*testing.T, *testFixture) string { return strings.Repeat("a", MaxCompactLen) + ".b.c" }, want: wantVault, code: vaulterr.PayloadTooLarge},
		{name: "two parts", cred: func(*testing.T, *testFixture) string { return "a.b" }, want: wantVault, code: vaulterr.Malformed},
		{name: "header not base64url", cred: func(*testing.T, *testFixture) string { return "***.e30.AA" }, want: wantVault, code: vaulterr.Malformed},
		{name: "header not JSON", cred: func(*testing.T, *testFixture) string { return b64("{alg") + ".e30.AA" }, want: wantVault, code: vaulterr.Malformed},
		{name: "header duplicate alg", cred: headerJWS(`{"alg":"ES256","kid":"app-sig-es","alg":"ES256"}`), want: wantVault, code: vaulterr.Malformed},
		{name: "header kid with a lone surrogate", cred: headerJWS(`{"alg":"ES256","kid":"app-sig-es\ud800"}`), want: wantVault, code: vaulterr.Malformed},
		{name: "claims with a lone surrogate", cred: rawJWS(validPayloadPrefix + `"card":{"number":"4242424242424242","holder_name":"Ann\udc00Lee"}}`), want: wantVault, code: vaulterr.Malformed},
		{name: "alg none", want: wantVault, code: vaulterr.Unauthenticated, cred: func(*testing.T, *testFixture) string {
			return b64(`{"alg":"none","kid":"app-sig-es"}`) + "." + b64(string(mustJSON(claims()))) + "."
		}},
		{name: "alg HS256 keyed with the client's public key", want: wantVault, code: vaulterr.Unauthenticated, cred: func(t *testing.T, f *testFixture) string {
			der, err := x509.MarshalPKIXPublicKey(&f.rsaSig.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			return signJWS(t, jose.HS256, der, "app-sig-rsa", mustJSON(claims()), nil)
		}},
		{name: "alg missing", cred: headerJWS(`{"kid":"app-sig-es"}`), want: wantVault, code: vaulterr.Unauthenticated},
		{name: "alg ES384", cred: headerJWS(`{"alg":"ES384","kid":"app-sig-es"}`), want: wantVault, code: vaulterr.Unauthenticated},
		{name: "crit header", want: wantVault, code: vaulterr.Unauthenticated, cred: func(t *testing.T, f *testFixture) string {
			opts := (&jose.SignerOptions{}).WithHeader("exp", 1).WithCritical("exp")
			return signJWS(t, jose.ES256, f.ecSig, "app-sig-es", mustJSON(claims()), opts)
		}},
		{name: "b64 header", cred: headerJWS(`{"alg":"ES256","kid":"app-sig-es","b64":true}`), want: wantVault, code: vaulterr.Unauthenticated},
		{name: "kid missing", cred: headerJWS(`{"alg":"ES256"}`), want: wantVault, code: vaulterr.Unauthenticated},
		{name: "kid unknown", want: wantVault, code: vaulterr.Unauthenticated, cred: func(t *testing.T, f *testFixture) string {
			return signJWS(t, jose.ES256, f.ecSig, "no-such-kid", mustJSON(claims()), nil)
		}},
		{name: "kid of a client enc key", want: wantVault, code: vaulterr.Unauthenticated, cred: func(t *testing.T, f *testFixture) string {
			return signJWS(t, jose.RS256, f.appEnc, "app-enc-rsa", mustJSON(claims()), nil)
		}},
		{name: "kid of another client, iss names this one", want: wantVault, code: vaulterr.Unauthenticated, cred: func(t *testing.T, f *testFixture) string {
			return signJWS(t, jose.ES256, f.otherSig, "other-sig", mustJSON(claims()), nil)
		}},
		{name: "alg does not fit the key", want: wantVault, code: vaulterr.Unauthenticated, cred: func(t *testing.T, f *testFixture) string {
			return signJWS(t, jose.ES256, f.ecSig, "app-sig-rsa", mustJSON(claims()), nil)
		}},
		{name: "alg not the one the key declares", want: wantVault, code: vaulterr.Unauthenticated, cred: func(t *testing.T, f *testFixture) string {
			return signJWS(t, jose.EdDSA, f.edSig, "app-sig-es", mustJSON(claims()), nil)
		}},
		{name: "bad signature", want: wantVault, code: vaulterr.Unauthenticated, cred: func(t *testing.T, f *testFixture) string {
			jws := es256(t, f, claims())
			i := strings.LastIndexByte(jws, '.')
			sig, err := base64.RawURLEncoding.DecodeString(jws[i+1:])
			if err != nil {
				t.Fatal(err)
			}
			sig[10] ^= 1
			return jws[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
		}},
		{name: "payload swapped under a valid signature", want: wantVault, code: vaulterr.Unauthenticated, cred: func(t *testing.T, f *testFixture) string {
			parts := strings.Split(es256(t, f, claims()), ".")
			return parts[0] + "." + b64(string(mustJSON(with(claims(), "merchant_id", "m_999")))) + "." + parts[2]
		}},
		{name: "embedded jwk of the attacker, kid not registered", want: wantVault, code: vaulterr.Unauthenticated, cred: func(t *testing.T, f *testFixture) string {
			return rawES256(t, f.attackerSig, `{"alg":"ES256","kid":"attacker","jwk":`+string(publicJWK(f.attackerSig, "attacker", "sig", "ES256"))+`}`, string(mustJSON(claims())))
		}},
		{name: "embedded jwk of the attacker, registered kid", want: wantVault, code: vaulterr.Unauthenticated, cred: func(t *testing.T, f *testFixture) string {
			return rawES256(t, f.attackerSig, `{"alg":"ES256","kid":"app-sig-es","jwk":`+string(publicJWK(f.attackerSig, "x", "sig", "ES256"))+`}`, string(mustJSON(claims())))
		}},
		{name: "embedded jwk ignored when the registry key signed", want: wantVault, cred: func(t *testing.T, f *testFixture) string {
			return rawES256(t, f.ecSig, `{"alg":"ES256","kid":"app-sig-es","jwk":`+string(publicJWK(f.attackerSig, "x", "sig", "ES256"))+`}`, string(mustJSON(claims())))
		}},
		{name: "jku and x5u are not fetched", cred: headerJWS(`{"alg":"ES256","kid":"app-sig-es","jku":"http://127.0.0.1:1/jwks","x5u":"http://127.0.0.1:1/x"}`), want: wantVault},
	}
}

func claimCases() []openCase {
	tokenRoute := Expect{Op: OpRevealCard, Token: "tok_1"}
	nameRoute := Expect{Op: OpPutSecret, MerchantID: "m_123", Name: "stripe-key"}
	limited := func(mutate ...any) func(t *testing.T, f *testFixture) string {
		return func(t *testing.T, f *testFixture) string {
			c := with(claims(), append([]any{"iss", "limited", "merchant_id", "m_1"}, mutate...)...)
			return signJWS(t, jose.ES256, f.limitedSig, "limited-sig", mustJSON(c), nil)
		}
	}
	return []openCase{
		{name: "payload is an array", cred: rawJWS(`[1,2]`), want: wantVault, code: vaulterr.Malformed},
		{name: "payload is a string", cred: rawJWS(`"card"`), want: wantVault, code: vaulterr.Malformed},
		{name: "payload is not JSON", cred: rawJWS(`{"iss":`), want: wantVault, code: vaulterr.Malformed},
		{name: "payload has invalid UTF-8", cred: rawJWS(validPayloadPrefix + "\"customer_id\":\"c\xff\"}"), want: wantVault, code: vaulterr.Malformed},
		{name: "duplicate top-level claim", cred: rawJWS(validPayloadPrefix + `"merchant_id":"m_999"}`), want: wantVault, code: vaulterr.Malformed},
		{name: "duplicate claim differing in case", cred: rawJWS(validPayloadPrefix + `"Merchant_ID":"m_999"}`), want: wantVault, code: vaulterr.Malformed},
		{name: "duplicate nested member", cred: rawJWS(validPayloadPrefix + `"card":{"number":"` + cardNumber + `","number":"4000056655665556"}}`), want: wantVault, code: vaulterr.Malformed},
		{name: "duplicate escaped member", cred: rawJWS(validPayloadPrefix + `"card":{"number":"` + cardNumber + `","\u006eumber":"1"}}`), want: wantVault, code: vaulterr.Malformed},
		{name: "valid raw payload", cred: rawJWS(validPayloadPrefix + `"card":{"number":"` + cardNumber + `"}}`), want: wantVault},
		{name: "iss missing", cred: claimsJWS("iss", nil), want: wantVault, code: vaulterr.Malformed},
		{name: "iss not a string", cred: claimsJWS("iss", 7), want: wantVault, code: vaulterr.Malformed},
		{name: "aud missing", cred: claimsJWS("aud", nil), want: wantVault, code: vaulterr.Malformed},
		{name: "aud ill-typed", cred: claimsJWS("aud", 1), want: wantVault, code: vaulterr.Malformed},
		{name: "iat missing", cred: claimsJWS("iat", nil), want: wantVault, code: vaulterr.Malformed},
		{name: "iat a string", cred: claimsJWS("iat", "1790000000"), want: wantVault, code: vaulterr.Malformed},
		{name: "iat fractional", cred: claimsJWS("iat", 1790000000.5), want: wantVault, code: vaulterr.Malformed},
		{name: "jti missing", cred: claimsJWS("jti", nil), want: wantVault, code: vaulterr.Malformed},
		{name: "jti empty", cred: claimsJWS("jti", ""), want: wantVault, code: vaulterr.Malformed},
		{name: "jti of 128 chars", cred: claimsJWS("jti", strings.Repeat("é", 128)), want: wantVault},
		{name: "jti too long", cred: claimsJWS("jti", strings.Repeat("j", 129)), want: wantVault, code: vaulterr.Malformed},
		{name: "op missing", cred: claimsJWS("op", nil), want: wantVault, code: vaulterr.Malformed},
		{name: "merchant_id missing", cred: claimsJWS("merchant_id", nil), want: wantVault, code: vaulterr.Malformed},
		{name: "merchant_id too long", cred: claimsJWS("merchant_id", strings.Repeat("m", 129)), want: wantVault, code: vaulterr.Malformed},
		{name: "exp ill-typed", cred: claimsJWS("exp", "soon"), want: wantVault, code: vaulterr.Malformed},
		{name: "iss names another client", cred: claimsJWS("iss", "other"), want: wantVault, code: vaulterr.Unauthenticated},
		{name: "aud wrong", cred: claimsJWS("aud", "other-service"), want: wantVault, code: vaulterr.Unauthenticated},
		{name: "aud array naming the vault", cred: claimsJWS("aud", []string{"x", Audience}), want: wantVault},
		{name: "aud array without the vault", cred: claimsJWS("aud", []string{"x"}), want: wantVault, code: vaulterr.Unauthenticated},
		{name: "iat 300 s old", cred: claimsJWS("iat", fixedNow.Unix()-300), want: wantVault},
		{name: "iat 301 s old", cred: claimsJWS("iat", fixedNow.Unix()-301), want: wantVault, code: vaulterr.Stale},
		{name: "iat 60 s ahead", cred: claimsJWS("iat", fixedNow.Unix()+60), want: wantVault},
		{name: "iat 61 s ahead", cred: claimsJWS("iat", fixedNow.Unix()+61), want: wantVault, code: vaulterr.Stale},
		{name: "iat far past", cred: claimsJWS("iat", int64(-1)<<62), want: wantVault, code: vaulterr.Stale},
		{name: "iat far future", cred: claimsJWS("iat", int64(1)<<62), want: wantVault, code: vaulterr.Stale},
		{name: "exp valid", cred: claimsJWS("exp", fixedNow.Unix()+300), want: wantVault},
		{name: "exp beyond iat+300", cred: claimsJWS("exp", fixedNow.Unix()+301), want: wantVault, code: vaulterr.Stale},
		{name: "exp passed", cred: claimsJWS("iat", fixedNow.Unix()-100, "exp", fixedNow.Unix()), want: wantVault, code: vaulterr.Stale},
		{name: "op mismatch", cred: claimsJWS("op", string(OpDeleteCard)), want: wantVault, code: vaulterr.Forbidden},
		{name: "op unknown", cred: claimsJWS("op", "drop_tables"), want: wantVault, code: vaulterr.Forbidden},
		{name: "limited client, allowed", cred: limited(), want: wantVault},
		{name: "op not allowed", cred: limited("op", string(OpGetKeys)), want: Expect{Op: OpGetKeys}, code: vaulterr.Forbidden},
		{name: "merchant not allowed", cred: limited("merchant_id", "m_2"), want: wantVault, code: vaulterr.Forbidden},
		{name: "route merchant mismatch", cred: claimsJWS("op", string(OpGetKeys), "merchant_id", "m_2"), want: Expect{Op: OpGetKeys, MerchantID: "m_123"}, code: vaulterr.Forbidden},
		{name: "route merchant match", cred: claimsJWS("op", string(OpGetKeys)), want: Expect{Op: OpGetKeys, MerchantID: "m_123"}},
		{name: "merchant outside the client's list", want: wantVault, code: vaulterr.Forbidden, cred: func(t *testing.T, f *testFixture) string {
			c := with(claims(), "iss", "ec-client", "merchant_id", "m_2")
			return signJWS(t, jose.ES256, f.ecClientSig, "ec-sig", mustJSON(c), nil)
		}},
		{name: "token match", cred: claimsJWS("op", string(OpRevealCard), "token", "tok_1"), want: tokenRoute},
		{name: "token mismatch", cred: claimsJWS("op", string(OpRevealCard), "token", "tok_2"), want: tokenRoute, code: vaulterr.Forbidden},
		{name: "token missing", cred: claimsJWS("op", string(OpRevealCard)), want: tokenRoute, code: vaulterr.Malformed},
		{name: "token ill-typed", cred: claimsJWS("op", string(OpRevealCard), "token", 1), want: tokenRoute, code: vaulterr.Malformed},
		{name: "name match", cred: claimsJWS("op", string(OpPutSecret), "name", "stripe-key"), want: nameRoute},
		{name: "name mismatch", cred: claimsJWS("op", string(OpPutSecret), "name", "adyen-key"), want: nameRoute, code: vaulterr.Forbidden},
		{name: "name missing", cred: claimsJWS("op", string(OpPutSecret)), want: nameRoute, code: vaulterr.Malformed},
		{name: "invalid route op", cred: claimsJWS(), want: Expect{Op: "bogus"}, code: vaulterr.Internal},
	}
}

func jweCases() []openCase {
	return []openCase{
		{name: "JWE RSA valid", jwe: true, cred: jweOf(jweOptions{}), want: wantVault},
		{name: "JWE EC valid", jwe: true, cred: jweOf(jweOptions{alg: jose.ECDH_ES_A256KW}), want: wantVault},
		{name: "JWE cty lower case", jwe: true, cred: jweOf(jweOptions{cty: "jwt"}), want: wantVault},
		{name: "JWE cty wrong", jwe: true, cred: jweOf(jweOptions{cty: "JSON"}), want: wantVault, code: vaulterr.Malformed},
		{name: "JWE alg RSA-OAEP", jwe: true, cred: jweOf(jweOptions{alg: jose.RSA_OAEP}), want: wantVault, code: vaulterr.Malformed},
		{name: "JWE enc A128GCM", jwe: true, cred: jweOf(jweOptions{enc: jose.A128GCM}), want: wantVault, code: vaulterr.Malformed},
		{name: "JWE enc A256CBC-HS512", jwe: true, cred: jweOf(jweOptions{enc: jose.A256CBC_HS512}), want: wantVault, code: vaulterr.Malformed},
		{name: "JWE zip", jwe: true, cred: jweOf(jweOptions{zip: true}), want: wantVault, code: vaulterr.Malformed},
		{name: "JWE kid unknown", jwe: true, cred: jweOf(jweOptions{kid: "vault-enc-old"}), want: wantVault, code: vaulterr.Unauthenticated},
		{name: "JWE alg does not fit the kid", jwe: true, want: wantVault, code: vaulterr.Malformed, cred: func(t *testing.T, f *testFixture) string {
			return encryptJWE(t, f, es256(t, f, claims()), jweOptions{alg: jose.ECDH_ES_A256KW, kid: f.vaultRSAKid})
		}},
		{name: "JWE ciphertext tampered", jwe: true, want: wantVault, code: vaulterr.Malformed, cred: func(t *testing.T, f *testFixture) string {
			parts := strings.Split(encryptJWE(t, f, es256(t, f, claims()), jweOptions{}), ".")
			ct, _ := base64.RawURLEncoding.DecodeString(parts[3])
			ct[0] ^= 1
			parts[3] = base64.RawURLEncoding.EncodeToString(ct)
			return strings.Join(parts, ".")
		}},
		{name: "JWE four parts", jwe: true, cred: func(*testing.T, *testFixture) string { return "a.b.c.d" }, want: wantVault, code: vaulterr.Malformed},
		{name: "JWE header not JSON", jwe: true, cred: func(*testing.T, *testFixture) string { return b64("x") + ".b.c.d.e" }, want: wantVault, code: vaulterr.Malformed},
		{name: "JWE plaintext not a JWS", jwe: true, want: wantVault, code: vaulterr.Malformed, cred: func(t *testing.T, f *testFixture) string {
			return encryptJWE(t, f, `{"card":{"number":"`+cardNumber+`"}}`, jweOptions{})
		}},
		{name: "JWE wrapping an unsigned JWS", jwe: true, want: wantVault, code: vaulterr.Unauthenticated, cred: func(t *testing.T, f *testFixture) string {
			return encryptJWE(t, f, b64(`{"alg":"none","kid":"app-sig-es"}`)+"."+b64(string(mustJSON(claims())))+".", jweOptions{})
		}},
		{name: "JWE wrapping a stale JWS", jwe: true, cred: jweOf(jweOptions{}, "iat", fixedNow.Unix()-1000), want: wantVault, code: vaulterr.Stale},
	}
}

func TestOpenRefusals(t *testing.T) {
	f := mustFixture(t)
	var cases []openCase
	cases = append(cases, authenticationCases()...)
	cases = append(cases, claimCases()...)
	cases = append(cases, jweCases()...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cred := tc.cred(t, f)
			var req *Request
			var err error
			if tc.jwe {
				req, err = f.opener.OpenJWE(cred, tc.want)
			} else {
				req, err = f.opener.OpenBearer(cred, tc.want)
			}
			if tc.code == "" {
				if err != nil {
					t.Fatalf("want accepted, got %v", err)
				}
				if req == nil || req.Client == nil {
					t.Fatal("accepted without a request")
				}
				return
			}
			if err == nil {
				t.Fatalf("want %s, accepted", tc.code)
			}
			var verr *vaulterr.Error
			if !errors.As(err, &verr) {
				t.Fatalf("want *vaulterr.Error, got %T %v", err, err)
			}
			if verr.Code != tc.code {
				t.Fatalf("want %s, got %v", tc.code, err)
			}
			t.Logf("refused: %v", err)
			assertCallerSafe(t, err, cred)
		})
	}
}

// assertCallerSafe checks that neither the message nor the logged cause
// carries the card number or the credential.
func assertCallerSafe(t *testing.T, err error, cred string) {
	t.Helper()
	text := err.Error()
	if strings.Contains(text, cardNumber) || strings.Contains(text, cardNumber[4:12]) {
		t.Fatalf("error carries the card number: %q", text)
	}
	if len(cred) > 16 && strings.Contains(text, cred[:16]) {
		t.Fatalf("error carries the credential: %q", text)
	}
}

func TestOpenerWithoutKeysOrRegistry(t *testing.T) {
	f := mustFixture(t)
	jws := es256(t, f, claims())
	if _, err := (&Opener{Clients: StaticRegistry(f.registry)}).OpenJWE(encryptJWE(t, f, jws, jweOptions{}), wantVault); vaulterr.CodeOf(err) != vaulterr.Internal {
		t.Fatalf("no keys: want internal, got %v", err)
	}
	if _, err := (&Opener{Clients: StaticRegistry(nil), Now: f.opener.Now}).OpenBearer(jws, wantVault); vaulterr.CodeOf(err) != vaulterr.Unavailable {
		t.Fatalf("no registry: want unavailable, got %v", err)
	}
}

// Every claim the vault reads from every request, under a name that
// differs only in case, is refused as malformed for every operation,
// whether or not the exact claim is also there (then it is a duplicate).
func TestEnvelopeClaimCaseVariantsAreRefusedForEveryOperation(t *testing.T) {
	f := mustFixture(t)
	variants := map[string]string{
		"iss": "ISS", "aud": "Aud", "iat": "IAT", "exp": "Exp", "jti": "JTI", "op": "Op",
		"merchant_id": "Merchant_ID", "token": "Token", "name": "NAME",
	}
	for _, op := range []Operation{OpVaultCard, OpGetMasked, OpRevealCard, OpDeleteCard, OpPutSecret, OpGetSecret,
		OpRevealSecret, OpDeleteSecret, OpRotateKeys, OpGetKeys, OpShredMerchant} {
		base := func() map[string]any {
			return with(claims(), "op", string(op), "exp", fixedNow.Unix()+60, "token", "tok_1", "name", "api-key")
		}
		want := Expect{Op: op}
		if _, err := f.opener.OpenBearer(es256(t, f, base()), want); err != nil {
			t.Fatalf("%s: valid claims refused: %v", op, err)
		}
		for exact, variant := range variants {
			replaced := base()
			replaced[variant] = replaced[exact]
			delete(replaced, exact)
			both := base()
			both[variant] = both[exact]
			for what, c := range map[string]map[string]any{"in place of " + exact: replaced, "beside " + exact: both} {
				_, err := f.opener.OpenBearer(es256(t, f, c), want)
				if vaulterr.CodeOf(err) != vaulterr.Malformed {
					t.Errorf("%s: %s %s: got %v, want malformed_request", op, variant, what, err)
				}
			}
		}
	}
}
