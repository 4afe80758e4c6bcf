package localmode_test

import (
	"testing"

	"github.com/cardvault/vault/shared/internal/dynalite"
)

func TestMain(m *testing.M) { dynalite.Main(m) }
