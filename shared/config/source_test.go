package config_test

import (
	"strings"
	"testing"

	"github.com/cardvault/vault/shared/config"
)

func TestSourceNamesTheVariableAndTheSecretButNoValue(t *testing.T) {
	cases := []struct {
		vars map[string]string
		want string
		not  string
	}{
		{map[string]string{"X_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:x"}, "secret arn:aws:secretsmanager:eu-west-1:1:secret:x, from X_SECRET_ARN", ""},
		{map[string]string{"X_KMS": "c2VjcmV0LWNpcGhlcnRleHQ="}, "X_KMS", "c2VjcmV0"},
		{map[string]string{"X_FILE": "/etc/x.json"}, "file /etc/x.json, from X_FILE", ""},
		{map[string]string{"X": "plain-value"}, "the variable X", "plain-value"},
		{map[string]string{}, "not set", ""},
	}
	for _, c := range cases {
		l := &config.Loader{Getenv: func(k string) string { return c.vars[k] }}
		got := l.Source("X")
		if !strings.Contains(got, c.want) || (c.not != "" && strings.Contains(got, c.not)) {
			t.Errorf("Source with %v = %q, want %q and never %q", c.vars, got, c.want, c.not)
		}
	}
}
