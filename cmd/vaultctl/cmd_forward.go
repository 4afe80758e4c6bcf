package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cardvault/vault/shared/client"
)

// maxJSONBody bounds a --json body: the vault takes requests of 64 KiB.
const maxJSONBody = 64 << 10

func runForward(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("forward", "")
	merchant := fs.String("merchant", "", "merchant id (required)")
	destination := fs.String("destination", "", "destination id, as the operator's destinations document names it (required)")
	token := fs.String("token", "", "card token the {{card.*}} placeholders read")
	method := fs.String("method", "POST", "HTTP method")
	path := fs.String("path", "", "provider path, e.g. /v1/payment_methods (required)")
	form := metadataFlag{}
	fs.Var(form, "form", `form body field key=value, placeholders allowed in the value: 'card[number]={{card.number}}' (repeatable)`)
	jsonFile := fs.String("json", "", `file holding the JSON body ("-": stdin); placeholders allowed in string values`)
	query := metadataFlag{}
	fs.Var(query, "query", "query parameter key=value (repeatable)")
	headers := headerFlag{}
	fs.Var(headers, "header", `header 'Name: value' passed to the provider if the destination lists it (repeatable)`)
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := required("merchant", *merchant, "destination", *destination, "path", *path); err != nil {
		return err
	}
	req := client.ForwardRequest{
		MerchantID: *merchant, Destination: *destination, Token: *token,
		Method: strings.ToUpper(*method), Path: *path,
	}
	if len(query) > 0 {
		req.Query = query
	}
	if len(headers) > 0 {
		req.Headers = headers
	}
	if len(form) > 0 && *jsonFile != "" {
		return usageError("--form and --json cannot both be given")
	}
	if len(form) > 0 {
		req.Form = form
	}
	if *jsonFile != "" {
		body, err := a.readJSONBody(*jsonFile)
		if err != nil {
			return err
		}
		req.JSON = body
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	answer, err := c.Forward(ctx, req)
	if err != nil {
		return err
	}
	return printJSON(a.stdout, answer)
}

func (a *app) readJSONBody(name string) (json.RawMessage, error) {
	var r io.Reader
	if name == "-" {
		r = a.stdin
	} else {
		f, err := os.Open(name) // #nosec G304 -- a file the user names on the command line
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	body, err := io.ReadAll(io.LimitReader(r, maxJSONBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJSONBody {
		return nil, fmt.Errorf("the JSON body is over %d bytes", maxJSONBody)
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("%s is not valid JSON", name)
	}
	return body, nil
}

// headerFlag collects repeated --header 'Name: value' flags.
type headerFlag map[string]string

func (h headerFlag) String() string {
	pairs := make([]string, 0, len(h))
	for k, v := range h {
		pairs = append(pairs, k+": "+v)
	}
	return strings.Join(pairs, ", ")
}

func (h headerFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, ":")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("want 'Name: value', got %q", s)
	}
	h[strings.TrimSpace(k)] = strings.TrimSpace(v)
	return nil
}
