// Package localdb starts an in-memory dynalite for the benchmarks that
// need a DynamoDB: the end-to-end runs, rotation and cold start. It keeps
// no data on disk, so every run starts from an empty database.
package localdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cardvault/vault/shared/dynalite"
	"github.com/cardvault/vault/shared/store"
)

// Server is a running dynalite.
type Server struct {
	Endpoint string
	cmd      *exec.Cmd
	done     chan struct{}
}

// Start launches dynalite (node_modules/dynalite/cli.js found walking up
// from the working directory, or $VAULT_DYNALITE) on a free loopback
// port, in memory, and waits until it answers.
func Start(ctx context.Context) (*Server, error) {
	cli, err := locateCLI()
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("node", cli, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--createTableMs", "20", "--updateTableMs", "20", "--deleteTableMs", "20")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("localdb: start dynalite: %w", err)
	}
	s := &Server{Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(15 * time.Second)
	client := store.NewLocalClient(s.Endpoint)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := dynalite.Answers(pctx, client)
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case <-s.done:
			return nil, errors.New("localdb: dynalite exited before it answered")
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("localdb: dynalite not answering at %s: %v", s.Endpoint, err)
		}
	}
}

// Stop ends dynalite's process group.
func (s *Server) Stop() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

func locateCLI() (string, error) {
	if p := os.Getenv("VAULT_DYNALITE"); p != "" {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "node_modules", "dynalite", "cli.js")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("localdb: node_modules/dynalite/cli.js not found; run `make deps` at the repository root")
		}
		dir = parent
	}
}

// CPUTime is the CPU time (user and system) dynalite has used so far, read
// from /proc: a benchmark compares it with the wall time of a run to show
// whether the single-threaded database was the bottleneck.
func (s *Server) CPUTime() (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// utime and stime are fields 14 and 15, counted after it.
	rest := raw[bytes.LastIndexByte(raw, ')')+1:]
	fields := strings.Fields(string(rest))
	if len(fields) < 13 {
		return 0, errors.New("localdb: short /proc stat line")
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	// Linux reports both in clock ticks, USER_HZ, which is 100 on every
	// architecture Go supports.
	return time.Duration(ticks) * (time.Second / 100), nil
}
