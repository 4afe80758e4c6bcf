package deploy_test

import (
	"reflect"
	"testing"

	"github.com/cardvault/vault/shared/deploy"
)

func TestParseTurnsShortFormIntrinsicsIntoLongForms(t *testing.T) {
	doc := []byte(`
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Resources:
  Thing:
    Type: AWS::Test::Thing
    Properties:
      Ref: !Ref Other
      Att: !GetAtt Other.Arn
      Sub: !Sub "${Other.Arn}/index/x"
      Pick: !Select [1, !Split ["|", !Ref Rule]]
      Either: !If [IsProd, 1, !Ref AWS::NoValue]
      Quoted: "false"
      Plain: false
      Count: 12
`)
	tpl, err := deploy.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	r := tpl.Resources["Thing"]
	want := map[string]any{
		"Ref":    map[string]any{"Ref": "Other"},
		"Att":    map[string]any{"Fn::GetAtt": []any{"Other", "Arn"}},
		"Sub":    map[string]any{"Fn::Sub": "${Other.Arn}/index/x"},
		"Pick":   map[string]any{"Fn::Select": []any{int64(1), map[string]any{"Fn::Split": []any{"|", map[string]any{"Ref": "Rule"}}}}},
		"Either": map[string]any{"Fn::If": []any{"IsProd", int64(1), map[string]any{"Ref": "AWS::NoValue"}}},
		"Quoted": "false",
		"Plain":  false,
		"Count":  int64(12),
	}
	for k, v := range want {
		if got := r.Prop(k); !reflect.DeepEqual(got, v) {
			t.Errorf("%s = %#v, want %#v", k, got, v)
		}
	}
	if got := tpl.Conditions["IsProd"]; !reflect.DeepEqual(got, map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "Stage"}, "prod"}}) {
		t.Errorf("IsProd = %#v", got)
	}
	if !deploy.Refers(r.Prop("Sub"), "Other") || deploy.Refers(r.Prop("Sub"), "Oth") {
		t.Error("Refers does not read ${Other.Arn} exactly")
	}
}

func TestParseRefusesWhatCloudFormationWould(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown tag":      "Resources:\n  A:\n    Type: X\n    Properties:\n      P: !NoSuchFn x\n",
		"duplicate key":    "Resources:\n  A:\n    Type: X\n  A:\n    Type: Y\n",
		"resource no type": "Resources:\n  A:\n    Properties: {}\n",
		"GetAtt no dot":    "Resources:\n  A:\n    Type: X\n    Properties:\n      P: !GetAtt Other\n",
	} {
		if _, err := deploy.Parse([]byte(doc)); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

func TestFunctionLogicalID(t *testing.T) {
	for dir, want := range map[string]string{
		"vault-card": "VaultCardFunction", "jwks": "JwksFunction", "rotate-dek": "RotateDekFunction",
	} {
		if got := deploy.FunctionLogicalID(dir); got != want {
			t.Errorf("FunctionLogicalID(%q) = %q, want %q", dir, got, want)
		}
	}
}
