package product

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"phonebill/shared/events"
	"phonebill/shared/testenv/faults"
)

// A two-minute KOS outage: the change goes PENDING, the worker meets the
// outage on the first delivery and on the sweep's re-emission a minute later
// and a minute after that, answering 202 each time (the sweep drives the
// change again, so the broker neither retries nor dead-letters it); once KOS
// is back the next sweep completes it. dead_letters stays empty; a
// malformed event still lands there.
func TestKOSOutageLeavesNoDeadLetters(t *testing.T) {
	t.Parallel()
	var px *faults.Proxy
	r := newRig(t, rigOptions{
		kos: kosThroughProxy(t, &px, 300),
		cfg: func(c *Config) { c.Deadline = 800 * time.Millisecond },
	})
	ctx := context.Background()
	tok := r.token(t, "testuser01")
	// The pre-checks read the caches; warm them while KOS answers.
	r.do(t, "GET", "/api/v1/products/customer?lineNumber="+line01, tok, nil).want(t, 200, "")
	r.do(t, "GET", "/api/v1/products/available?currentProductCode=5G-STANDARD-001", tok, nil).want(t, 200, "")

	px.Cut()
	unknown := func() float64 { return testutil.ToFloat64(r.p.metrics.worker.WithLabelValues("unknown")) }
	res, cr := r.change(t, tok, upgrade)
	assertPending(t, res, cr)
	waitFor(t, 10*time.Second, "the worker to meet the outage", func() bool { return unknown() >= 1 })
	for minute := 1; minute <= 2; minute++ {
		// The worker's delivery must be over (its row lock released) before
		// the sweep looks, or the sweep skips the locked row.
		r.h.Broker.Wait(ctx)
		seen := unknown()
		r.clock.Advance(r.cfg.ResendAfter + time.Second)
		rep, err := r.p.RunRelay(ctx)
		if err != nil || rep.Reemitted != 1 {
			t.Fatalf("sweep at minute %d: %+v %v", minute, rep, err)
		}
		waitFor(t, 10*time.Second, "the re-emitted change at the worker", func() bool { return unknown() > seen })
	}
	r.h.Broker.Wait(ctx)
	if err := px.Restore(); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(r.cfg.ResendAfter + time.Second)
	if rep, err := r.p.RunRelay(ctx); err != nil || rep.Reemitted != 1 {
		t.Fatalf("sweep after the outage: %+v %v", rep, err)
	}
	r.waitStatus(t, tok, cr.RequestID, "COMPLETED", 10*time.Second)
	r.h.Broker.Wait(ctx)
	if n := r.count(t, `SELECT count(*) FROM product_change.dead_letters`); n != 0 {
		t.Fatalf("%d dead letters after a two-minute KOS outage, want 0", n)
	}

	// A malformed event is poison: the only kind that reaches the sink.
	bad, err := events.New("evt-malformed", events.TypeProductChangeRequested, EventSource, "x", map[string]string{"requestId": "not-a-uuid"})
	if err != nil {
		t.Fatal(err)
	}
	if err := events.NewSender(r.h.Env.EventSink, r.h.Env.EventClient).Send(ctx, bad); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the malformed event in dead_letters", func() bool {
		return r.count(t, `SELECT count(*) FROM product_change.dead_letters`) == 1
	})
}
