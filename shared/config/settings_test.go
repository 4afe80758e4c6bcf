package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/config"
)

func TestSettings(t *testing.T) {
	l := &config.Loader{Getenv: env{
		"VAULT_TABLE":     "cards",
		"VAULT_TTL":       "90s",
		"VAULT_BAD_TTL":   "soon",
		"VAULT_WORKERS":   "8",
		"VAULT_BAD_COUNT": "eight",
	}.get}

	if got := l.String("VAULT_TABLE", "card-vault"); got != "cards" {
		t.Errorf("String set = %q", got)
	}
	if got := l.String("VAULT_UNSET", "card-vault"); got != "card-vault" {
		t.Errorf("String default = %q", got)
	}

	if d, err := l.Duration("VAULT_TTL", time.Minute); err != nil || d != 90*time.Second {
		t.Errorf("Duration set = %v, %v", d, err)
	}
	if d, err := l.Duration("VAULT_UNSET", time.Minute); err != nil || d != time.Minute {
		t.Errorf("Duration default = %v, %v", d, err)
	}
	if _, err := l.Duration("VAULT_BAD_TTL", time.Minute); err == nil || !strings.Contains(err.Error(), "VAULT_BAD_TTL") {
		t.Errorf("Duration bad = %v", err)
	}

	if n, err := l.Int("VAULT_WORKERS", 2); err != nil || n != 8 {
		t.Errorf("Int set = %d, %v", n, err)
	}
	if n, err := l.Int("VAULT_UNSET", 2); err != nil || n != 2 {
		t.Errorf("Int default = %d, %v", n, err)
	}
	if _, err := l.Int("VAULT_BAD_COUNT", 2); err == nil || !strings.Contains(err.Error(), "VAULT_BAD_COUNT") {
		t.Errorf("Int bad = %v", err)
	}
}

func TestNilGetenvReadsTheProcessEnvironment(t *testing.T) {
	t.Setenv("VAULT_CONFIG_TEST_SETTING", "from-process")
	var l config.Loader
	if got := l.String("VAULT_CONFIG_TEST_SETTING", ""); got != "from-process" {
		t.Fatalf("String = %q", got)
	}
}
