package product

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"phonebill/shared/events"
	"phonebill/shared/fn"
	"phonebill/shared/testenv/faults"
)

// sweepConfig shrinks a sweep link to fit a test.
func sweepConfig(c *Config) {
	c.Deadline = 800 * time.Millisecond
	c.SweepHold, c.SweepTick = 400*time.Millisecond, 50*time.Millisecond
	c.ResendAfter = 300 * time.Millisecond
}

// leaseHolder reads who holds the sweep lease ("" when free or expired).
func leaseHolder(t *testing.T, r *rig) string {
	t.Helper()
	var holder string
	if err := r.h.Pool.QueryRow(context.Background(), `SELECT CASE WHEN expires_at >= clock_timestamp()
		THEN holder ELSE '' END FROM product_change.sweep_lease WHERE name = $1`, sweepLease).Scan(&holder); err != nil {
		t.Fatal(err)
	}
	return holder
}

// With no ping and no hand-driven relay run: a change that goes PENDING in
// a KOS outage starts a sweep from the worker's deferral; the chain hands
// itself on, re-emits the change while KOS is away, completes it once KOS
// is back, lets go of its lease and stops — the relay is idle again, and
// nothing was dead-lettered.
func TestSweepChainFinishesAPendingChangeAndStops(t *testing.T) {
	t.Parallel()
	var px *faults.Proxy
	r := newRig(t, rigOptions{
		kos: kosThroughProxy(t, &px, 200),
		cfg: sweepConfig,
	})
	sweeps := &probe{}
	r.h.Broker.Subscribe([]fn.BoundRoute{{Route: fn.Route{Name: "probe-sweep", EventType: events.TypeProductSweepRequested},
		Handler: sweeps}})
	tok := r.token(t, "testuser01")
	r.do(t, "GET", "/api/v1/products/customer?lineNumber="+line01, tok, nil).want(t, 200, "")
	r.do(t, "GET", "/api/v1/products/available?currentProductCode=5G-STANDARD-001", tok, nil).want(t, 200, "")

	px.Cut()
	unknown := func() float64 { return testutil.ToFloat64(r.p.metrics.worker.WithLabelValues("unknown")) }
	res, cr := r.change(t, tok, upgrade)
	assertPending(t, res, cr)
	waitFor(t, 10*time.Second, "a sweep to hold the lease", func() bool { return leaseHolder(t, r) != "" })
	chain := leaseHolder(t, r)
	// The chain, not a test, re-emits the change to the worker again and
	// again, and hands itself on with the same chain.
	waitFor(t, 10*time.Second, "the sweep's re-emissions at the worker", func() bool { return unknown() >= 3 })
	waitFor(t, 10*time.Second, "a hand-on to the next link", func() bool {
		n := 0
		for _, e := range sweeps.of(events.TypeProductSweepRequested) {
			if e.Subject() == chain {
				n++
			}
		}
		return n >= 2
	})
	if err := px.Restore(); err != nil {
		t.Fatal(err)
	}
	r.waitStatus(t, tok, cr.RequestID, "COMPLETED", 10*time.Second)
	waitFor(t, 10*time.Second, "the lease to be let go", func() bool { return leaseHolder(t, r) == "" })
	r.h.Broker.Wait(context.Background())
	links := len(sweeps.of(events.TypeProductSweepRequested))
	time.Sleep(3 * r.cfg.SweepHold)
	if n := len(sweeps.of(events.TypeProductSweepRequested)); n != links {
		t.Fatalf("the chain went on with nothing to sweep: %d links, then %d", links, n)
	}
	if n := r.count(t, `SELECT count(*) FROM product_change.outbox WHERE published_at IS NULL`); n != 0 {
		t.Fatalf("%d outbox rows left unpublished after the chain", n)
	}
	if n := r.count(t, `SELECT count(*) FROM product_change.dead_letters`); n != 0 {
		t.Fatalf("%d dead letters, want 0", n)
	}
}

// switchSender records every event and refuses all but sweep requests
// while down (the Broker away for the outbox's events).
type switchSender struct {
	down atomic.Bool
	mu   sync.Mutex
	sent []event.Event
}

func (s *switchSender) Send(_ context.Context, e event.Event) error {
	if s.down.Load() && e.Type() != events.TypeProductSweepRequested {
		return errSinkDown
	}
	s.mu.Lock()
	s.sent = append(s.sent, e)
	s.mu.Unlock()
	return nil
}

func (s *switchSender) sweeps() []event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []event.Event
	for _, e := range s.sent {
		if e.Type() == events.TypeProductSweepRequested {
			out = append(out, e)
		}
	}
	return out
}

// One sweep at a time, and none with nothing to do: StartSweep sends no
// request while nothing is left or while a chain holds the lease; a second
// chain returns at once; a link hands on to its own chain while work is
// left; the link that finds nothing left frees the lease. A poison sweep
// event is refused as such.
func TestOneSweepAtATimeAndNoneWhenIdle(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{cfg: sweepConfig, deps: closedSink})
	ctx := context.Background()
	sender := &switchSender{}
	sender.down.Store(true)
	p := newService(Deps{Pool: r.h.Pool, Cache: r.h.Cache, Log: r.h.Log, Events: sender}, r.cfg, nil)

	p.StartSweep(ctx)
	if n := len(sender.sweeps()); n != 0 {
		t.Fatalf("idle system: %d sweep requests, want 0", n)
	}
	// Work: a completed change whose product.changed the Broker refused.
	_, cr := r.change(t, r.token(t, "testuser01"), upgrade)
	if cr.ProcessStatus != "COMPLETED" {
		t.Fatalf("change %+v", cr)
	}
	p.StartSweep(ctx)
	first := sender.sweeps()
	if len(first) != 1 {
		t.Fatalf("%d sweep requests with work left, want 1", len(first))
	}
	chain := first[0].Subject()

	done := make(chan RelayReport)
	go func() {
		rep, err := p.Sweep(ctx, first[0])
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	waitFor(t, 5*time.Second, "the chain to hold the lease", func() bool { return leaseHolder(t, r) == chain })
	p.StartSweep(ctx)
	other, err := events.New("other", events.TypeProductSweepRequested, EventSource, "other", SweepData{Chain: "other-chain"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if rep, err := p.Sweep(ctx, other); err != nil || rep != (RelayReport{}) || time.Since(start) > r.cfg.SweepHold {
		t.Fatalf("a second chain while one runs: %+v %v after %v", rep, err, time.Since(start))
	}
	rep := <-done
	next := sender.sweeps()
	if len(next) != 2 || next[1].Subject() != chain || rep.Failed < 2 {
		t.Fatalf("after a link with work left: %d requests (%v), report %+v; want the chain handed on", len(next), next, rep)
	}
	if leaseHolder(t, r) != chain {
		t.Fatal("the lease lapsed between links")
	}

	sender.down.Store(false)
	start = time.Now()
	rep, err = p.Sweep(ctx, next[1])
	if err != nil || rep.Published != 1 || time.Since(start) > r.cfg.SweepHold {
		t.Fatalf("last link: %+v %v after %v", rep, err, time.Since(start))
	}
	if h := leaseHolder(t, r); h != "" || len(sender.sweeps()) != 2 {
		t.Fatalf("after the last link: lease %q, %d requests", h, len(sender.sweeps()))
	}

	bad, err := events.New("bad", events.TypeProductSweepRequested, EventSource, "", map[string]int{"chain": 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Sweep(ctx, bad); !isPoison(err) {
		t.Fatalf("malformed sweep event: %v, want poison", err)
	}
}
