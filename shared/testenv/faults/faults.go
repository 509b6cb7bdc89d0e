// Package faults gives fault tests and the fault benchmark dependencies they
// may break: a private redis-server and a private PostgreSQL (initdb into a
// temporary folder) on free loopback ports, and in-process TCP proxies that
// add latency, black-hole or cut a connection. The
// machine's shared PostgreSQL and Redis are never stopped, restarted or
// flushed: a proxy in front of them only cuts this process's connections.
package faults

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"phonebill/shared/testenv"
)

// WaitTCP waits until addr accepts connections or within passes.
func WaitTCP(addr string, within time.Duration) error {
	end := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("faults: %s not reachable after %s: %w", addr, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Redis is a private redis-server without persistence on a free port.
type Redis struct {
	Addr string
	port int
	mu   sync.Mutex
	cmd  *exec.Cmd
}

// StartRedis starts redis-server (it must be on PATH).
func StartRedis() (*Redis, error) {
	port, err := testenv.FreePort()
	if err != nil {
		return nil, err
	}
	r := &Redis{Addr: fmt.Sprintf("127.0.0.1:%d", port), port: port}
	return r, r.Start()
}

// RedisFor is StartRedis for a test: without redis-server on PATH the test
// is skipped (failed under CI=true); the server is stopped when the test ends.
func RedisFor(t testing.TB) *Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		testenv.Missing(t, "redis-server not on PATH")
	}
	r, err := StartRedis()
	t.Cleanup(r.Stop)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Start (re)starts the server on its port, empty.
func (r *Redis) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return nil
	}
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no")
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("faults: redis-server: %w", err)
	}
	r.cmd = cmd
	return WaitTCP(r.Addr, 10*time.Second)
}

// Stop kills the server (its data is gone: no persistence).
func (r *Redis) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Postgres is a private PostgreSQL cluster in a temporary folder. As root
// it runs as the "postgres" OS user, since PostgreSQL refuses root.
type Postgres struct {
	Port   int
	dir    string
	bin    string
	prefix []string
}

// PGBinDir holds initdb and pg_ctl (PG_BIN_DIR overrides).
func PGBinDir() string {
	if d := os.Getenv("PG_BIN_DIR"); d != "" {
		return d
	}
	return "/usr/lib/postgresql/15/bin"
}

// ErrNoPostgres means no private PostgreSQL can be had here: initdb/pg_ctl
// are not installed, or this runs as root without a postgres user (tests
// skip, or fail under CI=true).
var ErrNoPostgres = errors.New("faults: no private PostgreSQL")

// StartPostgres initialises and starts a cluster (user postgres, trust auth,
// fsync off: it is thrown away).
func StartPostgres() (*Postgres, error) {
	bin := PGBinDir()
	for _, b := range []string{"initdb", "pg_ctl"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return nil, fmt.Errorf("%w: %s not found (set PG_BIN_DIR)", ErrNoPostgres, filepath.Join(bin, b))
		}
	}
	dir, err := os.MkdirTemp("", "pgfaults-")
	if err != nil {
		return nil, err
	}
	p := &Postgres{dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("%w: running as root and there is no postgres user (%v)", ErrNoPostgres, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		p.prefix = []string{"runuser", "-u", "postgres", "--"}
	}
	if p.Port, err = testenv.FreePort(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := p.run("initdb", "-D", p.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := p.Start(); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// PostgresFor is StartPostgres for a test: without the server binaries the
// test is skipped (failed under CI=true); the cluster is stopped and removed
// when the test ends.
func PostgresFor(t testing.TB) *Postgres {
	t.Helper()
	p, err := StartPostgres()
	if errors.Is(err, ErrNoPostgres) {
		testenv.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func (p *Postgres) data() string { return filepath.Join(p.dir, "data") }

// URL is a connection URL for database name.
func (p *Postgres) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable&timezone=Asia/Seoul", p.Port, name)
}

// Start starts the server and waits until it accepts connections.
func (p *Postgres) Start() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off "+
		"-c synchronous_commit=off -c max_connections=100", p.Port, p.dir)
	return p.run("pg_ctl", "-D", p.data(), "-o", opts, "-l", filepath.Join(p.dir, "log"), "-w", "-t", "60", "start")
}

// Stop stops the server at once (open connections are terminated, as in a
// crash or a failover; committed data survives).
func (p *Postgres) Stop() error {
	return p.run("pg_ctl", "-D", p.data(), "-m", "immediate", "-w", "-t", "60", "stop")
}

// Close stops the server and removes its folder.
func (p *Postgres) Close() {
	_ = p.Stop()
	_ = os.RemoveAll(p.dir)
}

func (p *Postgres) run(name string, args ...string) error {
	argv := append(append(append([]string{}, p.prefix...), filepath.Join(p.bin, name)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("faults: %s: %w\n%s", name, err, out.String())
	}
	return nil
}
