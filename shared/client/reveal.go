package client

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/secret"
)

// VaultIssuer is the "iss" of every answer the vault signs.
const VaultIssuer = "card-vault"

// ErrInvalidAnswer is wrapped by every error about a reveal answer that
// failed decryption or verification. Such an answer is discarded whole: none
// of its content reaches the caller or the error.
var ErrInvalidAnswer = errors.New("vault client: reveal answer failed verification")

// answerBinding is what a reveal answer must echo of its request.
type answerBinding struct {
	jti        string
	merchantID string
	token      string // reveal_card
	name       string // reveal_secret
}

// answerClaims are the claims every reveal answer carries, checked before
// the op-specific content is used.
type answerClaims struct {
	Iss        string   `json:"iss"`
	Aud        audience `json:"aud"`
	Jti        string   `json:"jti"`
	MerchantID string   `json:"merchant_id"`
	Token      string   `json:"token"`
	Name       string   `json:"name"`
}

// audience accepts "aud" as a string or an array of strings, as JWT allows.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud is neither a string nor a list of strings")
	}
	*a = many
	return nil
}

func (a audience) contains(id string) bool {
	for _, v := range a {
		if v == id {
			return true
		}
	}
	return false
}

// reveal makes a reveal call and returns the verified payload of its
// answer, bound to the request's jti and to the merchant and token or name
// the call names. The caller must wipe the payload once decoded.
func (c *Client) reveal(ctx context.Context, cl call) ([]byte, error) {
	a, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return c.openAnswer(ctx, a, answerBinding{jti: a.jti, merchantID: cl.merchantID, token: cl.token, name: cl.name})
}

// openAnswer decrypts and verifies a reveal answer and returns its JWS
// payload. The caller must wipe the payload once decoded.
//
// Order matters: the JWE is opened with the client's own key only, the JWS
// is verified with the vault key its kid names in the vault's published
// JWKS (never a key the answer carries), and the claims are checked only
// after the signature holds.
func (c *Client) openAnswer(ctx context.Context, a *answer, bind answerBinding) ([]byte, error) {
	if mt, _, err := mime.ParseMediaType(a.header.Get("Content-Type")); err != nil || mt != joseMediaType {
		return nil, fmt.Errorf("%w: content type is not %s", ErrInvalidAnswer, joseMediaType)
	}
	encKey := c.creds.encKey.Reveal()
	obj, err := jose.ParseEncryptedCompact(strings.TrimSpace(string(a.body)),
		[]jose.KeyAlgorithm{c.creds.encAlg}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		return nil, fmt.Errorf("%w: not a compact JWE with %s and A256GCM", ErrInvalidAnswer, c.creds.encAlg)
	}
	if kid := obj.Header.KeyID; kid != "" && kid != encKey.KeyID {
		return nil, fmt.Errorf("%w: encrypted to another key", ErrInvalidAnswer)
	}
	if cty, _ := obj.Header.ExtraHeaders[jose.HeaderContentType].(string); !strings.EqualFold(cty, "JWT") {
		return nil, fmt.Errorf("%w: JWE cty is not JWT", ErrInvalidAnswer)
	}
	inner, err := obj.Decrypt(encKey.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot decrypt", ErrInvalidAnswer)
	}
	defer secret.Wipe(inner)

	jws, err := jose.ParseSignedCompact(string(inner), []jose.SignatureAlgorithm{jose.ES256, jose.PS256})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: not a compact JWS with ES256 or PS256", ErrInvalidAnswer)
	}
	header := jws.Signatures[0].Header
	if header.KeyID == "" {
		return nil, fmt.Errorf("%w: JWS has no kid", ErrInvalidAnswer)
	}
	vaultKey, err := c.vaultSigningKey(ctx, header.KeyID)
	if err != nil {
		return nil, err
	}
	if alg, err := vaultSignatureAlgorithm(&vaultKey); err != nil || string(alg) != header.Algorithm {
		return nil, fmt.Errorf("%w: JWS alg does not fit the vault key", ErrInvalidAnswer)
	}
	payload, err := jws.Verify(vaultKey.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: bad signature", ErrInvalidAnswer)
	}
	if err := c.checkAnswerClaims(payload, bind); err != nil {
		secret.Wipe(payload)
		return nil, err
	}
	return payload, nil
}

func (c *Client) checkAnswerClaims(payload []byte, bind answerBinding) error {
	var got answerClaims
	if err := json.Unmarshal(payload, &got); err != nil {
		return fmt.Errorf("%w: claims are not JSON", ErrInvalidAnswer)
	}
	switch {
	case got.Iss != VaultIssuer:
		return fmt.Errorf("%w: iss is not %s", ErrInvalidAnswer, VaultIssuer)
	case !got.Aud.contains(c.creds.ClientID):
		return fmt.Errorf("%w: aud is not this client", ErrInvalidAnswer)
	case subtle.ConstantTimeCompare([]byte(got.Jti), []byte(bind.jti)) != 1:
		return fmt.Errorf("%w: jti does not match the request", ErrInvalidAnswer)
	case got.MerchantID != bind.merchantID:
		return fmt.Errorf("%w: merchant_id does not match the request", ErrInvalidAnswer)
	case bind.token != "" && got.Token != bind.token:
		return fmt.Errorf("%w: token does not match the request", ErrInvalidAnswer)
	case bind.name != "" && got.Name != bind.name:
		return fmt.Errorf("%w: name does not match the request", ErrInvalidAnswer)
	}
	return nil
}
