package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"phonebill/functions/internal/faults"
	"phonebill/shared/config"
	"phonebill/shared/db"
	"phonebill/shared/db/migrate"
)

// system is what the run starts: a private PostgreSQL and Redis, the
// all-in-one binary (restarted between phases, killed in phase d) and the
// change-worker function binary.
type system struct {
	root, out string
	pg        *faults.Postgres
	redis     *faults.Redis
	dbURL     string
	aioBin    string
	workerBin string
	port      int
	base      string
	aio       *proc
	logN      int
}

// jwtSecret signs the run's tokens; the processes get it by environment.
const jwtSecret = "fault-bench-secret-0123456789abcdef-0123"

func startSystem(ctx context.Context, root, out string) (*system, error) {
	s := &system{root: root, out: out}
	var err error
	logf("building the all-in-one and the change-worker function")
	s.aioBin = filepath.Join(out, "phonebill")
	s.workerBin = filepath.Join(out, "product-change-worker")
	for bin, pkg := range map[string]string{s.aioBin: "./functions/phonebill", s.workerBin: "./functions/product/worker"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
		}
	}
	logf("starting a private PostgreSQL and Redis")
	if s.pg, err = faults.StartPostgres(); err != nil {
		return nil, err
	}
	if s.redis, err = faults.StartRedis(); err != nil {
		s.close()
		return nil, err
	}
	s.dbURL = s.pg.URL("phonebill")
	mctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := migrate.EnsureDatabase(mctx, s.dbURL); err != nil {
		s.close()
		return nil, err
	}
	pool, err := db.Open(mctx, config.DB{URL: s.dbURL, MaxConns: 2})
	if err != nil {
		s.close()
		return nil, err
	}
	defer pool.Close()
	if err := migrate.Up(mctx, pool, true); err != nil {
		s.close()
		return nil, err
	}
	if s.port, err = faults.FreePort(); err != nil {
		s.close()
		return nil, err
	}
	s.base = fmt.Sprintf("http://127.0.0.1:%d", s.port)
	return s, nil
}

// env is the all-in-one's environment: the private stores, KOS-Mock served
// by itself, a 2 s relay ticker and a 5 s PENDING re-send age (so phase d
// settles in seconds), plus the phase's KOS-Mock knobs.
func (s *system) env(port int, extra map[string]string) []string {
	vars := map[string]string{
		"LISTEN_ADDRESS":                 fmt.Sprintf("127.0.0.1:%d", port),
		"DATABASE_URL":                   s.dbURL,
		"DB_MAX_CONNS":                   "8",
		"REDIS_ADDR":                     s.redis.Addr,
		"JWT_SECRET":                     jwtSecret,
		"KOS_BASE_URL":                   s.base,
		"LOCAL_SCHEDULE_SECONDS":         "2",
		"PRODUCT_PENDING_RESEND_SECONDS": "5",
		"LOG_LEVEL":                      "info",
		"TZ":                             "Asia/Seoul",
		"PATH":                           os.Getenv("PATH"),
	}
	for k, v := range extra {
		vars[k] = v
	}
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	return out
}

// startAIO starts the all-in-one with the phase's settings and waits until
// it is ready.
func (s *system) startAIO(ctx context.Context, name string, extra map[string]string) error {
	s.logN++
	p, err := startProc(name, s.aioBin, s.env(s.port, extra), filepath.Join(s.out, fmt.Sprintf("aio-%d-%s.log", s.logN, name)))
	if err != nil {
		return err
	}
	s.aio = p
	p.extra = extra
	return waitReady(ctx, s.base+"/health/readiness", 30*time.Second)
}

// restartAIO starts the all-in-one again with the same settings (after a
// kill).
func (s *system) restartAIO(ctx context.Context, name string) error {
	return s.startAIO(ctx, name, s.aio.extra)
}

// startWorker starts the change-worker function (events at POST /), with no
// K_SINK: its product.changed events stay in the outbox for the relay.
func (s *system) startWorker(ctx context.Context) (*proc, string, error) {
	port, err := faults.FreePort()
	if err != nil {
		return nil, "", err
	}
	p, err := startProc("worker", s.workerBin, s.env(port, map[string]string{"K_SINK": ""}),
		filepath.Join(s.out, "worker.log"))
	if err != nil {
		return nil, "", err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitReady(ctx, base+"/health/readiness", 30*time.Second); err != nil {
		p.stop(5 * time.Second)
		return nil, "", err
	}
	return p, base, nil
}

func (s *system) close() {
	if s.aio != nil {
		s.aio.stop(10 * time.Second)
	}
	if s.redis != nil {
		s.redis.Stop()
	}
	if s.pg != nil {
		s.pg.Close()
	}
}

// proc is a child process this program started and must stop.
type proc struct {
	name  string
	cmd   *exec.Cmd
	done  chan struct{}
	err   error
	extra map[string]string
}

func startProc(name, bin string, env []string, logPath string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child keeps its own descriptor
	cmd := exec.Command(bin)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// stop sends SIGTERM and waits up to grace, then kills; it returns the
// process's exit error (nil for status 0).
func (p *proc) stop(grace time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return errors.New("killed after the grace period")
	}
}

// kill is kill -9: no drain, no deferred work.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func waitReady(ctx context.Context, url string, within time.Duration) error {
	end := time.Now().Add(within)
	c := &http.Client{Timeout: time.Second}
	for {
		res, err := c.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(end) || ctx.Err() != nil {
			return fmt.Errorf("%s not ready after %s: %v", url, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
