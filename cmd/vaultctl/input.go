package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// maxStdinValue bounds a value read from stdin: the contract's largest
// secret value is 32 KiB.
const maxStdinValue = 32 << 10

// valueOrStdin returns v, or, when v is "-", the first line of stdin. Reading
// sensitive values from stdin keeps them out of shell history and of the
// process list.
func (a *app) valueOrStdin(what, v string) (string, error) {
	if v != "-" {
		return v, nil
	}
	r := bufio.NewReader(io.LimitReader(a.stdin, maxStdinValue+2))
	line, err := r.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading %s from stdin: %w", what, err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if len(line) > maxStdinValue {
		return "", fmt.Errorf("%s from stdin is longer than %d bytes", what, maxStdinValue)
	}
	if line == "" {
		return "", fmt.Errorf("no %s on stdin", what)
	}
	return line, nil
}

// parseExpiry reads MM/YYYY.
func parseExpiry(s string) (month, year int, err error) {
	m, y, ok := strings.Cut(s, "/")
	if ok {
		month, err = strconv.Atoi(m)
	}
	if ok && err == nil {
		year, err = strconv.Atoi(y)
	}
	if !ok || err != nil || len(y) != 4 || month < 1 || month > 12 {
		return 0, 0, usageError("--exp must be MM/YYYY")
	}
	return month, year, nil
}
