package forward

import (
	"strings"

	"github.com/cardvault/vault/shared/vaulterr"
)

// placeholder is one {{...}} of a request template.
type placeholder int

const (
	phNone placeholder = iota
	phCardNumber
	phExpMonth
	phExpYear
	phExpYear2
	phHolderName
	phSecret
	// The |number forms: only the whole string of a JSON value, which then
	// becomes a JSON number.
	phExpMonthNumber
	phExpYearNumber
)

func (p placeholder) card() bool { return p != phNone && p != phSecret }

// part is a piece of a template string: literal text, or a placeholder
// (with the secret's name for {{secret.NAME}}).
type part struct {
	lit    string
	ph     placeholder
	secret string
}

// template is a string value of a request body, split at its
// placeholders.
type template []part

func malformed(msg string) error { return vaulterr.New(vaulterr.Malformed, msg) }

// noPlaceholder refuses a placeholder where the contract allows none:
// path, query, headers, member and field names.
func noPlaceholder(s, where string) error {
	if strings.Contains(s, "{{") {
		return malformed("placeholders are allowed in body values only, not in " + where)
	}
	return nil
}

// parseTemplate splits a decoded body string at its placeholders. inJSON
// allows the |number forms, and then only as the whole string.
func parseTemplate(s string, inJSON bool) (template, error) {
	if !strings.Contains(s, "{{") {
		return template{{lit: s}}, nil
	}
	var t template
	rest := s
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			if rest != "" {
				t = append(t, part{lit: rest})
			}
			return t, nil
		}
		if i > 0 {
			t = append(t, part{lit: rest[:i]})
		}
		end := strings.Index(rest[i+2:], "}}")
		if end < 0 {
			return nil, malformed("unclosed {{ in a body value")
		}
		name := rest[i+2 : i+2+end]
		p, err := parsePlaceholder(name)
		if err != nil {
			return nil, err
		}
		if p.ph == phExpMonthNumber || p.ph == phExpYearNumber {
			if !inJSON {
				return nil, malformed("|number is for JSON bodies only")
			}
			if s != "{{"+name+"}}" {
				return nil, malformed("|number must be the whole string of a JSON value")
			}
		}
		t = append(t, p)
		rest = rest[i+2+end+2:]
	}
}

func parsePlaceholder(name string) (part, error) {
	switch name {
	case "card.number":
		return part{ph: phCardNumber}, nil
	case "card.exp_month":
		return part{ph: phExpMonth}, nil
	case "card.exp_year":
		return part{ph: phExpYear}, nil
	case "card.exp_year2":
		return part{ph: phExpYear2}, nil
	case "card.holder_name":
		return part{ph: phHolderName}, nil
	case "card.exp_month|number":
		return part{ph: phExpMonthNumber}, nil
	case "card.exp_year|number":
		return part{ph: phExpYearNumber}, nil
	}
	if n, ok := strings.CutPrefix(name, "secret."); ok && secretName.MatchString(n) {
		return part{ph: phSecret, secret: n}, nil
	}
	return part{}, malformed("unknown placeholder in a body value")
}

// uses records what a template needs from the card and the secrets.
func (t template) uses(u *usage) {
	for _, p := range t {
		switch {
		case p.ph == phSecret:
			u.addSecret(p.secret)
		case p.ph == phHolderName:
			u.card, u.holder = true, true
		case p.ph.card():
			u.card = true
		}
	}
}

// usage is what a request's body references.
type usage struct {
	card    bool
	holder  bool
	secrets []string
}

func (u *usage) addSecret(name string) {
	for _, s := range u.secrets {
		if s == name {
			return
		}
	}
	u.secrets = append(u.secrets, name)
}
