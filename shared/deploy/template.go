// Package deploy reads the vault's deployment template (template.yaml, AWS
// SAM) so that tests can hold it to the code: which functions exist, which
// routes each serves, what each role may do, and how the table is built.
//
// It understands CloudFormation's YAML dialect: the short-form intrinsic
// tags (!Ref, !GetAtt, !Sub, ...) are turned into their long forms
// ({"Ref": ...}, {"Fn::GetAtt": [...]}, ...), so a check never has to care
// which form the template uses. It does not evaluate intrinsics: a value
// that refers to another resource stays a reference, which is what the
// checks compare against.
package deploy

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Resource types the checks look at.
const (
	TypeFunction = "AWS::Serverless::Function"
	TypeRole     = "AWS::IAM::Role"
	TypeTable    = "AWS::DynamoDB::Table"
	TypeKMSKey   = "AWS::KMS::Key"
	TypeBucket   = "AWS::S3::Bucket"
)

// Template is a parsed CloudFormation template.
type Template struct {
	Transform  any
	Globals    map[string]any
	Parameters map[string]any
	Conditions map[string]any
	Resources  map[string]Resource
	Outputs    map[string]any
}

// Resource is one entry of Resources.
type Resource struct {
	Type           string
	Condition      string
	DeletionPolicy string
	// UpdateReplacePolicy is what happens to the old resource when an
	// update replaces it.
	UpdateReplacePolicy string
	Properties          map[string]any
	Metadata            map[string]any
}

// Load reads and parses a template file.
func Load(path string) (*Template, error) {
	doc, err := os.ReadFile(path) // #nosec G304 -- the project's own template.yaml
	if err != nil {
		return nil, err
	}
	t, err := Parse(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Parse parses a template document (YAML, or JSON, which is YAML).
func Parse(doc []byte) (*Template, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return nil, err
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 {
		return nil, errors.New("not a single YAML document")
	}
	v, err := decode(root.Content[0])
	if err != nil {
		return nil, err
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("the template is not a mapping")
	}
	t := &Template{
		Transform:  top["Transform"],
		Globals:    asMap(top["Globals"]),
		Parameters: asMap(top["Parameters"]),
		Conditions: asMap(top["Conditions"]),
		Outputs:    asMap(top["Outputs"]),
		Resources:  map[string]Resource{},
	}
	for id, raw := range asMap(top["Resources"]) {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("resource %s is not a mapping", id)
		}
		typ, _ := m["Type"].(string)
		if typ == "" {
			return nil, fmt.Errorf("resource %s has no Type", id)
		}
		cond, _ := m["Condition"].(string)
		policy, _ := m["DeletionPolicy"].(string)
		replacePolicy, _ := m["UpdateReplacePolicy"].(string)
		t.Resources[id] = Resource{
			Type:                typ,
			Condition:           cond,
			DeletionPolicy:      policy,
			UpdateReplacePolicy: replacePolicy,
			Properties:          asMap(m["Properties"]),
			Metadata:            asMap(m["Metadata"]),
		}
	}
	return t, nil
}

// OfType returns the resources of one type, by logical id.
func (t *Template) OfType(typ string) map[string]Resource {
	out := map[string]Resource{}
	for id, r := range t.Resources {
		if r.Type == typ {
			out[id] = r
		}
	}
	return out
}

// FunctionGlobal is a property from Globals.Function (nil if unset).
func (t *Template) FunctionGlobal(name string) any {
	return asMap(t.Globals["Function"])[name]
}

// Prop follows a path of mapping keys from the resource's Properties; nil
// when any step is missing.
func (r Resource) Prop(path ...string) any {
	var v any = r.Properties
	for _, key := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[key]
	}
	return v
}

// shortForms maps the YAML tags of CloudFormation's short-form intrinsics
// to their long-form keys.
var shortForms = map[string]string{
	"!Ref":          "Ref",
	"!Condition":    "Condition",
	"!GetAtt":       "Fn::GetAtt",
	"!Sub":          "Fn::Sub",
	"!Join":         "Fn::Join",
	"!Select":       "Fn::Select",
	"!Split":        "Fn::Split",
	"!If":           "Fn::If",
	"!Equals":       "Fn::Equals",
	"!Not":          "Fn::Not",
	"!And":          "Fn::And",
	"!Or":           "Fn::Or",
	"!FindInMap":    "Fn::FindInMap",
	"!Base64":       "Fn::Base64",
	"!Cidr":         "Fn::Cidr",
	"!GetAZs":       "Fn::GetAZs",
	"!ImportValue":  "Fn::ImportValue",
	"!Transform":    "Fn::Transform",
	"!Length":       "Fn::Length",
	"!ToJsonString": "Fn::ToJsonString",
}

// decode turns a YAML node into plain Go values (map[string]any, []any,
// string, bool, int64, float64, nil) with intrinsics in long form.
func decode(n *yaml.Node) (any, error) {
	if n.Kind == yaml.AliasNode {
		return decode(n.Alias)
	}
	if long, ok := shortForms[n.Tag]; ok {
		inner := *n
		inner.Tag = ""
		v, err := decodeUntagged(&inner)
		if err != nil {
			return nil, err
		}
		if long == "Fn::GetAtt" {
			// !GetAtt Resource.Attribute is the one short form whose
			// scalar splits: at the first dot.
			if s, ok := v.(string); ok {
				res, attr, found := strings.Cut(s, ".")
				if !found {
					return nil, fmt.Errorf("line %d: !GetAtt %q has no attribute", n.Line, s)
				}
				v = []any{res, attr}
			}
		}
		return map[string]any{long: v}, nil
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
	}
	return decodeUntagged(n)
}

func decodeUntagged(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				merged, err := decode(v)
				if err != nil {
					return nil, err
				}
				for mk, mv := range asMap(merged) {
					if _, set := m[mk]; !set {
						m[mk] = mv
					}
				}
				continue
			}
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping key is not a scalar", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			val, err := decode(v)
			if err != nil {
				return nil, err
			}
			m[k.Value] = val
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := decode(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		return scalar(n), nil
	case yaml.AliasNode:
		return decode(n.Alias)
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

// scalar resolves a scalar as YAML 1.2's core schema does, which is what
// CloudFormation reads ("false" quoted stays a string).
func scalar(n *yaml.Node) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		b, err := strconv.ParseBool(strings.ToLower(n.Value))
		if err == nil {
			return b
		}
	case "!!int":
		if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return i
		}
	case "!!float":
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return f
		}
	}
	return n.Value
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	if m == nil {
		return map[string]any{}
	}
	return m
}

// FunctionLogicalID is the template's logical id of the function in
// functions/<dir>: the directory name in CamelCase plus "Function"
// (vault-card -> VaultCardFunction). The Makefile's build-<LogicalId>
// targets, which SAM calls, follow the same rule.
func FunctionLogicalID(dir string) string {
	var b strings.Builder
	for _, word := range strings.Split(dir, "-") {
		if word == "" {
			continue
		}
		b.WriteString(strings.ToUpper(word[:1]) + word[1:])
	}
	return b.String() + "Function"
}
