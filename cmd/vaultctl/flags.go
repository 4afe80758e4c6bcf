package main

import (
	"flag"
	"fmt"
	"strings"
)

// newFlagSet is a subcommand's flag set, with the global flags accepted
// there too so `vaultctl reveal --url ...` works as well as
// `vaultctl --url ... reveal`.
func (a *app) newFlagSet(name, argsUsage string) *flag.FlagSet {
	fs := flag.NewFlagSet("vaultctl "+name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	a.addGlobalFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(a.stderr, "usage: vaultctl %s [flags] %s\n", name, argsUsage)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags and positional arguments in any order (the standard
// flag package stops at the first positional one), and checks the count of
// positional arguments.
func parse(fs *flag.FlagSet, args []string, wantPositional int) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return nil, err
			}
			return nil, errUsage
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	if len(positional) != wantPositional {
		fs.Usage()
		return nil, usageError("expected %d argument(s), got %d", wantPositional, len(positional))
	}
	return positional, nil
}

// required takes flag names and values in pairs and reports the first flag
// left empty.
func required(nameValuePairs ...string) error {
	for i := 0; i+1 < len(nameValuePairs); i += 2 {
		if nameValuePairs[i+1] == "" {
			return usageError("--%s is required", nameValuePairs[i])
		}
	}
	return nil
}

// metadataFlag collects repeated --meta key=value flags.
type metadataFlag map[string]string

func (m metadataFlag) String() string {
	pairs := make([]string, 0, len(m))
	for k, v := range m {
		pairs = append(pairs, k+"="+v)
	}
	return strings.Join(pairs, ",")
}

func (m metadataFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	m[k] = v
	return nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
