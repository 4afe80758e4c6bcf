package localmode_test

import "github.com/cardvault/vault/shared/internal/vaulttest"

// Every vault these tests start is checked, when its test ends, for the
// values the tests send it (see vaulttest.Sensitive); card numbers are
// also found by shape.
func init() {
	vaulttest.Sensitive(testPAN, testHolder, testSecret, testSecret+"-v2", "short-v3")
}
