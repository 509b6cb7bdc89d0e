package product

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"phonebill/shared/config"
	"phonebill/shared/events"
)

// assertPending checks the PENDING answer of SPEC §5.4 6a.
func assertPending(t *testing.T, res response, cr ChangeResult) {
	t.Helper()
	const msg = "상품 변경 요청이 접수되어 처리 중입니다. 잠시 후 현재 요금제를 다시 확인해주세요"
	if !res.Env.Success || res.Env.ResultCode != "KOS_PENDING" || res.Env.Message != msg ||
		cr.ProcessStatus != "PENDING" || cr.ResultCode != "KOS_PENDING" || cr.ResultMessage != msg ||
		cr.ChangedProduct != nil || !uuidV4.MatchString(cr.RequestID) {
		t.Fatalf("PENDING answer: %s", res.Raw)
	}
}

// assertSettled checks that a change that went PENDING ended COMPLETED
// through the event path with exactly one change at KOS.
func assertSettled(t *testing.T, r *rig, tok, requestID string) {
	t.Helper()
	st := r.waitStatus(t, tok, requestID, "COMPLETED", 10*time.Second)
	if st.ResultCode != "0000" || st.ResultMessage != "상품 변경이 완료되었습니다" || !localTime.MatchString(st.ProcessedAt) ||
		st.ChangedProduct == nil || st.ChangedProduct.ProductCode != upgrade.TargetProductCode {
		t.Fatalf("settled status %+v", st)
	}
	if n := r.kosChanges(t, requestID); n != 1 {
		t.Fatalf("KOS processed %d changes for %s, want exactly 1", n, requestID)
	}
	if p := r.kosProduct(t, line01); p != upgrade.TargetProductCode {
		t.Fatalf("KOS has %s", p)
	}
	if n := r.count(t, `SELECT count(*) FROM product_change.processed_events`); n != 1 {
		t.Fatalf("%d processed events", n)
	}
	if n := r.count(t, `SELECT count(*) FROM product_change.outbox WHERE type = $1 AND subject = $2`,
		events.TypeProductChanged, requestID); n != 1 {
		t.Fatalf("%d product.changed rows", n)
	}
	waitFor(t, 5*time.Second, "product.changed delivery", func() bool { return len(r.probe.of(events.TypeProductChanged)) == 1 })
	if n := r.count(t, `SELECT count(*) FROM product_change.pc_product_change_history
		WHERE request_id = $1 AND last_attempt_at IS NOT NULL`, requestID); n != 1 {
		t.Fatal("last_attempt_at not stamped")
	}
}

func TestPendingWhenBudgetIsSpent(t *testing.T) {
	t.Parallel()
	const budget = 1500 * time.Millisecond
	r := newRig(t, rigOptions{cfg: func(c *Config) { c.Deadline = budget }})
	tok := r.token(t, "testuser01")

	start := time.Now()
	res, cr := r.change(t, tok, upgrade, "X-Mock-Scenario", "error")
	elapsed := time.Since(start)
	assertPending(t, res, cr)
	// Re-sent with the same request id while the budget lasted, and answered
	// within it (2× as a bound that never flakes).
	if n := testutil.ToFloat64(r.p.metrics.kosAttempts.WithLabelValues("system_error")); n < 3 {
		t.Fatalf("%v attempts at KOS, want re-sends", n)
	}
	if elapsed < budget/3 || elapsed > 2*budget {
		t.Fatalf("PENDING after %s with a %s budget", elapsed, budget)
	}
	// The worker (no forced scenario) finishes it.
	assertSettled(t, r, tok, cr.RequestID)
	if len(r.probe.of(events.TypeProductChangeRequested)) != 1 {
		t.Fatal("change.requested not delivered once")
	}
}

func TestPendingWhenBreakerOpens(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{kos: func(k *config.KOS) { k.BreakerFailures = 2; k.BreakerOpenSeconds = 10 }})
	tok := r.token(t, "testuser01")
	start := time.Now()
	res, cr := r.change(t, tok, upgrade, "X-Mock-Scenario", "error")
	elapsed := time.Since(start)
	assertPending(t, res, cr)
	// PENDING as soon as the breaker opened, long before the 8 s budget.
	if elapsed > 3*time.Second {
		t.Fatalf("PENDING after %s", elapsed)
	}
	if n := testutil.ToFloat64(r.p.metrics.kosAttempts.WithLabelValues("system_error")); n != 2 {
		t.Fatalf("%v failed attempts before the breaker opened, want 2", n)
	}
	if n := testutil.ToFloat64(r.p.metrics.kosAttempts.WithLabelValues("breaker_open")); n != 1 {
		t.Fatalf("%v refused attempts, want 1", n)
	}
	// The worker is its own function with its own breaker: it finishes the
	// change while the request path's breaker is still open.
	assertSettled(t, r, tok, cr.RequestID)
	// The next change, pre-checked from the caches (warm them; KOS reads go
	// through the same open breaker), is not sent to KOS at all.
	if _, err := r.p.customer(context.Background(), line01); err == nil {
		t.Fatal("customer read through an open breaker")
	}
	r.h.Cache.Set(context.Background(), customerKey(line01), &Customer{CustomerID: "CUST001", LineNumber: line01,
		OperatorCode: "KT", LineStatus: "ACTIVE", CurrentProduct: &kosProduct{ProductCode: "5G-PREMIUM-001", OperatorCode: "KT"}}, time.Hour)
	res = r.do(t, "POST", "/api/v1/products/change", tok, ChangeRequest{LineNumber: line01,
		CurrentProductCode: "5G-PREMIUM-001", TargetProductCode: "LTE-BASIC-001"})
	var again ChangeResult
	res.data(t, &again)
	if again.ProcessStatus != "PENDING" {
		t.Fatalf("with the breaker open: %+v", again)
	}
	if n := testutil.ToFloat64(r.p.metrics.kosAttempts.WithLabelValues("breaker_open")); n != 2 {
		t.Fatalf("%v refused attempts, want 2", n)
	}
	r.waitStatus(t, tok, again.RequestID, "COMPLETED", 10*time.Second)
}

func TestWorkerKeepsPendingWhileKOSIsDown(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{cfg: func(c *Config) { c.Deadline = 500 * time.Millisecond }, deps: closedSink})
	tok := r.token(t, "testuser01")
	cr, e := pendingChange(t, r, tok, upgrade)
	lastAttempt := func() time.Time {
		var at time.Time
		if err := r.h.Pool.QueryRow(context.Background(), `SELECT last_attempt_at FROM product_change.pc_product_change_history
			WHERE request_id = $1 AND process_status = 'PENDING'`, cr.RequestID).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	before := lastAttempt()

	// KOS unreachable: 202, since the sweep re-emits the change (no broker
	// retries, no dead letter); the attempt is stamped and the event is not
	// recorded as processed.
	r.clock.Advance(time.Minute)
	down := deadKOS(t, r)
	down.now = r.clock.Now
	if st := deliver(t, newHandlers(down, r.h.Log).Worker, e); st != http.StatusAccepted {
		t.Fatalf("worker with KOS down answered %d, want 202 (the sweep drives it again)", st)
	}
	if d := lastAttempt().Sub(before); d < 59*time.Second {
		t.Fatalf("last_attempt_at moved by %s", d)
	}
	if n := r.count(t, `SELECT count(*) FROM product_change.processed_events`); n != 0 {
		t.Fatalf("%d processed events after a failed attempt", n)
	}
	if n := testutil.ToFloat64(down.metrics.worker.WithLabelValues("unknown")); n != 1 {
		t.Fatalf("unknown metric %v", n)
	}
	// The redelivery, with KOS back, settles it.
	if st := deliver(t, newHandlers(r.p, r.h.Log).Worker, e); st != http.StatusOK {
		t.Fatalf("redelivery answered %d", st)
	}
	if st := r.status(t, tok, cr.RequestID); st.ProcessStatus != "COMPLETED" || r.kosChanges(t, cr.RequestID) != 1 {
		t.Fatalf("after redelivery: %+v", st)
	}
}

func TestPendingAfterTimeout(t *testing.T) {
	t.Parallel()
	// KOS applies the change, then stays silent 1.2 s (TestMain); the
	// service gives up each attempt after 300 ms and the request after 1.5 s.
	r := newRig(t, rigOptions{
		kos: func(k *config.KOS) { k.TimeoutMS = 300 },
		cfg: func(c *Config) { c.Deadline = 1500 * time.Millisecond },
	})
	tok := r.token(t, "testuser01")
	res, cr := r.change(t, tok, upgrade, "X-Mock-Scenario", "timeout")
	assertPending(t, res, cr)
	if n := testutil.ToFloat64(r.p.metrics.kosAttempts.WithLabelValues("timeout")); n < 2 {
		t.Fatalf("%v timed-out attempts, want re-sends", n)
	}
	// KOS applied it on the first attempt; the re-sends and the worker's
	// call replay that answer: one change.
	assertSettled(t, r, tok, cr.RequestID)
}

func TestPendingVisibleThroughStatus(t *testing.T) {
	t.Parallel()
	// No publisher: the change.requested event waits in the outbox, so the
	// PENDING state stays observable.
	r := newRig(t, rigOptions{
		cfg:  func(c *Config) { c.Deadline = 600 * time.Millisecond },
		deps: func(d *Deps) { d.Events = events.NewSender("http://127.0.0.1:1/", nil) },
	})
	tok := r.token(t, "testuser01")
	_, cr := r.change(t, tok, upgrade, "X-Mock-Scenario", "error")
	st := r.status(t, tok, cr.RequestID)
	if st.ProcessStatus != "PENDING" || st.ResultCode != "KOS_PENDING" || st.ProcessedAt != "" || st.ChangedProduct != nil {
		t.Fatalf("pending status %+v", st)
	}
	var data string
	var published bool
	if err := r.h.Pool.QueryRow(context.Background(), `SELECT data::text, published_at IS NOT NULL FROM product_change.outbox
		WHERE type = $1 AND subject = $2`, events.TypeProductChangeRequested, cr.RequestID).Scan(&data, &published); err != nil {
		t.Fatal(err)
	}
	d, err := decodeRequested([]byte(data))
	if err != nil || d != (RequestedData{RequestID: cr.RequestID, LineNumber: line01, CurrentProductCode: "5G-STANDARD-001",
		TargetProductCode: "5G-PREMIUM-001"}) || published {
		t.Fatalf("change.requested row %s published=%v", data, published)
	}
	if res := r.do(t, "GET", "/api/v1/products/customer?lineNumber="+line01, tok, nil); res.Status != http.StatusOK {
		t.Fatalf("customer during PENDING: %s", res.Raw)
	}
}
