package deploy

import (
	"fmt"
	"strings"
)

// Statement is one IAM policy statement, with Action and Resource always
// lists.
type Statement struct {
	// Where names the statement for messages: resource, policy and Sid.
	Where     string
	Sid       string
	Effect    string
	Actions   []string
	Resources []any
	// Principal is a resource policy's principal mapping ("Service",
	// "AWS": value(s)); nil in identity policies and for "*".
	Principal map[string]any
	// Condition is operator -> condition key -> value(s).
	Condition map[string]map[string]any
}

// HasAction reports whether the statement lists action (exactly, case
// insensitively, as IAM compares action names).
func (s Statement) HasAction(action string) bool {
	for _, a := range s.Actions {
		if strings.EqualFold(a, action) {
			return true
		}
	}
	return false
}

// ActionsOf returns the statement's actions of one service prefix ("kms").
func (s Statement) ActionsOf(service string) []string {
	var out []string
	for _, a := range s.Actions {
		if strings.HasPrefix(strings.ToLower(a), strings.ToLower(service)+":") {
			out = append(out, a)
		}
	}
	return out
}

// ConditionValues returns the values a condition operator sets for a key
// (nil if it does not).
func (s Statement) ConditionValues(operator, key string) []string {
	for op, keys := range s.Condition {
		if op != operator {
			continue
		}
		for k, v := range keys {
			if strings.EqualFold(k, key) {
				return Strings(v)
			}
		}
	}
	return nil
}

// ConditionKeys lists every condition key the statement tests, under any
// operator.
func (s Statement) ConditionKeys() []string {
	var out []string
	for _, keys := range s.Condition {
		for k := range keys {
			out = append(out, k)
		}
	}
	return out
}

// RoleStatements returns the statements of a role's inline policies.
func RoleStatements(id string, role Resource) ([]Statement, error) {
	var out []Statement
	for i, p := range List(role.Prop("Policies")) {
		pm, ok := p.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: policy %d is not a mapping", id, i)
		}
		name, _ := pm["PolicyName"].(string)
		stmts, err := PolicyStatements(fmt.Sprintf("%s/%s", id, name), pm["PolicyDocument"])
		if err != nil {
			return nil, err
		}
		out = append(out, stmts...)
	}
	if len(List(role.Prop("ManagedPolicyArns"))) > 0 {
		return nil, fmt.Errorf("%s: managed policies cannot be checked; write the statements inline", id)
	}
	return out, nil
}

// PolicyStatements parses a policy document's statements.
func PolicyStatements(where string, doc any) ([]Statement, error) {
	dm, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: policy document is not a mapping (a JSON string cannot be checked)", where)
	}
	var out []Statement
	for i, raw := range List(dm["Statement"]) {
		sm, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: statement %d is not a mapping", where, i)
		}
		if sm["NotAction"] != nil || sm["NotResource"] != nil {
			return nil, fmt.Errorf("%s: statement %d uses NotAction/NotResource, which grant by exclusion", where, i)
		}
		st := Statement{Condition: map[string]map[string]any{}}
		st.Sid, _ = sm["Sid"].(string)
		st.Effect, _ = sm["Effect"].(string)
		st.Where = fmt.Sprintf("%s[%d %s]", where, i, st.Sid)
		st.Actions = Strings(sm["Action"])
		if len(st.Actions) != len(List(sm["Action"])) {
			return nil, fmt.Errorf("%s: an action is not a plain string", st.Where)
		}
		st.Resources = List(sm["Resource"])
		st.Principal = asMap(sm["Principal"])
		for op, keys := range asMap(sm["Condition"]) {
			st.Condition[op] = asMap(keys)
		}
		out = append(out, st)
	}
	return out, nil
}
