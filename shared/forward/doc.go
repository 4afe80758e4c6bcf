// Package forward sends card data to a payment provider on a client's
// behalf (the contract's forward operation): the operator's destinations
// document, the request template and its placeholders, the SSRF-safe
// transport and the redaction of the provider's answer.
//
// Nothing here decides who may forward; the vault package does, and hands
// this package the card and secret values only once every check passed.
// Substitution is structural: placeholders are replaced inside decoded
// string values and the body is encoded by the vault, so no card field or
// secret can break out of its value.
package forward
