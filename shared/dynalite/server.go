package dynalite

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// readyTimeout bounds how long Start waits for a fresh dynalite to answer.
// Node starts in well under a second here; the margin is for loaded CI
// machines.
const readyTimeout = 15 * time.Second

// stopGrace is how long Stop lets dynalite exit on SIGTERM before it kills
// the process group outright.
const stopGrace = 5 * time.Second

// listeningBanner is what dynalite prints once its socket is bound.
const listeningBanner = "Dynalite listening at:"

// portAttempts bounds retries when the port picked for dynalite is taken
// by someone else between picking and binding.
const portAttempts = 3

// tableStateDelay replaces dynalite's default 500 ms in the CREATING,
// UPDATING and DELETING states: callers still see the transition (and must
// wait for ACTIVE, as on AWS) without paying half a second per table.
const tableStateDelay = "20"

// Server is a dynalite process on a free loopback port.
type Server struct {
	// Endpoint is the DynamoDB endpoint URL, http://127.0.0.1:PORT.
	Endpoint string

	cmd     *exec.Cmd
	output  *tailBuffer
	exited  chan struct{} // closed once the process has been reaped
	waitErr error         // set before exited is closed

	stopOnce sync.Once
	stopErr  error
}

// errExitedEarly marks a dynalite that exited before it answered.
var errExitedEarly = errors.New("dynalite exited before it was ready")

// Start launches dynalite (in memory if dir == "", else persisted under
// dir), waits until it answers a DynamoDB call, and returns it. ctx
// bounds only the wait: the process lives until Stop or until this process
// exits.
func Start(ctx context.Context, dir string) (*Server, error) {
	cli, err := locateCLI()
	if err != nil {
		return nil, err
	}
	node, err := locateNode()
	if err != nil {
		return nil, err
	}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("dynalite: creating data directory: %w", err)
		}
	}
	var lastErr error
	for range portAttempts {
		port, err := freeLoopbackPort()
		if err != nil {
			return nil, err
		}
		s, err := launch(node, cli, port, dir)
		if err != nil {
			return nil, err
		}
		err = s.waitReady(ctx, port)
		if err == nil {
			return s, nil
		}
		_ = s.Stop()
		lastErr = err
		if !errors.Is(err, errExitedEarly) || !strings.Contains(s.output.String(), "EADDRINUSE") {
			break
		}
	}
	return nil, lastErr
}

// launch starts the process without waiting for it to be ready.
func launch(node, cli string, port int, dir string) (*Server, error) {
	args := []string{cli,
		"--host", "127.0.0.1",
		"--port", strconv.Itoa(port),
		"--createTableMs", tableStateDelay,
		"--updateTableMs", tableStateDelay,
		"--deleteTableMs", tableStateDelay,
	}
	if dir != "" {
		args = append(args, "--path", dir)
	}
	cmd := exec.Command(node, args...) // #nosec G204 -- node and dynalite as located on the operator's machine; fixed arguments
	out := &tailBuffer{}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = childProcAttr()

	s := &Server{
		Endpoint: "http://127.0.0.1:" + strconv.Itoa(port),
		cmd:      cmd,
		output:   out,
		exited:   make(chan struct{}),
	}
	started := make(chan error, 1)
	go func() {
		// On Linux the parent-death signal fires when the thread that
		// started the child exits, not the process. Pinning this goroutine
		// to its thread for the child's whole life keeps the Go scheduler
		// from retiring that thread under a still-running dynalite.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("dynalite: starting %s: %w", node, err)
	}
	return s, nil
}

// waitReady polls until dynalite accepts TCP connections and answers
// a DynamoDB call, it exits, ctx ends or readyTimeout passes.
func (s *Server) waitReady(ctx context.Context, port int) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("dynalite: %w (%v); its output: %s", errExitedEarly, s.waitErr, s.output.String())
		case <-ctx.Done():
			return fmt.Errorf("dynalite: not answering at %s after waiting (%w); last error: %v; its output: %s",
				s.Endpoint, context.Cause(ctx), lastErr, s.output.String())
		case <-tick.C:
		}
		// Until our child says it is listening, whatever answers on the
		// port is someone else who took it between freeLoopbackPort and
		// the child's bind (our child then fails with EADDRINUSE).
		if !s.output.listening() {
			lastErr = errors.New("dynalite has not reported listening yet")
			continue
		}
		if lastErr = probe(ctx, addr, s.Endpoint); lastErr == nil {
			return nil
		}
	}
}

// Stop ends the process group: SIGTERM, then SIGKILL after stopGrace. It
// is safe to call more than once and from several goroutines.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Server) stop() error {
	select {
	case <-s.exited:
		return nil
	default:
	}
	// A negative pid addresses the whole process group (Setpgid made the
	// child its leader), so anything dynalite spawned goes too.
	pgid := -s.cmd.Process.Pid
	if err := syscall.Kill(pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("dynalite: signalling process group %d: %w", -pgid, err)
	}
	select {
	case <-s.exited:
		return nil
	case <-time.After(stopGrace):
	}
	if err := syscall.Kill(pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("dynalite: killing process group %d: %w", -pgid, err)
	}
	<-s.exited
	return nil
}

// freeLoopbackPort asks the kernel for a free port. dynalite cannot be
// told to pick one itself (it treats --port 0 as "use the default"), so a
// small race remains; Start retries when it loses it.
func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("dynalite: finding a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last few KiB of the child's output for error
// messages, and remembers whether the start banner went by. dynalite runs
// without --verbose, so it prints only its start line and failures, never
// item contents.
type tailBuffer struct {
	mu        sync.Mutex
	buf       []byte
	sawBanner bool
}

const tailLimit = 4 << 10

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if !b.sawBanner && strings.Contains(string(b.buf), listeningBanner) {
		b.sawBanner = true
	}
	if over := len(b.buf) - tailLimit; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

// listening reports whether the child has printed its start banner.
func (b *tailBuffer) listening() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sawBanner
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf) == 0 {
		return "(none)"
	}
	return strings.TrimSpace(string(b.buf))
}
