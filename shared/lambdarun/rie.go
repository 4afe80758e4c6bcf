package lambdarun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Runtime is one function's bootstrap under aws-lambda-rie: the emulator
// serves the Runtime API to the bootstrap and takes invocations on
// POST /2015-03-31/functions/function/invocations. The bootstrap starts
// (its cold start) on the first invocation, as in Lambda.
type Runtime struct {
	Function string
	URL      string
	proc     *process
	client   *http.Client
}

// StartRuntime runs bootstrap under the emulator with exactly env (the
// emulator hands its environment to the bootstrap), both APIs on loopback
// ports the OS had free. echo, if set, receives the function's output.
func StartRuntime(ctx context.Context, rieBin, function, bootstrap string, env []string, echo io.Writer) (*Runtime, error) {
	invokeAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	runtimeAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{
		"--log-level", "error",
		"--runtime-api-address", runtimeAddr,
		"--runtime-interface-emulator-address", invokeAddr,
		bootstrap,
	}
	p, err := startProcess("aws-lambda-rie ("+function+")", rieBin, args, env, filepath.Dir(bootstrap), echo)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := waitListening(ctx, p, invokeAddr); err != nil {
		p.stop()
		return nil, err
	}
	return &Runtime{
		Function: function,
		URL:      "http://" + invokeAddr + "/2015-03-31/functions/function/invocations",
		proc:     p,
		client:   &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
	}, nil
}

// FunctionError is an invocation Lambda reports as failed: the bootstrap
// exited (a failed cold start: Runtime.ExitError) or the handler returned
// an error.
type FunctionError struct {
	Function string
	Status   int
	Payload  string
	Output   string
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("%s failed (status %d): %s", e.Function, e.Status, e.Payload)
}

// Invoke sends payload as a synchronous invocation and returns what the
// function returned.
func (r *Runtime) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", r.Function, err, r.proc.output())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 6<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || isErrorPayload(body) {
		return nil, &FunctionError{Function: r.Function, Status: resp.StatusCode, Payload: string(body), Output: r.proc.output()}
	}
	return body, nil
}

// isErrorPayload recognises the error document a handler error becomes
// ({"errorMessage": ..., "errorType": ...}).
func isErrorPayload(body []byte) bool {
	var e struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}
	return json.Unmarshal(body, &e) == nil && (e.ErrorType != "" || e.ErrorMessage != "")
}

// Output is what the emulator and the bootstrap printed (its tail).
func (r *Runtime) Output() string { return r.proc.output() }

// Stop ends the emulator and its bootstrap.
func (r *Runtime) Stop() {
	r.client.CloseIdleConnections()
	r.proc.stop()
}

// baseEnv is what every function's environment starts from besides the
// template's variables: the process basics and Lambda's own variables.
func baseEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "TZ=UTC", "LANG=C.UTF-8"}
}
