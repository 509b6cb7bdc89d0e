package faults

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"phonebill/shared/cache"
	"phonebill/shared/config"
	"phonebill/shared/db"
	"phonebill/shared/httpx"
)

// echoServer answers every line it reads with the same bytes.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(addr string, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("ping")); err != nil {
		return 0, err
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// The proxy forwards, adds latency, black-holes, refuses and comes back on
// the same address.
func TestProxyFaults(t *testing.T) {
	t.Parallel()
	p, err := NewProxy("echo", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if _, err := roundTrip(p.Addr, time.Second); err != nil {
		t.Fatalf("healthy: %v", err)
	}
	if err := p.Latency(300 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d, err := roundTrip(p.Addr, 2*time.Second); err != nil || d < 300*time.Millisecond {
		t.Fatalf("latency: %v %v", d, err)
	}
	p.Heal()
	if err := p.Blackhole(); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(p.Addr, 300*time.Millisecond); err == nil {
		t.Fatal("an answer through the black hole")
	}
	p.Heal()
	p.Cut()
	if _, err := roundTrip(p.Addr, 300*time.Millisecond); err == nil {
		t.Fatal("an answer through a cut proxy")
	}
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(p.Addr, time.Second); err != nil {
		t.Fatalf("restored: %v", err)
	}
}

// A private redis-server stopped is a cache miss, and started again is
// empty and usable; a private PostgreSQL restarted in immediate mode
// answers 503 while down and the same pool works once it is back (the
// real-restart version of the fault run's phase c).
func TestPrivateStoresRestart(t *testing.T) {
	t.Parallel()
	r := RedisFor(t)
	c := cache.New(config.Redis{Addr: r.Addr, KeyPrefix: "t:"}, nil)
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	c.Set(ctx, "k", 1, time.Minute)
	if !c.Get(ctx, "k", new(int)) {
		t.Fatal("no value in a running Redis")
	}
	r.Stop()
	if c.Get(ctx, "k", new(int)) {
		t.Fatal("a value from a stopped Redis")
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	// The client skips Redis for a short cool-down after the failure.
	for deadline := time.Now().Add(3 * time.Second); c.Down() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if c.Get(ctx, "k", new(int)) {
		t.Fatal("a restarted Redis kept data (no persistence expected)")
	}
	c.Set(ctx, "k", 2, time.Minute)
	if !c.Get(ctx, "k", new(int)) {
		t.Fatal("the client did not reconnect")
	}

	pg := PostgresFor(t)
	pool, err := db.Open(ctx, config.DB{URL: pg.URL("postgres"), MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var one int
	if err := pool.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		t.Fatal(err)
	}
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	err = db.Wrap("select", pool.QueryRow(ctx, `SELECT 1`).Scan(&one))
	if e := httpx.AsError(err); err == nil || e.Status() != 503 {
		t.Fatalf("while stopped: %v (%d), want 503", err, e.Status())
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	// At most one failure per stale pooled connection, then it works.
	for i := 0; ; i++ {
		err := pool.QueryRow(ctx, `SELECT 1`).Scan(&one)
		if err == nil {
			break
		}
		if i == 2 {
			t.Fatalf("after the restart: %v", err)
		}
	}
}
