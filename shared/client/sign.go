package client

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/secret"
)

// signerClaims are the claims SignRequest sets on every request itself, so
// that no caller can reuse a jti, backdate an iat or speak for another
// client.
var signerClaims = [...]string{"iss", "aud", "iat", "jti"}

// SignRequest is the compact JWS of one vault request made with creds: the
// Bearer credential of a request, or, sealed with SealToVault, its body.
// claims are the operation's claims (op, merchant_id and the operation's
// own); SignRequest adds iss (the client id), aud (Audience), iat (at) and a
// new random jti, and refuses claims that set any of those. The jti is
// returned too, because a reveal answer must echo it.
//
// It does no I/O, so code that runs the vault's handlers in-process signs
// requests exactly as Client does over HTTP. Its errors carry no claim
// value; callers add which request failed.
func SignRequest(creds *Credentials, claims map[string]any, at time.Time) (compactJWS, jti string, err error) {
	signer, err := newRequestSigner(creds)
	if err != nil {
		return "", "", err
	}
	all := make(map[string]any, len(claims)+len(signerClaims))
	for k, v := range claims {
		all[k] = v
	}
	for _, k := range signerClaims {
		if _, set := all[k]; set {
			return "", "", fmt.Errorf("claim %q is set by the signer, fresh for every request", k)
		}
	}
	if jti, err = newJTI(); err != nil {
		return "", "", err
	}
	all["iss"], all["aud"], all["iat"], all["jti"] = creds.ClientID, Audience, at.Unix(), jti
	payload, err := json.Marshal(all)
	if err != nil {
		return "", "", errors.New("cannot encode claims")
	}
	// For a sensitive request the payload holds card data or a secret
	// value.
	defer secret.Wipe(payload)
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", "", errors.New("cannot sign request")
	}
	compactJWS, err = obj.CompactSerialize()
	if err != nil {
		return "", "", errors.New("cannot serialise request")
	}
	return compactJWS, jti, nil
}

// newRequestSigner signs with the client's signing key under its kid, typ
// JWT, with the algorithm the credentials settled on when they were read.
func newRequestSigner(creds *Credentials) (jose.Signer, error) {
	if creds == nil {
		return nil, errors.New("no credentials")
	}
	key := creds.sigKey.Reveal()
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: creds.sigAlg, Key: key},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return nil, errors.New("signing key unusable")
	}
	return signer, nil
}

// newJTI is a random 128-bit request id, base64url without padding (22
// characters): unguessable, so a (iss, jti) pair is never reused.
func newJTI() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("request id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
