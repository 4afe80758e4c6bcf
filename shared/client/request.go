package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// joseMediaType is the content type of JWE request bodies and reveal
// answers.
const joseMediaType = "application/jose"

// maxAnswerBytes bounds what is read of an answer. The largest legitimate
// one is a forward's: a provider's answer of up to 1 MiB, which JSON
// escaping (\u0000 is six bytes for one) or base64 makes larger.
const maxAnswerBytes = 8 << 20

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

// do signs, seals when needed, sends and reads one call. A non-2xx answer
// is returned as *APIError.
func (c *Client) do(ctx context.Context, cl call) (*answer, error) {
	claims, err := requestClaims(cl)
	if err != nil {
		return nil, err
	}
	compactJWS, jti, err := SignRequest(c.creds, claims, c.now())
	if err != nil {
		return nil, fmt.Errorf("vault client: %s: %w", cl.op, err)
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
		req.Header.Set(c.credentialHeader, "Bearer "+bearer)
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

// requestClaims are the claims of one call, before SignRequest adds the
// ones every request carries.
func requestClaims(cl call) (map[string]any, error) {
	all := make(map[string]any, 4+len(cl.extra))
	all["op"], all["merchant_id"] = cl.op, cl.merchantID
	if cl.token != "" {
		all["token"] = cl.token
	}
	if cl.name != "" {
		all["name"] = cl.name
	}
	// Op-specific claims sit beside the common ones; a clash would be a bug
	// here, so it is refused rather than resolved.
	for k, v := range cl.extra {
		if _, clash := all[k]; clash {
			return nil, fmt.Errorf("vault client: %s: claim %q set twice", cl.op, k)
		}
		all[k] = v
	}
	return all, nil
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

// doJSON makes the call and decodes its JSON answer into a new T. The
// answer is returned too, for callers that tell outcomes apart by status.
// A body that does not decode is reported without its content.
func doJSON[T any](ctx context.Context, c *Client, cl call) (*T, *answer, error) {
	a, err := c.do(ctx, cl)
	if err != nil {
		return nil, nil, err
	}
	v := new(T)
	if err := json.NewDecoder(bytes.NewReader(a.body)).Decode(v); err != nil {
		return nil, nil, fmt.Errorf("vault client: %s: answer is not the expected JSON", cl.op)
	}
	return v, a, nil
}
