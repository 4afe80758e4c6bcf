package lambdarun

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// LocalKMSServer is a running local-kms: real AES-GCM keys, the
// encryption context bound to the ciphertext (a Decrypt with another
// context is refused), keys and aliases by ARN in Region and Account.
type LocalKMSServer struct {
	Endpoint string
	proc     *process
}

var kmsStarted = regexp.MustCompile(`Local KMS started on [0-9.]+:([0-9]+)`)

// StartLocalKMS runs local-kms with its data under dir, on a port the OS
// picks (local-kms takes no listen host: it binds every interface, on
// that port, for as long as the run lasts; it is reached on loopback).
func StartLocalKMS(ctx context.Context, bin, dir, region, account string) (*LocalKMSServer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"PORT=0",
		"KMS_REGION=" + region,
		"KMS_ACCOUNT_ID=" + account,
		"KMS_DATA_PATH=" + filepath.Join(dir, "data"),
		// No seed: the run creates the keys it needs.
		"KMS_SEED_PATH=" + filepath.Join(dir, "no-seed.yaml"),
	}
	p, err := startProcess("local-kms", bin, nil, env, dir, nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		if m := kmsStarted.FindStringSubmatch(p.output()); m != nil {
			if _, err := atoiPort(m[1]); err != nil {
				p.stop()
				return nil, err
			}
			s := &LocalKMSServer{Endpoint: "http://127.0.0.1:" + m[1], proc: p}
			if err := waitListening(ctx, p, "127.0.0.1:"+m[1]); err != nil {
				p.stop()
				return nil, err
			}
			return s, nil
		}
		if p.exited() {
			return nil, fmt.Errorf("local-kms exited: %v\n%s", p.err, p.output())
		}
		select {
		case <-ctx.Done():
			p.stop()
			return nil, fmt.Errorf("local-kms did not start: %w\n%s", ctx.Err(), p.output())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop ends local-kms.
func (s *LocalKMSServer) Stop() { s.proc.stop() }
