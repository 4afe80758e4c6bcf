package client

// Operation names of the wire contract. They are the "op" claim of a
// request and the entries of a registry entry's "operations".
const (
	OpVaultCard     = "vault_card"
	OpGetMasked     = "get_masked"
	OpRevealCard    = "reveal_card"
	OpDeleteCard    = "delete_card"
	OpPutSecret     = "put_secret"
	OpGetSecret     = "get_secret"
	OpRevealSecret  = "reveal_secret"
	OpDeleteSecret  = "delete_secret"
	OpRotateKeys    = "rotate_keys"
	OpGetKeys       = "get_keys"
	OpShredMerchant = "shred_merchant"

	// Contract v1.1.
	OpListCards   = "list_cards"
	OpForward     = "forward"
	OpImportCards = "import_cards"
	OpExportCards = "export_cards"
	OpGetJob      = "get_job"
)

// Operations lists every operation of the contract, in the contract's order.
// A fresh slice is returned so callers may change it.
func Operations() []string {
	return []string{
		OpVaultCard, OpGetMasked, OpRevealCard, OpDeleteCard,
		OpPutSecret, OpGetSecret, OpRevealSecret, OpDeleteSecret,
		OpRotateKeys, OpGetKeys, OpShredMerchant,
		OpListCards, OpForward, OpImportCards, OpExportCards, OpGetJob,
	}
}

// IsOperation reports whether op is an operation of the contract.
func IsOperation(op string) bool {
	for _, known := range Operations() {
		if op == known {
			return true
		}
	}
	return false
}
