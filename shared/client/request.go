package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/secret"
)

// joseMediaType is the content type of JWE request bodies and reveal
// answers.
const joseMediaType = "application/jose"

// maxAnswerBytes bounds what is read of an answer. The largest legitimate
// one, a revealed 32 KiB secret sealed twice, is far below it.
const maxAnswerBytes = 1 << 20

// call is one operation to send: its route, its claims beyond the common
// ones, and whether the claims hold card data or a secret value (then they
// travel encrypted in the body, otherwise as a Bearer credential).
type call struct {
	op         string
	method     string
	path       string
	merchantID string
	token      string
	name       string
	extra      map[string]any
	sensitive  bool
}

// answer is a 2xx response: status, headers, the jti the request carried
// (reveal answers must echo it) and the body.
type answer struct {
	status int
	header http.Header
	jti    string
	body   []byte
}

// claims are the contract's request claims common to every operation.
type claims struct {
	Iss        string `json:"iss"`
	Aud        string `json:"aud"`
	Iat        int64  `json:"iat"`
	Jti        string `json:"jti"`
	Op         string `json:"op"`
	MerchantID string `json:"merchant_id"`
	Token      string `json:"token,omitempty"`
	Name       string `json:"name,omitempty"`
}

// do signs, seals when needed, sends and reads one call. A non-2xx answer
// is returned as *APIError.
func (c *Client) do(ctx context.Context, cl call) (*answer, error) {
	if c.signerErr != nil {
		return nil, c.signerErr
	}
	jti, err := newJTI()
	if err != nil {
		return nil, err
	}
	payload, err := c.claimsPayload(cl, jti)
	if err != nil {
		return nil, err
	}
	defer secret.Wipe(payload)

	jws, err := c.signer.Sign(payload)
	if err != nil {
		return nil, fmt.Errorf("vault client: %s: cannot sign request", cl.op)
	}
	compactJWS, err := jws.CompactSerialize()
	if err != nil {
		return nil, fmt.Errorf("vault client: %s: cannot serialise request", cl.op)
	}

	var body io.Reader
	var contentType, bearer string
	if cl.sensitive {
		sealed, err := c.sealToVault(ctx, compactJWS)
		if err != nil {
			return nil, fmt.Errorf("vault client: %s: %w", cl.op, err)
		}
		body, contentType = strings.NewReader(sealed), joseMediaType
	} else {
		bearer = compactJWS
	}

	req, err := http.NewRequestWithContext(ctx, cl.method, c.baseURL+cl.path, body)
	if err != nil {
		return nil, fmt.Errorf("vault client: %s: bad vault URL", cl.op)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.Header.Set("Accept", "application/json, "+joseMediaType)

	status, header, respBody, err := c.send(req)
	if err != nil {
		return nil, fmt.Errorf("vault client: %s: %w", cl.op, err)
	}
	if status < 200 || status > 299 {
		return nil, parseAPIError(status, header, respBody)
	}
	return &answer{status: status, header: header, jti: jti, body: respBody}, nil
}

// send performs req and reads at most maxAnswerBytes of the answer.
func (c *Client) send(req *http.Request) (int, http.Header, []byte, error) {
	resp, err := c.httpClient.Do(req)
	if err != nil {
		// The transport error names the URL (ids and tokens, no card
		// data), which is what an operator needs to find the fault.
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("reading answer: %w", err)
	}
	if len(respBody) > maxAnswerBytes {
		return 0, nil, nil, errors.New("answer too large")
	}
	return resp.StatusCode, resp.Header, respBody, nil
}

// claimsPayload is the JSON payload of the request JWS. The caller wipes it
// once signed: for sensitive calls it holds card data or a secret value.
func (c *Client) claimsPayload(cl call, jti string) ([]byte, error) {
	base := claims{
		Iss:        c.creds.ClientID,
		Aud:        Audience,
		Iat:        c.now().Unix(),
		Jti:        jti,
		Op:         cl.op,
		MerchantID: cl.merchantID,
		Token:      cl.token,
		Name:       cl.name,
	}
	if len(cl.extra) == 0 {
		return json.Marshal(base)
	}
	// Merge through a map so op-specific claims sit beside the common ones;
	// a clash would be a bug here, so it is refused rather than resolved.
	all := make(map[string]any, 8+len(cl.extra))
	all["iss"], all["aud"], all["iat"], all["jti"] = base.Iss, base.Aud, base.Iat, base.Jti
	all["op"], all["merchant_id"] = base.Op, base.MerchantID
	if base.Token != "" {
		all["token"] = base.Token
	}
	if base.Name != "" {
		all["name"] = base.Name
	}
	for k, v := range cl.extra {
		if _, clash := all[k]; clash {
			return nil, fmt.Errorf("vault client: %s: claim %q set twice", cl.op, k)
		}
		all[k] = v
	}
	payload, err := json.Marshal(all)
	if err != nil {
		return nil, fmt.Errorf("vault client: %s: cannot encode claims", cl.op)
	}
	return payload, nil
}

// sealToVault encrypts the compact JWS to a vault encryption key: JWE
// compact, enc A256GCM, kid of the vault key, cty JWT.
func (c *Client) sealToVault(ctx context.Context, compactJWS string) (string, error) {
	keys, err := c.vaultKeys(ctx, false)
	if err != nil {
		return "", err
	}
	target, ok := keys.encryptionKey(c.preferredKeyAlg, c.strictKeyAlg)
	if !ok {
		return "", fmt.Errorf("vault JWKS has no usable encryption key for %s", c.preferredKeyAlg)
	}
	enc, err := jose.NewEncrypter(jose.A256GCM,
		jose.Recipient{Algorithm: target.alg, Key: target.key.Key, KeyID: target.key.KeyID},
		(&jose.EncrypterOptions{}).WithContentType("JWT"))
	if err != nil {
		return "", errors.New("cannot use the vault encryption key")
	}
	plaintext := []byte(compactJWS)
	defer secret.Wipe(plaintext)
	obj, err := enc.Encrypt(plaintext)
	if err != nil {
		return "", errors.New("cannot encrypt request")
	}
	compact, err := obj.CompactSerialize()
	if err != nil {
		return "", errors.New("cannot serialise request")
	}
	return compact, nil
}

// newJTI is a random 128-bit request id, base64url without padding (22
// characters): unguessable, so a (iss, jti) pair is never reused.
func newJTI() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("vault client: request id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// segment escapes one path segment. An empty, "." or ".." segment is
// refused: PathEscape leaves it as is and a proxy could resolve it into
// another route.
func segment(what, v string) (string, error) {
	if v == "" || v == "." || v == ".." {
		return "", fmt.Errorf("vault client: %s is empty or a dot segment", what)
	}
	return url.PathEscape(v), nil
}

// decodeJSON decodes a JSON answer; a body that does not decode is reported
// without its content.
func decodeJSON(op string, a *answer, into any) error {
	if err := json.NewDecoder(bytes.NewReader(a.body)).Decode(into); err != nil {
		return fmt.Errorf("vault client: %s: answer is not the expected JSON", op)
	}
	return nil
}
