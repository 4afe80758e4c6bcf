package card

import (
	"strings"
	"testing"
)

func TestCheckHolderName(t *testing.T) {
	tests := []struct {
		name, holder, want string
	}{
		{"empty", "", ""},
		{"plain", "Jane Doe", ""},
		{"accents and punctuation", "Zoë O'Brien-Núñez", ""},
		{"non-Latin", "山田 太郎", ""},
		{"zero-width joiner allowed", "\u0645\u200d\u0645", ""},
		{"100 ASCII characters", strings.Repeat("a", 100), ""},
		{"100 multi-byte characters", strings.Repeat("é", 100), ""},
		{"100 four-byte characters", strings.Repeat("😀", 100), ""},
		{"101 characters", strings.Repeat("a", 101), msgHolderLength},
		{"101 multi-byte characters", strings.Repeat("é", 101), msgHolderLength},
		{"invalid UTF-8", "Jane \xff Doe", msgHolderUTF8},
		{"truncated UTF-8", "Jos\xc3", msgHolderUTF8},
		{"NUL", "Jane\x00Doe", msgHolderControl},
		{"newline", "Jane\nDoe", msgHolderControl},
		{"tab", "Jane\tDoe", msgHolderControl},
		{"DEL", "Jane\x7fDoe", msgHolderControl},
		{"C1 control", "Jane\u0085Doe", msgHolderControl},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckHolderName(tt.holder)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckHolderName = %v, want nil", err)
				}
				return
			}
			requireRefusal(t, err, tt.want, tt.holder)
			if strings.Contains(err.Error(), "Jane") || strings.Contains(err.Error(), "Doe") {
				t.Fatalf("error %q carries the name", err)
			}
		})
	}
}
