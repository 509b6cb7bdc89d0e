package product

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"phonebill/shared/config"
	"phonebill/shared/db"
	"phonebill/shared/events"
	"phonebill/shared/httpx"
	"phonebill/shared/testenv/faults"
)

// behindProxy points the Product service's pool at a proxy in front of the
// test database (KOS-Mock and the test's own queries keep direct
// connections) and returns the proxy. Every Product function is built apart;
// they all share the one proxied pool.
func behindProxy(t *testing.T, px **faults.Proxy) func(*Deps) {
	var shared *pgxpool.Pool
	return func(d *Deps) {
		if shared != nil {
			d.Pool = shared
			return
		}
		u, err := url.Parse(d.Pool.Config().ConnString())
		if err != nil {
			t.Fatal(err)
		}
		p, err := faults.NewProxy("postgres", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		u.Host = p.Addr
		pool, err := db.Open(context.Background(), config.DB{URL: u.String(), MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		d.Pool, *px, shared = pool, p, pool
	}
}

// PostgreSQL goes away while KOS applies a change (the forced delay keeps
// the KOS call in flight): the request answers 503 with the generic body
// and leaves its row PROCESSING; nothing is lost or doubled — once the
// database is back, the relay turns the stuck row PENDING, the worker
// re-sends the same request id, and the change ends COMPLETED with exactly
// one change at KOS and one published product.changed (checklist #31, #43).
func TestChangeSurvivesPostgresCutMidway(t *testing.T) {
	t.Parallel()
	var px *faults.Proxy
	r := newRig(t, rigOptions{deps: behindProxy(t, &px)})
	tok := r.token(t, "testuser01")
	// Warm the caches the change's pre-checks read.
	r.do(t, "GET", "/api/v1/products/customer?lineNumber="+line01, tok, nil).want(t, http.StatusOK, "")
	done := make(chan response, 1)
	go func() {
		done <- r.do(t, "POST", "/api/v1/products/change", tok, upgrade, "X-Mock-Scenario", "delay")
	}()
	waitFor(t, 5*time.Second, "the change to reach KOS", func() bool {
		return r.count(t, `SELECT count(*) FROM product_change.pc_product_change_history WHERE process_status = 'PROCESSING'`) == 1
	})
	px.Cut()
	res := <-done
	res.want(t, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	if res.Env.Message != httpx.MsgUnavailable || strings.Contains(string(res.Raw), "127.0.0.1") {
		t.Fatalf("503 body: %s", res.Raw)
	}
	var requestID, status string
	if err := r.h.Pool.QueryRow(context.Background(), `SELECT request_id, process_status
		FROM product_change.pc_product_change_history`).Scan(&requestID, &status); err != nil || status != StatusProcessing {
		t.Fatalf("row after the cut: %s %v", status, err)
	}
	if n := r.kosChanges(t, requestID); n != 1 || r.kosProduct(t, line01) != upgrade.TargetProductCode {
		t.Fatalf("KOS applied %d changes", n)
	}
	// The completion did not commit: no COMPLETED row, no event.
	if n := r.count(t, `SELECT count(*) FROM product_change.outbox`); n != 0 {
		t.Fatalf("%d outbox rows after the failed commit", n)
	}
	if err := px.Restore(); err != nil {
		t.Fatal(err)
	}
	// A relay run after the stuck-row threshold settles it through the
	// worker. (Stale pooled connections may fail one run each.)
	r.clock.Advance(max(r.cfg.ResendAfter, 2*r.cfg.Deadline) + time.Second)
	var rep RelayReport
	var err error
	for range 5 {
		if rep, err = r.p.RunRelay(context.Background()); err == nil {
			break
		}
	}
	if err != nil || rep.Recovered != 1 {
		t.Fatalf("relay: %+v %v", rep, err)
	}
	// The recovery's change.requested may reach the worker through the
	// broker before the sweep's turn; either way the sweep keeps re-emitting
	// while the row stays PENDING, until the worker settles it.
	reemitted := 0
	for range 20 {
		if r.count(t, `SELECT count(*) FROM product_change.pc_product_change_history
			WHERE request_id = $1 AND process_status = 'PENDING'`, requestID) == 0 {
			break
		}
		r.clock.Advance(r.cfg.ResendAfter + time.Second)
		if rep, err = r.p.RunRelay(context.Background()); err != nil {
			t.Fatalf("relay re-emission: %+v %v", rep, err)
		}
		reemitted += rep.Reemitted
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("sweep re-emissions before the worker settled the change: %d", reemitted)
	st := r.waitStatus(t, tok, requestID, "COMPLETED", 10*time.Second)
	if st.ResultCode != "0000" || r.kosChanges(t, requestID) != 1 {
		t.Fatalf("settled %+v, %d KOS changes", st, r.kosChanges(t, requestID))
	}
	if n := r.count(t, `SELECT count(*) FROM product_change.outbox WHERE type = $1 AND subject = $2`,
		events.TypeProductChanged, requestID); n != 1 {
		t.Fatalf("%d product.changed rows", n)
	}
	waitFor(t, 5*time.Second, "product.changed delivery", func() bool {
		return len(r.probe.of(events.TypeProductChanged)) == 1 &&
			r.count(t, `SELECT count(*) FROM product_change.outbox WHERE published_at IS NULL`) == 0
	})
}

// sendThenCrash delivers each event, then fails as a relay would that died
// after the broker took the event and before it marked the row published.
type sendThenCrash struct {
	next  publisher
	sends atomic.Int32
}

func (s *sendThenCrash) Send(ctx context.Context, e event.Event) error {
	if err := s.next.Send(ctx, e); err != nil {
		return err
	}
	s.sends.Add(1)
	return errSinkDown
}

// The relay sends an event and dies before marking the row: the next relay
// sends it again with the same id and source, and the consumer's effect
// stays one (checklist #32, #33).
func TestRelayCrashAfterSendBeforeMark(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{cfg: func(c *Config) { c.Deadline = 500 * time.Millisecond }, deps: closedSink})
	tok := r.token(t, "testuser01")
	cr, e := pendingChange(t, r, tok, upgrade)
	crashing := &sendThenCrash{next: events.NewSender(r.h.Env.EventSink, r.h.Env.EventClient)}
	relay := func(p publisher) *Products {
		return newService(Deps{Pool: r.h.Pool, Cache: r.h.Cache, Log: r.h.Log, KOS: r.p.kos,
			Events: p}, r.cfg, r.clock.Now)
	}
	if rep, err := relay(crashing).RunRelay(context.Background()); err != nil || rep.Published != 0 || crashing.sends.Load() != 1 {
		t.Fatalf("crashing relay: %+v %v, %d sends", rep, err, crashing.sends.Load())
	}
	st := r.waitStatus(t, tok, cr.RequestID, "COMPLETED", 10*time.Second)
	if n := r.count(t, `SELECT count(*) FROM product_change.outbox WHERE id = $1::uuid AND published_at IS NULL`, e.ID()); n != 1 {
		t.Fatalf("the sent row is marked published: %d", n)
	}
	// The next relay re-sends the same event; the worker acknowledges the
	// duplicate without a second effect.
	if rep, err := relay(events.NewSender(r.h.Env.EventSink, r.h.Env.EventClient)).RunRelay(context.Background()); err != nil ||
		rep.Published < 1 {
		t.Fatalf("second relay: %+v %v", rep, err)
	}
	waitFor(t, 5*time.Second, "the re-sent event", func() bool {
		n := 0
		for _, got := range r.probe.of(events.TypeProductChangeRequested) {
			if got.ID() == e.ID() && got.Source() == e.Source() {
				n++
			}
		}
		return n == 2
	})
	r.h.Broker.Wait(context.Background())
	if n := r.kosChanges(t, cr.RequestID); n != 1 || st.ResultCode != "0000" {
		t.Fatalf("%d KOS changes, status %+v", n, st)
	}
	if n := r.count(t, `SELECT count(*) FROM product_change.processed_events WHERE id = $1`, e.ID()); n != 1 {
		t.Fatalf("%d processed_events rows for the event", n)
	}
	if n := r.count(t, `SELECT count(*) FROM product_change.outbox WHERE type = $1 AND subject = $2`,
		events.TypeProductChanged, cr.RequestID); n != 1 {
		t.Fatalf("%d product.changed rows", n)
	}
}

// newFuzzRig is a rig for a fuzz target: one system shared by its inputs.
func newFuzzRig(f *testing.F) *rig { return newRig(f, rigOptions{}) }

// quietLog drops the log lines of fuzzed handlers.
var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// FuzzWorkerEvent: any change.requested data and id, over the real
// database, is settled, acknowledged or refused as poison (400) — never a
// 5xx, which would make Knative retry an event that can never succeed
// (checklist #30).
func FuzzWorkerEvent(f *testing.F) {
	for _, s := range []string{
		`{"requestId":"7d8e2a34-5b1c-4f0e-9a51-2f6a3c1d9e10","lineNumber":"01012345678"}`,
		`{"requestId":"x\u0000y"}`, `{"requestId":"\ud800"}`, `{"requestId":"` + strings.Repeat("a", 64) + `"}`,
		`{"requestId":"' OR '1'='1"}`, `{"requestId":7}`, `{"requestId":" "}`, `null`, ``, `[]`, "\xff",
	} {
		f.Add([]byte(s), "evt-1", "/phonebill/product-change")
	}
	f.Add([]byte(`{"requestId":"r"}`), "evt\x00", "/src")
	r := newFuzzRig(f)
	h := newHandlers(r.p, quietLog)
	f.Fuzz(func(t *testing.T, data []byte, id, source string) {
		e := event.New()
		e.SetID(id)
		e.SetType(events.TypeProductChangeRequested)
		e.SetSource(source)
		_ = e.SetData(event.ApplicationJSON, data)
		if e.Validate() != nil {
			return
		}
		if st := deliver(t, h.Worker, e); st != http.StatusOK && st != http.StatusBadRequest {
			t.Fatalf("data %q id %q source %q answered %d", data, id, source, st)
		}
	})
}

// FuzzChangeStatusID: any path id of GET /products/change/{requestId}
// answers 200 or 404 (or 400), never 5xx.
func FuzzChangeStatusID(f *testing.F) {
	for _, s := range []string{uuid.NewString(), "x", "%00", "%ff", "%e2%28%a1", strings.Repeat("a", 65), "a%20b", "..%2f..", "'%20OR%201=1"} {
		f.Add(s)
	}
	r := newFuzzRig(f)
	tok := r.h.AccessToken(f, "admin", "CUST900", "010-9000-0001", "ADMIN", "PRODUCT_CHANGE")
	f.Fuzz(func(t *testing.T, id string) {
		if strings.ContainsAny(id, "/?#") || id == "" || id == "." || id == ".." {
			return // another route, or not a path segment
		}
		u := r.srv.URL + "/api/v1/products/change/" + id
		if _, err := url.Parse(u); err != nil {
			return
		}
		req, err := http.NewRequest("GET", u, nil)
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode >= 500 {
			t.Fatalf("id %q answered %d", id, res.StatusCode)
		}
	})
}

// FuzzDeadLetterSink: whatever reaches the dead-letter sink — a valid event
// with Knative's error extensions, an undecodable delivery, text PostgreSQL
// cannot hold — is kept (200); a 5xx would lose it, as nothing retries a
// dead letter.
func FuzzDeadLetterSink(f *testing.F) {
	for _, s := range []struct{ id, errdata, body string }{
		{"e1", "eyJtZXNzYWdlIjoiYmFkIn0=", `{"requestId":"r1"}`},
		{"", "", `not json`},
		{"e2", "AAAA", `{"requestId":"x\u0000y"}`},
		{"e3", "!!", "\xff\xfe"},
		{"e\u00004", "", `{}`},
	} {
		f.Add(s.id, s.errdata, []byte(s.body))
	}
	r := newFuzzRig(f)
	h := newHandlers(r.p, quietLog)
	f.Fuzz(func(t *testing.T, id, errdata string, body []byte) {
		req := httptest.NewRequest("POST", "/", strings.NewReader(string(body)))
		for k, v := range map[string]string{"Ce-Id": id, "Ce-Type": events.TypeProductChangeRequested,
			"Ce-Source": "/phonebill/product-change", "Ce-Specversion": "1.0", "Content-Type": "application/json",
			"Ce-Knativeerrorcode": "500", "Ce-Knativeerrordest": "http://worker", "Ce-Knativeerrordata": errdata} {
			if v != "" {
				req.Header[k] = []string{v}
			}
		}
		rec := httptest.NewRecorder()
		httpx.Handle(quietLog, h.DeadLetter).ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("id %q errdata %q body %q answered %d", id, errdata, body, rec.Code)
		}
	})
}
