package lambdarun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// process is one child program, its output kept (the last 256 KiB) for
// failure messages and optionally copied to a writer.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{}
	err  error
}

func startProcess(name, bin string, args, env []string, dir string, echo io.Writer) (*process, error) {
	cmd := exec.Command(bin, args...) // #nosec G204 -- pinned tools and built bootstraps
	cmd.Env = env
	cmd.Dir = dir
	// A process group of its own: stopping it stops what it started (the
	// bootstrap under the emulator).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &process{name: name, cmd: cmd, out: &tailBuffer{max: 256 << 10}, done: make(chan struct{})}
	var w io.Writer = p.out
	if echo != nil {
		w = io.MultiWriter(p.out, echo)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process group: SIGTERM, then SIGKILL after a grace.
func (p *process) stop() {
	if p.exited() {
		return
	}
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.done
	}
}

// output is what the process printed (its tail).
func (p *process) output() string { return p.out.String() }

type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// freeAddr is a loopback address with a port the OS just had free.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// waitListening waits until addr accepts connections, the process ends or
// ctx is done.
func waitListening(ctx context.Context, p *process, addr string) error {
	for {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			return conn.Close()
		}
		if p.exited() {
			return fmt.Errorf("%s exited: %v\n%s", p.name, p.err, p.output())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not listen on %s: %w\n%s", p.name, addr, ctx.Err(), p.output())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

var errNoPort = errors.New("no port announced")

func atoiPort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > 65535 {
		return 0, errNoPort
	}
	return n, nil
}
