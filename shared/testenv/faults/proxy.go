package faults

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy in front of one upstream (PostgreSQL, Redis, KOS).
// Clients connect to Addr; the proxy's faults apply to every connection,
// open or new.
type Proxy struct {
	Addr     string
	name     string
	upstream string

	mu        sync.Mutex
	ln        net.Listener // nil while cut
	conns     map[net.Conn]struct{}
	latency   time.Duration
	blackhole bool
}

// NewProxy starts a proxy on a free loopback port forwarding to upstream.
func NewProxy(name, upstream string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faults: proxy %s: %w", name, err)
	}
	p := &Proxy{Addr: ln.Addr().String(), name: name, upstream: upstream, conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	return p, nil
}

// StartProxy is NewProxy for a test: it fails the test on error and closes
// the proxy when the test ends.
func StartProxy(t testing.TB, name, upstream string) *Proxy {
	t.Helper()
	p, err := NewProxy(name, upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// Cut closes every proxied connection and refuses new ones (connection
// refused), as a stopped server or a dropped network would.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Restore accepts connections again on the same address.
func (p *Proxy) Restore() error {
	p.mu.Lock()
	up := p.ln != nil
	p.mu.Unlock()
	if up {
		return nil
	}
	ln, err := net.Listen("tcp", p.Addr)
	if err != nil {
		return fmt.Errorf("faults: restore proxy %s: %w", p.name, err)
	}
	p.serve(ln)
	return nil
}

// Latency delays the upstream's answers by d (downstream direction).
func (p *Proxy) Latency(d time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency = d
	return nil
}

// Blackhole keeps connections open (and accepts new ones) but lets no byte
// through in either direction: the upstream seems to hang. What is sent
// meanwhile is dropped.
func (p *Proxy) Blackhole() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blackhole = true
	return nil
}

// Heal removes every fault but a cut (latency, black hole); a cut stays cut.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency, p.blackhole = 0, false
}

// Close stops the proxy for good.
func (p *Proxy) Close() { p.Cut() }

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by Cut
			}
			go p.forward(ln, c)
		}
	}()
}

// forward pipes one client connection to a new upstream connection until
// either side closes or the proxy is cut.
func (p *Proxy) forward(ln net.Listener, c net.Conn) {
	up, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln != ln { // cut since the accept
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { p.pipe(up, c, false); done <- struct{}{} }()
	go func() { p.pipe(c, up, true); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// chunk is bytes read from one side, to be written to the other at due.
type chunk struct {
	b   []byte
	due time.Time
}

// pipe copies src to dst, dropping what it reads while black-holed and, in
// the downstream direction, delivering each read no earlier than the
// latency after it arrived (in order, without holding the next read back).
func (p *Proxy) pipe(dst, src net.Conn, downstream bool) {
	q := make(chan chunk, 64)
	go func() {
		defer close(q)
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.mu.Lock()
				hole, lat := p.blackhole, p.latency
				p.mu.Unlock()
				if !hole {
					if !downstream {
						lat = 0
					}
					q <- chunk{b: append([]byte(nil), buf[:n]...), due: time.Now().Add(lat)}
				}
			}
			if err != nil {
				return
			}
		}
	}()
	for ch := range q {
		time.Sleep(time.Until(ch.due))
		if _, err := dst.Write(ch.b); err != nil {
			break
		}
	}
	// Unblock the reader (the caller closes both connections) and drain it.
	src.Close()
	for range q {
	}
}
