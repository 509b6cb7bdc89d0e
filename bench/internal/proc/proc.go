// Package proc supervises the server processes the load and fault runs
// start: each with exactly its configured environment (as a container gets),
// its output in a log file, stopped with SIGTERM as Knative stops a pod, and
// killed with the run if the run dies first.
package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Proc is a server process this program started (and must stop).
type Proc struct {
	Name    string
	LogPath string // where its output goes ("" for nowhere)
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
}

// ErrKilled is Stop's error when the process outlived the grace period.
var ErrKilled = errors.New("killed after the grace period")

// Start execs bin with exactly env (nothing inherited), its output to
// logPath (none when empty). The process dies with this one (Pdeathsig).
func Start(name, bin string, env []string, logPath string) (*Proc, error) {
	cmd := exec.Command(bin)
	cmd.Env = env
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = f, f
		defer f.Close() // the child keeps its own descriptor
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM (a graceful drain, as Knative does) and SIGKILL after
// grace. It returns how long the stop took and the exit error: nil for
// status 0, ErrKilled when grace ran out.
func (p *Proc) Stop(grace time.Duration) (time.Duration, error) {
	start := time.Now()
	if p.Exited() {
		return 0, p.err
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return time.Since(start), p.err
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return time.Since(start), ErrKilled
	}
}

// Kill is kill -9: no drain, no deferred work.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// WaitReady polls url every poll until it answers 200, p (if not nil) exits
// or timeout passes since start; it returns the time since start.
func WaitReady(ctx context.Context, p *Proc, client *http.Client, url string, start time.Time, timeout, poll time.Duration) (time.Duration, error) {
	deadline := start.Add(timeout)
	for {
		if p != nil && p.Exited() {
			return 0, fmt.Errorf("%s exited before ready: %v", p.Name, p.err)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		res, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s not ready after %v (last error %v)", url, timeout, err)
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		time.Sleep(poll)
	}
}
