package wire

// Operation names what a request asks the vault to do. It is signed inside
// the request's claims and must match the route that received it, so a
// token minted for one operation cannot be replayed against another route.
type Operation string

// The operations of the wire contract.
const (
	OpVaultCard     Operation = "vault_card"
	OpGetMasked     Operation = "get_masked"
	OpRevealCard    Operation = "reveal_card"
	OpDeleteCard    Operation = "delete_card"
	OpPutSecret     Operation = "put_secret"
	OpGetSecret     Operation = "get_secret"
	OpRevealSecret  Operation = "reveal_secret"
	OpDeleteSecret  Operation = "delete_secret"
	OpRotateKeys    Operation = "rotate_keys"
	OpGetKeys       Operation = "get_keys"
	OpShredMerchant Operation = "shred_merchant"

	// Contract v1.1.
	OpListCards   Operation = "list_cards"
	OpForward     Operation = "forward"
	OpImportCards Operation = "import_cards"
	OpExportCards Operation = "export_cards"
	OpGetJob      Operation = "get_job"
)

// Audience is the "aud" every request must name, and the "iss" of every
// response the vault signs.
const Audience = "card-vault"

// Valid reports whether o is one of the contract's operations.
func (o Operation) Valid() bool {
	switch o {
	case OpVaultCard, OpGetMasked, OpRevealCard, OpDeleteCard,
		OpPutSecret, OpGetSecret, OpRevealSecret, OpDeleteSecret,
		OpRotateKeys, OpGetKeys, OpShredMerchant,
		OpListCards, OpForward, OpImportCards, OpExportCards, OpGetJob:
		return true
	}
	return false
}
