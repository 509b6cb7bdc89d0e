package db_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"

	"phonebill/shared/config"
	"phonebill/shared/db"
	"phonebill/shared/db/dbtest"
	"phonebill/shared/httpx"
)

// cutter forwards TCP connections to upstream until Cut closes them all
// without a word, as a dropped network or a killed server would.
type cutter struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newCutter(t *testing.T, upstream string) *cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln}
	t.Cleanup(func() { ln.Close(); c.Cut() })
	go func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				down.Close()
				continue
			}
			c.mu.Lock()
			c.conns = append(c.conns, down, up)
			c.mu.Unlock()
			go func() { _, _ = io.Copy(up, down); up.Close() }()
			go func() { _, _ = io.Copy(down, up); down.Close() }()
		}
	}()
	return c
}

// Cut closes every forwarded connection.
func (c *cutter) Cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cn := range c.conns {
		cn.Close()
	}
	c.conns = nil
}

// A pooled connection that dies under a query (the server or the network
// went away: the driver reads an unexpected EOF) is "unavailable" (503),
// not an internal error.
func TestBrokenConnectionIsUnavailable(t *testing.T) {
	t.Parallel()
	dbURL, _ := dbtest.NewWithURL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cut := newCutter(t, u.Host)
	u.Host = cut.ln.Addr().String()
	pool, err := db.Open(context.Background(), config.DB{URL: u.String(), MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var one int
	if err := pool.QueryRow(context.Background(), `SELECT 1`).Scan(&one); err != nil {
		t.Fatal(err)
	}
	cut.Cut()
	err = db.Wrap("select", pool.QueryRow(context.Background(), `SELECT 1`).Scan(&one))
	if e := httpx.AsError(err); err == nil || e.Status() != 503 {
		t.Fatalf("query on a cut connection: %v → %d, want 503", err, e.Status())
	}
	// The pool replaces the dead connection: the next query works.
	if err := pool.QueryRow(context.Background(), `SELECT 1`).Scan(&one); err != nil {
		t.Fatalf("after the cut: %v", err)
	}
}
