package stripemock

import (
	"os"
	"strings"
	"testing"
)

// TestMakefilePinsTheSameVersion: the Makefile installs what the tests and
// `make stripe-mock` look for.
func TestMakefilePinsTheSameVersion(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mk), "STRIPE_MOCK_VERSION ?= "+Version+"\n") {
		t.Errorf("the Makefile does not pin stripe-mock %s", Version)
	}
}
