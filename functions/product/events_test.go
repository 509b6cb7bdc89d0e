package product

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"phonebill/shared/events"
	"phonebill/shared/httpx"
)

// closedSink is a sink nobody listens on: every publish fails, as when the
// process dies between the commit and the send.
func closedSink(d *Deps) { d.Events = events.NewSender("http://127.0.0.1:1/", nil) }

// pendingChange makes a PENDING change whose change.requested event stays
// unpublished (the rig's sink must be closed) and returns it with its event.
func pendingChange(t *testing.T, r *rig, tok string, req ChangeRequest) (ChangeResult, event.Event) {
	t.Helper()
	res, cr := r.change(t, tok, req, "X-Mock-Scenario", "error")
	assertPending(t, res, cr)
	o, err := scanOutbox(r.h.Pool.QueryRow(context.Background(), `SELECT `+outboxColumns+` FROM product_change.outbox
		WHERE type = $1 AND subject = $2`, events.TypeProductChangeRequested, cr.RequestID))
	if err != nil {
		t.Fatal(err)
	}
	e, err := o.event()
	if err != nil {
		t.Fatal(err)
	}
	return cr, e
}

func TestWorkerDedupesDuplicateEvents(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{cfg: func(c *Config) { c.Deadline = 500 * time.Millisecond }, deps: closedSink})
	tok := r.token(t, "testuser01")
	h := newHandlers(r.p, r.h.Log)

	// Delivered twice in a row: one effect, the second is a 2xx no-op.
	cr, e := pendingChange(t, r, tok, upgrade)
	for i := range 2 {
		if st := deliver(t, h.Worker, e); st != http.StatusOK {
			t.Fatalf("delivery %d answered %d", i, st)
		}
	}
	if st := r.status(t, tok, cr.RequestID); st.ProcessStatus != "COMPLETED" {
		t.Fatalf("after the worker: %+v", st)
	}
	if n := r.kosChanges(t, cr.RequestID); n != 1 {
		t.Fatalf("KOS processed %d changes", n)
	}
	if n := r.count(t, `SELECT count(*) FROM product_change.outbox WHERE type = $1`, events.TypeProductChanged); n != 1 {
		t.Fatalf("%d product.changed rows", n)
	}
	if n := testutil.ToFloat64(r.p.metrics.worker.WithLabelValues("duplicate")); n != 1 {
		t.Fatalf("duplicate metric %v", n)
	}

	// Delivered concurrently, plus a re-emission (another event id) of the
	// same change: still one status change and one event.
	back := ChangeRequest{LineNumber: line01, CurrentProductCode: "5G-PREMIUM-001", TargetProductCode: "5G-STANDARD-001"}
	cr2, e2 := pendingChange(t, r, tok, back)
	re := e2.Clone()
	re.SetID(uuid.NewString())
	var wg sync.WaitGroup
	codes := make([]int, 5)
	for i := range codes {
		ev := e2
		if i == 4 {
			ev = re
		}
		wg.Go(func() { codes[i] = deliver(t, h.Worker, ev) })
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Fatalf("concurrent delivery %d answered %d", i, c)
		}
	}
	if st := r.status(t, tok, cr2.RequestID); st.ProcessStatus != "COMPLETED" || r.kosProduct(t, line01) != "5G-STANDARD-001" {
		t.Fatalf("after concurrent deliveries: %+v", st)
	}
	if n := r.count(t, `SELECT count(*) FROM product_change.outbox WHERE type = $1 AND subject = $2`,
		events.TypeProductChanged, cr2.RequestID); n != 1 {
		t.Fatalf("%d product.changed rows for one change", n)
	}
	if n := r.kosChanges(t, cr2.RequestID); n != 1 {
		t.Fatalf("KOS processed %d changes", n)
	}
	// A finished change's event is acknowledged, not retried.
	late := e2.Clone()
	late.SetID(uuid.NewString())
	if st := deliver(t, h.Worker, late); st != http.StatusOK {
		t.Fatalf("event of a finished change answered %d", st)
	}
}

func TestWorkerPoisonEvents(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	h := newHandlers(r.p, r.h.Log)
	mk := func(typ string, data any) event.Event {
		e, err := events.New(uuid.NewString(), typ, "/test", "", data)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	for name, e := range map[string]event.Event{
		"no request id":   mk(events.TypeProductChangeRequested, map[string]string{"lineNumber": line01}),
		"unknown request": mk(events.TypeProductChangeRequested, RequestedData{RequestID: uuid.NewString(), LineNumber: line01}),
		"not json":        mk(events.TypeProductChangeRequested, "just text"),
		"wrong type":      mk(events.TypeProductChanged, RequestedData{RequestID: uuid.NewString()}),
	} {
		if st := deliver(t, h.Worker, e); st != http.StatusBadRequest {
			t.Errorf("%s: answered %d, want 400", name, st)
		}
	}

	// Through the broker, a poison event is not retried and lands in the
	// dead-letter sink with the delivery error.
	poison := mk(events.TypeProductChangeRequested, RequestedData{RequestID: "no-such-request"})
	if err := events.NewSender(r.h.Env.EventSink, r.h.Env.EventClient).Send(context.Background(), poison); err != nil {
		t.Fatal(err)
	}
	var doc, reason string
	waitFor(t, 5*time.Second, "dead letter", func() bool {
		return r.h.Pool.QueryRow(context.Background(), `SELECT event::text, error FROM product_change.dead_letters
			WHERE event->>'id' = $1`, poison.ID()).Scan(&doc, &reason) == nil
	})
	if !strings.Contains(reason, "product-change-worker") || !strings.Contains(reason, "status 400") {
		t.Fatalf("dead letter reason %q", reason)
	}
	var stored map[string]any
	if err := json.Unmarshal([]byte(doc), &stored); err != nil || stored["type"] != events.TypeProductChangeRequested ||
		stored["knativeerrorcode"] != "400" {
		t.Fatalf("dead letter event %s", doc)
	}
	if n := testutil.ToFloat64(r.p.metrics.worker.WithLabelValues("poison")); n != 4 {
		t.Fatalf("poison metric %v", n)
	}
}

func TestDeadLetterSink(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	h := newHandlers(r.p, r.h.Log)
	e, err := events.New(uuid.NewString(), events.TypeProductChanged, "/phonebill/product-change", "x",
		ChangedData{LineNumber: line01})
	if err != nil {
		t.Fatal(err)
	}
	e.SetExtension("knativeerrorcode", "500")
	e.SetExtension("knativeerrordest", "http://bill-cache-evict.phonebill.svc.cluster.local")
	e.SetExtension("knativeerrordata", base64.StdEncoding.EncodeToString([]byte(`{"status":500}`)))
	if st := deliver(t, h.DeadLetter, e); st != http.StatusOK {
		t.Fatalf("sink answered %d", st)
	}
	var reason, line string
	if err := r.h.Pool.QueryRow(context.Background(), `SELECT error, event->'data'->>'lineNumber' FROM product_change.dead_letters
		WHERE event->>'id' = $1`, e.ID()).Scan(&reason, &line); err != nil {
		t.Fatal(err)
	}
	want := `delivery to http://bill-cache-evict.phonebill.svc.cluster.local failed with status 500: {"status":500}`
	if reason != want || line != line01 {
		t.Fatalf("dead letter %q %q", reason, line)
	}

	// Whatever arrives is kept, even what is not a CloudEvent.
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("garbage"))
	rec := httptest.NewRecorder()
	httpx.Handle(nil, h.DeadLetter).ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("undecodable delivery answered %d", rec.Code)
	}
	if n := r.count(t, `SELECT count(*) FROM product_change.dead_letters WHERE error LIKE 'undecodable event:%'
		AND event->>'body' = 'garbage'`); n != 1 {
		t.Fatalf("%d undecodable dead letters", n)
	}
}

func TestRelayPublishesWhatTheSendMissed(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{cfg: func(c *Config) { c.Deadline = 500 * time.Millisecond }, deps: closedSink})
	tok := r.token(t, "testuser01")
	ctx := context.Background()

	// COMPLETED commits with its event; the send fails; the answer does not.
	_, cr := r.change(t, tok, upgrade)
	if cr.ProcessStatus != "COMPLETED" {
		t.Fatalf("change %+v", cr)
	}
	var outboxID string
	var attempts int
	if err := r.h.Pool.QueryRow(ctx, `SELECT id::text, attempts FROM product_change.outbox
		WHERE type = $1 AND published_at IS NULL`, events.TypeProductChanged).Scan(&outboxID, &attempts); err != nil || attempts != 1 {
		t.Fatalf("unpublished row: %v attempts=%d", err, attempts)
	}
	// A PENDING change's event is stuck the same way.
	back := ChangeRequest{LineNumber: line01, CurrentProductCode: "5G-PREMIUM-001", TargetProductCode: "5G-STANDARD-001"}
	pending, _ := pendingChange(t, r, tok, back)

	// Two relays over a working sink at once: every row is sent exactly once.
	relay := func() *Products {
		return newService(Deps{Pool: r.h.Pool, Cache: r.h.Cache, Log: r.h.Log,
			Events: events.NewSender(r.h.Env.EventSink, r.h.Env.EventClient)}, r.cfg, nil)
	}
	var wg sync.WaitGroup
	reports := make([]RelayReport, 2)
	for i := range reports {
		wg.Go(func() {
			rep, err := relay().RunRelay(ctx)
			if err != nil {
				t.Error(err)
			}
			reports[i] = rep
		})
	}
	wg.Wait()
	if got := reports[0].Published + reports[1].Published; got != 2 {
		t.Fatalf("relays published %d rows, want 2: %+v", got, reports)
	}
	waitFor(t, 5*time.Second, "product.changed delivery", func() bool { return len(r.probe.of(events.TypeProductChanged)) >= 1 })
	if got := r.probe.of(events.TypeProductChanged)[0]; got.ID() != outboxID {
		t.Fatalf("delivered %s, want outbox row %s", got.ID(), outboxID)
	}
	// The relayed change.requested reached the worker, which finished the
	// PENDING change (its own product.changed is again left to a relay).
	st := r.waitStatus(t, tok, pending.RequestID, "COMPLETED", 5*time.Second)
	if st.ResultCode != "0000" || r.kosProduct(t, line01) != "5G-STANDARD-001" {
		t.Fatalf("pending change after relay: %+v", st)
	}
	if len(r.probe.of(events.TypeProductChangeRequested)) != 1 || len(r.probe.of(events.TypeProductChanged)) != 1 {
		t.Fatal("a relayed event was delivered twice")
	}
	if n := r.count(t, `SELECT count(*) FROM product_change.outbox WHERE published_at IS NULL`); n != 1 {
		t.Fatalf("%d unpublished rows, want the worker's product.changed only", n)
	}
	if rep, err := relay().RunRelay(ctx); err != nil || rep.Published != 1 {
		t.Fatalf("second relay run: %+v %v", rep, err)
	}
}

func TestSweepReemitsStalePending(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{cfg: func(c *Config) { c.Deadline = 500 * time.Millisecond }, deps: closedSink})
	tok := r.token(t, "testuser01")
	ctx := context.Background()
	cr, _ := pendingChange(t, r, tok, upgrade)

	// While its event is still unpublished, the sweep adds no copies.
	r.clock.Advance(2 * time.Minute)
	if rep, err := r.p.RunRelay(ctx); err != nil || rep.Reemitted != 0 || rep.Failed != 1 {
		t.Fatalf("sweep with an unpublished event: %+v %v", rep, err)
	}
	// Once it went out (and the worker never stamped an attempt), a minute
	// later the sweep emits a fresh event, which a working relay publishes.
	if _, err := r.h.Pool.Exec(ctx, `UPDATE product_change.outbox SET published_at = now()`); err != nil {
		t.Fatal(err)
	}
	relay := newService(Deps{Pool: r.h.Pool, Cache: r.h.Cache, Log: r.h.Log,
		Events: events.NewSender(r.h.Env.EventSink, r.h.Env.EventClient)}, r.cfg, r.clock.Now)
	if rep, err := relay.RunRelay(ctx); err != nil || rep.Reemitted != 1 || rep.Published != 1 {
		t.Fatalf("sweep: %+v %v", rep, err)
	}
	st := r.waitStatus(t, tok, cr.RequestID, "COMPLETED", 5*time.Second)
	if st.ResultCode != "0000" || r.kosChanges(t, cr.RequestID) != 1 {
		t.Fatalf("after the re-emitted event: %+v", st)
	}
	if n := r.count(t, `SELECT count(*) FROM product_change.outbox WHERE type = $1 AND subject = $2`,
		events.TypeProductChangeRequested, cr.RequestID); n != 2 {
		t.Fatalf("%d change.requested rows, want the original and one re-emission", n)
	}

	// A change left PROCESSING by a request that died is recovered.
	id := uuid.NewString()
	if _, err := r.h.Pool.Exec(ctx, `INSERT INTO product_change.pc_product_change_history (request_id, line_number,
		customer_id, user_id, current_product_code, target_product_code, process_status, requested_at, last_attempt_at)
		VALUES ($1, $2, 'CUST001', 'testuser01', '5G-PREMIUM-001', 'LTE-PREMIUM-001', 'PROCESSING', $3::timestamptz, $3::timestamptz)`,
		id, line01, r.clock.Now().Add(-5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if rep, err := relay.RunRelay(ctx); err != nil || rep.Recovered != 1 || rep.Reemitted != 1 {
		t.Fatalf("recovery: %+v %v", rep, err)
	}
	if st := r.waitStatus(t, tok, id, "COMPLETED", 5*time.Second); st.ChangedProduct.ProductCode != "LTE-PREMIUM-001" {
		t.Fatalf("recovered change %+v", st)
	}
	// One that died before reaching KOS ends FAILED; a fresh one is left
	// alone (on another line: one change per line is in flight).
	dead, live := uuid.NewString(), uuid.NewString()
	for id, row := range map[string]struct {
		line string
		age  time.Duration
	}{dead: {line01, 5 * time.Minute}, live: {line02, 5 * time.Second}} {
		if _, err := r.h.Pool.Exec(ctx, `INSERT INTO product_change.pc_product_change_history (request_id, line_number,
			customer_id, user_id, current_product_code, target_product_code, process_status, requested_at)
			VALUES ($1, $2, 'CUST001', 'testuser01', 'LTE-PREMIUM-001', 'LTE-BASIC-001', 'VALIDATED', $3::timestamptz)`,
			id, row.line, r.clock.Now().Add(-row.age)); err != nil {
			t.Fatal(err)
		}
	}
	if rep, err := relay.RunRelay(ctx); err != nil || rep.Recovered != 1 || rep.Reemitted != 0 {
		t.Fatalf("interrupted: %+v %v", rep, err)
	}
	if st := r.status(t, tok, dead); st.ProcessStatus != "FAILED" || st.ResultCode != "INTERRUPTED" || st.ProcessedAt == "" {
		t.Fatalf("interrupted change %+v", st)
	}
	if st := r.status(t, tok, live); st.ProcessStatus != "VALIDATED" {
		t.Fatalf("live change %+v", st)
	}
}

func TestSweepGivesUpAfter24Hours(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{cfg: func(c *Config) { c.Deadline = 500 * time.Millisecond }, deps: closedSink})
	tok := r.token(t, "testuser01")
	ctx := context.Background()
	cr, _ := pendingChange(t, r, tok, upgrade)

	r.clock.Advance(23 * time.Hour)
	if rep, err := r.p.RunRelay(ctx); err != nil || rep.Unresolved != 0 {
		t.Fatalf("after 23 h: %+v %v", rep, err)
	}
	r.clock.Advance(90 * time.Minute)
	rep, err := r.p.RunRelay(ctx)
	if err != nil || rep.Unresolved != 1 {
		t.Fatalf("after 24.5 h: %+v %v", rep, err)
	}
	st := r.status(t, tok, cr.RequestID)
	if st.ProcessStatus != "FAILED" || st.ResultCode != "KOS_UNRESOLVED" || st.ResultMessage != "KOS 시스템 연동 중 오류가 발생했습니다" ||
		!localTime.MatchString(st.ProcessedAt) {
		t.Fatalf("given-up change %+v", st)
	}
	var reason, reqID string
	if err := r.h.Pool.QueryRow(ctx, `SELECT error, event->'data'->>'requestId' FROM product_change.dead_letters`).
		Scan(&reason, &reqID); err != nil {
		t.Fatal(err)
	}
	if reqID != cr.RequestID || !strings.HasPrefix(reason, "KOS_UNRESOLVED: ") {
		t.Fatalf("dead letter %q for %s", reason, reqID)
	}
	// The worker no longer touches it.
	if rep, err := r.p.RunRelay(ctx); err != nil || rep.Unresolved != 0 || rep.Reemitted != 0 {
		t.Fatalf("later run: %+v %v", rep, err)
	}
}
