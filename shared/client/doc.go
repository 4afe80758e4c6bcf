// Package client is the Go client of the card vault: what an app server
// imports to vault cards, reveal them, keep merchant secrets and manage a
// merchant's keys.
//
// It is written against the wire contract alone (go-jose v4 and the
// standard library), not against the vault's own packages, so that it is an
// independent implementation of the contract: a change on the server that
// breaks the contract breaks this client's tests too.
//
// Every request is a JWS signed with the client's private signing key. Card
// data and secret values travel inside that JWS, which is itself encrypted
// (JWE) to one of the vault's public encryption keys; everything else
// carries the JWS as a Bearer credential. Reveal answers come back encrypted
// to the client's encryption key and signed by the vault, and are only
// returned after the signature, issuer, audience and request binding (jti)
// check out.
//
// Card numbers, holder names and secret values are held in
// secret.Secret values, so printing or logging a result never shows them;
// errors never carry them either.
package client
