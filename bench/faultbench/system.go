package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"phonebill/bench/internal/proc"
	"phonebill/shared/db/migrate"
	"phonebill/shared/testenv"
	"phonebill/shared/testenv/faults"
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
	aio       *proc.Proc
	aioExtra  map[string]string // the running all-in-one's phase settings
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
	if err := migrate.Prepare(mctx, s.dbURL); err != nil {
		s.close()
		return nil, err
	}
	if s.port, err = testenv.FreePort(); err != nil {
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
	p, err := proc.Start(name, s.aioBin, s.env(s.port, extra), filepath.Join(s.out, fmt.Sprintf("aio-%d-%s.log", s.logN, name)))
	if err != nil {
		return err
	}
	s.aio, s.aioExtra = p, extra
	return waitReady(ctx, s.base+"/health/readiness")
}

// restartAIO starts the all-in-one again with the same settings (after a
// kill).
func (s *system) restartAIO(ctx context.Context, name string) error {
	return s.startAIO(ctx, name, s.aioExtra)
}

// startWorker starts the change-worker function (events at POST /), with no
// K_SINK: its product.changed events stay in the outbox for the relay.
func (s *system) startWorker(ctx context.Context) (*proc.Proc, string, error) {
	port, err := testenv.FreePort()
	if err != nil {
		return nil, "", err
	}
	p, err := proc.Start("worker", s.workerBin, s.env(port, map[string]string{"K_SINK": ""}),
		filepath.Join(s.out, "worker.log"))
	if err != nil {
		return nil, "", err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitReady(ctx, base+"/health/readiness"); err != nil {
		_, _ = p.Stop(5 * time.Second)
		return nil, "", err
	}
	return p, base, nil
}

func (s *system) close() {
	if s.aio != nil {
		_, _ = s.aio.Stop(10 * time.Second)
	}
	if s.redis != nil {
		s.redis.Stop()
	}
	if s.pg != nil {
		s.pg.Close()
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// waitReady waits up to 30 s for url to answer 200.
func waitReady(ctx context.Context, url string) error {
	_, err := proc.WaitReady(ctx, nil, &http.Client{Timeout: time.Second}, url, time.Now(), 30*time.Second, 20*time.Millisecond)
	return err
}
