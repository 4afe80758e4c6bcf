// Package iampolicy evaluates IAM identity policies the way AWS does for
// the requests the vault makes: may this role do this action on this
// resource, with these condition-key values? It holds a role of
// template.yaml (resolved with stand-ins, deploy.StandIns) to what the
// code does, in-process (shared/deploy's tests) and at the wire (the
// recording proxy in front of the emulators, shared/deploy/iamproxy).
//
// It covers the subset of IAM the vault's template uses, and refuses what
// it does not know instead of guessing: explicit Deny beats Allow; actions
// and resources match exactly or with the * and ? wildcards; condition
// operators are the String, Arn and Null families, with the ForAllValues:
// and ForAnyValue: set qualifiers and the IfExists suffix. A condition
// operator outside that subset makes the statement fail to match and is
// reported, so a template that grows one cannot pass unchecked.
package iampolicy

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/cardvault/vault/shared/deploy"
)

// Request is one authorisation question.
type Request struct {
	// Action is "service:Operation" (dynamodb:GetItem, kms:Decrypt).
	Action string
	// Resource is the ARN the action is on.
	Resource string
	// Context holds the request's condition keys and their values
	// (dynamodb:LeadingKeys, kms:EncryptionContext:purpose, ...); a key
	// that is not in it is absent from the request, as IAM sees it.
	// Keys compare case-insensitively, as in IAM.
	Context map[string][]string
}

func (r Request) String() string {
	s := r.Action + " on " + r.Resource
	if len(r.Context) > 0 {
		keys := make([]string, 0, len(r.Context))
		for k := range r.Context {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, k+"="+strings.Join(r.Context[k], ","))
		}
		s += " {" + strings.Join(parts, " ") + "}"
	}
	return s
}

// Statement is one policy statement with its references resolved.
type Statement struct {
	// Where names the statement in messages (role, policy, index and Sid).
	Where     string
	Effect    string
	Actions   []string
	Resources []string
	// Condition is operator -> condition key -> values.
	Condition map[string]map[string][]string
}

// Policy is the statements of one principal's identity policies.
type Policy struct {
	Statements []Statement
}

// Grant is one thing a policy allows: an action of one statement on one of
// its resources. The suite that holds a role to the code checks that every
// grant of a role was used by some call (least privilege both ways).
type Grant struct {
	Statement string
	Action    string
	Resource  string
}

func (g Grant) String() string { return g.Action + " on " + g.Resource + " (" + g.Statement + ")" }

// Decision is the answer to a Request.
type Decision struct {
	Allowed bool
	// Grants are the grants of the Allow statements that match the
	// request (empty when it is denied).
	Grants []Grant
	// DeniedBy names the Deny statement that matched, if any.
	DeniedBy string
	// Unsupported lists conditions the evaluator could not evaluate; the
	// statements holding them did not match.
	Unsupported []string
}

// Evaluate answers r: allowed when an Allow statement matches and no Deny
// statement does (IAM's implicit deny otherwise).
func (p Policy) Evaluate(r Request) Decision {
	var d Decision
	ctx := lowerKeys(r.Context)
	for _, st := range p.Statements {
		action, ok := st.matchAction(r.Action)
		if !ok {
			continue
		}
		resource, ok := st.matchResource(r.Resource)
		if !ok {
			continue
		}
		holds, unsupported := st.conditionsHold(ctx)
		d.Unsupported = append(d.Unsupported, unsupported...)
		if !holds {
			continue
		}
		switch st.Effect {
		case "Deny":
			d.DeniedBy = st.Where
		case "Allow":
			d.Grants = append(d.Grants, Grant{Statement: st.Where, Action: action, Resource: resource})
		}
	}
	d.Allowed = d.DeniedBy == "" && len(d.Grants) > 0
	if !d.Allowed {
		d.Grants = nil
	}
	return d
}

// Grants lists every grant of the policy's Allow statements.
func (p Policy) Grants() []Grant {
	var out []Grant
	for _, st := range p.Statements {
		if st.Effect != "Allow" {
			continue
		}
		for _, a := range st.Actions {
			for _, r := range st.Resources {
				out = append(out, Grant{Statement: st.Where, Action: a, Resource: r})
			}
		}
	}
	return out
}

func (st Statement) matchAction(action string) (string, bool) {
	for _, a := range st.Actions {
		if like(strings.ToLower(a), strings.ToLower(action)) {
			return a, true
		}
	}
	return "", false
}

func (st Statement) matchResource(resource string) (string, bool) {
	for _, r := range st.Resources {
		if like(r, resource) {
			return r, true
		}
	}
	return "", false
}

func (st Statement) conditionsHold(ctx map[string][]string) (bool, []string) {
	var unsupported []string
	holds := true
	for op, keys := range st.Condition {
		for key, want := range keys {
			ok, known := conditionHolds(op, want, ctx[strings.ToLower(key)], hasKey(ctx, key))
			if !known {
				unsupported = append(unsupported, fmt.Sprintf("%s: %s on %s", st.Where, op, key))
			}
			if !ok {
				holds = false
			}
		}
	}
	return holds, unsupported
}

func hasKey(ctx map[string][]string, key string) bool {
	_, ok := ctx[strings.ToLower(key)]
	return ok
}

// conditionHolds evaluates one operator on one key; known is false for an
// operator this package does not implement (which then never holds).
func conditionHolds(op string, want, got []string, present bool) (holds, known bool) {
	if op == "Null" {
		// "true": the key must be absent; "false": present.
		return slices.Equal(want, []string{"true"}) == !present, true
	}
	set := ""
	if q, rest, ok := strings.Cut(op, ":"); ok {
		set, op = q, rest
	}
	ifExists := false
	if base, ok := strings.CutSuffix(op, "IfExists"); ok {
		op, ifExists = base, true
	}
	match, negated, known := matcher(op)
	if !known || (set != "" && set != "ForAllValues" && set != "ForAnyValue") {
		return false, false
	}
	anyMatch := func(v string) bool {
		return slices.ContainsFunc(want, func(w string) bool { return match(w, v) })
	}
	switch set {
	case "ForAllValues":
		// Every value the request has must match (true for none).
		for _, v := range got {
			if anyMatch(v) == negated {
				return false, true
			}
		}
		return true, true
	case "ForAnyValue":
		for _, v := range got {
			if anyMatch(v) != negated {
				return true, true
			}
		}
		return false, true
	}
	if !present {
		// A negated operator holds for an absent key; a positive one
		// only with IfExists.
		return negated || ifExists, true
	}
	matched := slices.ContainsFunc(got, anyMatch)
	return matched != negated, true
}

// matcher returns the comparison of a single-valued operator and whether
// it is a negated one.
func matcher(op string) (match func(want, got string) bool, negated, known bool) {
	equals := func(w, g string) bool { return w == g }
	equalFold := strings.EqualFold
	switch op {
	case "StringEquals", "ArnEquals":
		return equals, false, true
	case "StringNotEquals", "ArnNotEquals":
		return equals, true, true
	case "StringEqualsIgnoreCase":
		return equalFold, false, true
	case "StringNotEqualsIgnoreCase":
		return equalFold, true, true
	case "StringLike", "ArnLike":
		return like, false, true
	case "StringNotLike", "ArnNotLike":
		return like, true, true
	}
	return nil, false, false
}

// like is IAM's wildcard match: '*' matches any run of characters
// (including none), '?' any one character.
func like(pattern, s string) bool {
	for pattern != "" {
		switch pattern[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if like(pattern[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != pattern[0] {
				return false
			}
		}
		pattern, s = pattern[1:], s[1:]
	}
	return s == ""
}

func lowerKeys(m map[string][]string) map[string][]string {
	out := make(map[string][]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// FromStatements resolves the template's statements with the stand-ins:
// every Resource and condition value becomes the string it would be in the
// deployed stack.
func FromStatements(stmts []deploy.Statement, s deploy.StandIns) (Policy, error) {
	var p Policy
	for _, st := range stmts {
		out := Statement{Where: st.Where, Effect: st.Effect, Actions: st.Actions, Condition: map[string]map[string][]string{}}
		resources, err := s.Resolve(st.Resources)
		if err != nil {
			return Policy{}, fmt.Errorf("%s: Resource: %w", st.Where, err)
		}
		out.Resources = deploy.Strings(resources)
		if len(out.Resources) != len(deploy.List(resources)) {
			return Policy{}, fmt.Errorf("%s: a Resource does not resolve to a string", st.Where)
		}
		for op, keys := range st.Condition {
			out.Condition[op] = map[string][]string{}
			for key, raw := range keys {
				v, err := s.Resolve(raw)
				if err != nil {
					return Policy{}, fmt.Errorf("%s: condition %s %s: %w", st.Where, op, key, err)
				}
				var vals []string
				for _, x := range deploy.List(v) {
					vals = append(vals, fmt.Sprint(x))
				}
				out.Condition[op][key] = vals
			}
		}
		p.Statements = append(p.Statements, out)
	}
	return p, nil
}

// FromRole is the policy of one role of the template.
func FromRole(t *deploy.Template, roleID string, s deploy.StandIns) (Policy, error) {
	role, ok := t.Resources[roleID]
	if !ok || role.Type != deploy.TypeRole {
		return Policy{}, fmt.Errorf("the template has no role %s", roleID)
	}
	stmts, err := deploy.RoleStatements(roleID, role)
	if err != nil {
		return Policy{}, err
	}
	return FromStatements(stmts, s)
}
