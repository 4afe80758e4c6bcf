package vault

import (
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/cardvault/vault/shared/envelope"
)

// CardClearFields is what a card record keeps in the clear beside its
// ciphertext, in the canonical form the ciphertext's clear-field tag binds
// (record format 2): everything get_masked shows or the vault decides by
// without a key. Two stored fields stay out: UpdatedAt, which only says when the
// record was last written, and Deleted, since a deleted card has no
// ciphertext left to bind anything to. Every write that changes a bound
// field seals the card again in the same write (vault_card's duplicate
// path, key rotation), so no legitimate change goes unsealed.
func CardClearFields(rec CardRecord) string {
	var c envelope.ClearFields
	c.Add("customer_id", rec.CustomerID)
	c.Add("fingerprint", rec.Fingerprint)
	c.Add("first4", rec.Masked.First4)
	c.Add("last4", rec.Masked.Last4)
	c.Add("display", rec.Masked.Display)
	c.Add("brand", string(rec.Masked.Brand))
	c.Add("exp_month", strconv.Itoa(rec.Masked.ExpMonth))
	c.Add("exp_year", strconv.Itoa(rec.Masked.ExpYear))
	c.Add("created_at", clearTime(rec.CreatedAt))
	c.Add("expires_at", clearTime(rec.ExpiresAt))
	return c.String()
}

// SecretClearFields is what a secret version keeps in the clear beside
// its ciphertext, in the form its clear-field tag binds: the mask, the
// metadata and
// both times. A version is written once and never updated, so all of it
// is bound.
func SecretClearFields(rec SecretRecord) string {
	var c envelope.ClearFields
	c.Add("masked", rec.Masked)
	c.Add("created_at", clearTime(rec.CreatedAt))
	c.Add("updated_at", clearTime(rec.UpdatedAt))
	c.Add("metadata", strconv.Itoa(len(rec.Metadata)))
	for _, k := range slices.Sorted(maps.Keys(rec.Metadata)) {
		c.Add(k, rec.Metadata[k])
	}
	return c.String()
}

// clearTime is a time as the store keeps it (RFC 3339, nanoseconds, UTC),
// so that the encoding of a record read back equals that of the record
// written; "" for the zero time.
func clearTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
