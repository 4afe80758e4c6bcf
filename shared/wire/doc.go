// Package wire is the vault's JOSE layer: it opens client requests (a
// client-signed JWS, bare as a bearer credential or wrapped in a JWE to the
// vault) and seals reveal responses (a vault-signed JWS wrapped in a JWE to
// the client), and it owns the two key documents that make this possible:
// the vault's private keyset and the client registry.
//
// Everything here is pure computation over bytes already in memory: no AWS,
// no storage. Replay protection needs shared state, so the (iss, jti) check
// is left to the caller, which gets both from the opened Request.
//
// Refusals are *vaulterr.Error values carrying the wire contract's code.
// Their messages are constant strings plus, at most, identifiers such as a
// kid, an issuer or an operation name: never the JOSE text itself and never
// a claim value, since claims may hold a card number or a secret.
package wire
