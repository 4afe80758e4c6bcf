package deploy

import (
	"fmt"
	"regexp"
	"strings"
)

// StandIns are the values a template's references take in one place: the
// ARNs and names of the resources (what CloudFormation would return for
// Ref and Fn::GetAtt once the stack exists), parameter values and pseudo
// parameters (AWS::Region, AWS::AccountId, ...). Tests and local runs
// resolve the template with local stand-ins (an emulator's table, a
// local-kms key) to get the environment and the IAM policies the deployed
// stack would have.
//
// A reference may stand for several values: a Resource list then names
// each of them (during a move to a new KMS key, for instance, the roles
// hold the same statements on the old key too). Where one value is
// needed (an environment variable, a string in Fn::Sub), the first is
// taken.
type StandIns struct {
	// Refs are the values of {"Ref": X}, by X.
	Refs map[string][]string
	// Attrs are the values of {"Fn::GetAtt": [X, A]}, by "X.A".
	Attrs map[string][]string
}

// Ref sets the value(s) of {"Ref": name}.
func (s *StandIns) Ref(name string, values ...string) {
	if s.Refs == nil {
		s.Refs = map[string][]string{}
	}
	s.Refs[name] = values
}

// Attr sets the value(s) of {"Fn::GetAtt": [resource, attr]}.
func (s *StandIns) Attr(resource, attr string, values ...string) {
	if s.Attrs == nil {
		s.Attrs = map[string][]string{}
	}
	s.Attrs[resource+"."+attr] = values
}

// WithParameterDefaults sets every parameter of t that has a Default and
// no value yet to that default, as a deployment without overrides would.
func (s *StandIns) WithParameterDefaults(t *Template) {
	for name, raw := range t.Parameters {
		if _, set := s.Refs[name]; set {
			continue
		}
		if def, ok := asMap(raw)["Default"]; ok {
			s.Ref(name, fmt.Sprint(def))
		}
	}
}

// Resolve evaluates the intrinsics in v (Ref, Fn::GetAtt, Fn::Sub,
// Fn::Join, Fn::Select) with the stand-ins. A reference without a
// stand-in is an error: nothing is guessed.
func (s StandIns) Resolve(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				if k == "Ref" || strings.HasPrefix(k, "Fn::") {
					return s.intrinsic(k, arg)
				}
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := s.Resolve(e)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			r, err := s.Resolve(e)
			if err != nil {
				return nil, err
			}
			// A reference standing for several values joins the list.
			if list, ok := r.([]any); ok && isIntrinsic(e) {
				out = append(out, list...)
				continue
			}
			out = append(out, r)
		}
		return out, nil
	}
	return v, nil
}

// ResolveString resolves v to one string (the first, where a reference
// stands for several).
func (s StandIns) ResolveString(v any) (string, error) {
	r, err := s.Resolve(v)
	if err != nil {
		return "", err
	}
	switch x := r.(type) {
	case string:
		return x, nil
	case []any:
		if len(x) > 0 {
			if str, ok := x[0].(string); ok {
				return str, nil
			}
		}
	case int64, float64, bool:
		return fmt.Sprint(x), nil
	}
	return "", fmt.Errorf("%v does not resolve to a string", v)
}

func isIntrinsic(v any) bool {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return false
	}
	for k := range m {
		return k == "Ref" || strings.HasPrefix(k, "Fn::")
	}
	return false
}

func values(vs []string) any {
	if len(vs) == 1 {
		return vs[0]
	}
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

func (s StandIns) intrinsic(name string, arg any) (any, error) {
	switch name {
	case "Ref":
		target, _ := arg.(string)
		vs, ok := s.Refs[target]
		if !ok || len(vs) == 0 {
			return nil, fmt.Errorf("no stand-in for Ref %s", target)
		}
		return values(vs), nil
	case "Fn::GetAtt":
		res, attr, ok := GetAttTarget(map[string]any{name: arg})
		if !ok {
			return nil, fmt.Errorf("malformed Fn::GetAtt %v", arg)
		}
		vs, found := s.Attrs[res+"."+attr]
		if !found || len(vs) == 0 {
			return nil, fmt.Errorf("no stand-in for Fn::GetAtt %s.%s", res, attr)
		}
		return values(vs), nil
	case "Fn::Sub":
		return s.sub(arg)
	case "Fn::Join":
		args, _ := arg.([]any)
		if len(args) != 2 {
			return nil, fmt.Errorf("malformed Fn::Join %v", arg)
		}
		sep, _ := args[0].(string)
		list, err := s.Resolve(args[1])
		if err != nil {
			return nil, err
		}
		parts := make([]string, 0)
		for _, p := range List(list) {
			parts = append(parts, fmt.Sprint(p))
		}
		return strings.Join(parts, sep), nil
	case "Fn::Select":
		args, _ := arg.([]any)
		if len(args) != 2 {
			return nil, fmt.Errorf("malformed Fn::Select %v", arg)
		}
		index, err := s.ResolveString(args[0])
		if err != nil {
			return nil, err
		}
		list, err := s.Resolve(args[1])
		if err != nil {
			return nil, err
		}
		items := List(list)
		var i int
		if _, err := fmt.Sscan(index, &i); err != nil || i < 0 || i >= len(items) {
			return nil, fmt.Errorf("Fn::Select index %s out of range", index)
		}
		return items[i], nil
	case "Fn::Split":
		args, _ := arg.([]any)
		if len(args) != 2 {
			return nil, fmt.Errorf("malformed Fn::Split %v", arg)
		}
		sep, _ := args[0].(string)
		str, err := s.ResolveString(args[1])
		if err != nil {
			return nil, err
		}
		var out []any
		for _, p := range strings.Split(str, sep) {
			out = append(out, p)
		}
		return out, nil
	}
	return nil, fmt.Errorf("intrinsic %s is not resolved here", name)
}

var subVariable = regexp.MustCompile(`\$\{([^}!][^}]*)\}`)

func (s StandIns) sub(arg any) (any, error) {
	format, ok := SubString(map[string]any{"Fn::Sub": arg})
	if !ok {
		return nil, fmt.Errorf("malformed Fn::Sub %v", arg)
	}
	local := map[string]string{}
	if list, ok := arg.([]any); ok && len(list) == 2 {
		for k, v := range asMap(list[1]) {
			str, err := s.ResolveString(v)
			if err != nil {
				return nil, err
			}
			local[k] = str
		}
	}
	var firstErr error
	out := subVariable.ReplaceAllStringFunc(format, func(m string) string {
		name := m[2 : len(m)-1]
		if v, ok := local[name]; ok {
			return v
		}
		var ref any = map[string]any{"Ref": name}
		if res, attr, found := strings.Cut(name, "."); found && !strings.HasPrefix(name, "AWS::") {
			ref = map[string]any{"Fn::GetAtt": []any{res, attr}}
		}
		v, err := s.ResolveString(ref)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return v
	})
	if firstErr != nil {
		return nil, firstErr
	}
	// ${!Literal} stands for ${Literal}.
	return strings.ReplaceAll(out, "${!", "${"), nil
}
