// Package s3rver runs s3rver (npm), a local S3-compatible server: the
// stand-in of the job files bucket for the tests of the S3 adapter and for
// the AWS-mode stack (shared/lambdarun), where the real SDK client talks
// to it over loopback.
// s3rver checks SigV4 signatures made with its fixed credentials
// (AccessKey / SecretKey below) but not bucket policies or KMS; presigned
// URLs come from the SDK's own presigner.
package s3rver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"time"
)

// Credentials s3rver accepts.
const (
	AccessKey = "S3RVER"
	SecretKey = "S3RVER"
)

const cliRelPath = "node_modules/s3rver/bin/s3rver.js"

// Server is a running s3rver.
type Server struct {
	Endpoint string
	cmd      *exec.Cmd
	done     chan struct{}
}

var listening = regexp.MustCompile(`S3rver listening on (127\.0\.0\.1:\d+)`)

// Start runs s3rver on a free loopback port over dir, with the buckets
// made, and waits until it listens.
func Start(ctx context.Context, dir string, buckets ...string) (*Server, error) {
	cli, err := locate()
	if err != nil {
		return nil, err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("s3rver: node is not on PATH; install Node.js, then run make deps")
	}
	args := []string{cli, "-d", dir, "-a", "127.0.0.1", "-p", "0", "--no-vhost-buckets"}
	for _, b := range buckets {
		args = append(args, "--configure-bucket", b)
	}
	cmd := exec.Command(node, args...) // #nosec G204 -- node and s3rver from the repository's node_modules; fixed arguments
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("s3rver: %w", err)
	}
	s := &Server{cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
		close(s.done)
	}()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	select {
	case a := <-addr:
		s.Endpoint = "http://" + a
		return s, nil
	case <-s.done:
		return nil, errors.New("s3rver exited before it listened")
	case <-ctx.Done():
		s.Stop()
		return nil, errors.New("s3rver did not listen within 15 s")
	}
}

// Stop ends s3rver's process group.
func (s *Server) Stop() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

func locate() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; {
		p := filepath.Join(dir, cliRelPath)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("s3rver: %s not found above %s; run make deps", cliRelPath, wd)
		}
		dir = parent
	}
}
