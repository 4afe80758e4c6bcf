package deploy

import "strings"

// RefTarget returns X for {"Ref": X}.
func RefTarget(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", false
	}
	s, ok := m["Ref"].(string)
	return s, ok
}

// GetAttTarget returns (resource, attribute) for {"Fn::GetAtt": [r, a]}.
func GetAttTarget(v any) (resource, attribute string, ok bool) {
	m, isMap := v.(map[string]any)
	if !isMap || len(m) != 1 {
		return "", "", false
	}
	switch args := m["Fn::GetAtt"].(type) {
	case []any:
		if len(args) != 2 {
			return "", "", false
		}
		r, ok1 := args[0].(string)
		a, ok2 := args[1].(string)
		return r, a, ok1 && ok2
	case string:
		r, a, found := strings.Cut(args, ".")
		return r, a, found
	}
	return "", "", false
}

// SubString returns the format string of {"Fn::Sub": s} or
// {"Fn::Sub": [s, vars]}.
func SubString(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", false
	}
	switch sub := m["Fn::Sub"].(type) {
	case string:
		return sub, true
	case []any:
		if len(sub) > 0 {
			s, ok := sub[0].(string)
			return s, ok
		}
	}
	return "", false
}

// Refers reports whether v names resource id by Ref, GetAtt or a ${id...}
// reference inside Sub.
func Refers(v any, id string) bool {
	if r, ok := RefTarget(v); ok {
		return r == id
	}
	if r, _, ok := GetAttTarget(v); ok {
		return r == id
	}
	if s, ok := SubString(v); ok {
		return strings.Contains(s, "${"+id+"}") || strings.Contains(s, "${"+id+".")
	}
	return false
}

// List returns v as a list: a list stays one, a single value becomes a list
// of one, nil an empty list (IAM's "string or list of strings").
func List(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	default:
		return []any{x}
	}
}

// Strings returns the string members of List(v).
func Strings(v any) []string {
	var out []string
	for _, x := range List(v) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
