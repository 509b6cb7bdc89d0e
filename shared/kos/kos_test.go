package kos

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"phonebill/shared/config"
)

// These tests classify what a KOS answer means to the client with a local
// server that answers exactly the case under test (5xx, 9999, slow, business
// refusal). The agreement between this client and the real KOS-Mock is tested
// in functions/internal/kostest against the mock itself.

// fakeKOS answers every request with the next scripted reply (the last one
// repeats) and records what it saw.
type fakeKOS struct {
	mu      sync.Mutex
	replies []reply
	seen    []*http.Request
	bodies  []string
	calls   atomic.Int32
	// arrived, if set, receives each request as the server starts on it.
	arrived chan struct{}
}

type reply struct {
	status int
	body   string
	delay  time.Duration
}

func (f *fakeKOS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(f.calls.Add(1)) - 1
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.seen = append(f.seen, r.Clone(context.Background()))
	f.bodies = append(f.bodies, string(b))
	rp := f.replies[min(n, len(f.replies)-1)]
	f.mu.Unlock()
	if f.arrived != nil {
		f.arrived <- struct{}{}
	}
	if rp.delay > 0 {
		select {
		case <-time.After(rp.delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rp.status)
	_, _ = io.WriteString(w, rp.body)
}

const (
	okBody       = `{"success":true,"resultCode":"0000","resultMessage":"정상 처리되었습니다","data":{"x":1}}`
	sysErrBody   = `{"success":false,"resultCode":"9999","resultMessage":"시스템 오류가 발생했습니다"}`
	noBillBody   = `{"success":false,"resultCode":"1003","resultMessage":"해당 월 요금 정보가 없습니다"}`
	serverErrStr = `{"success":false,"resultCode":"9999","resultMessage":"boom"}`
)

// newServer serves f until the test ends and returns its URL.
func newServer(t *testing.T, f *fakeKOS) string {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv.URL
}

func newClient(t *testing.T, f *fakeKOS, mod func(*config.KOS)) (*Client, *prometheus.Registry) {
	t.Helper()
	cfg := config.KOS{BaseURL: newServer(t, f), TimeoutMS: 2000, BreakerFailures: 5, BreakerOpenSeconds: 1}
	if mod != nil {
		mod(&cfg)
	}
	reg := prometheus.NewRegistry()
	c, err := New(Options{Config: cfg, ServiceName: "MVNO-TEST", Registry: reg,
		Backoff: []time.Duration{10 * time.Millisecond, 30 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return c, reg
}

func read(retries int) Call {
	return Call{Op: "bill_inquiry", Method: "POST", Path: "/api/v1/kos/bill/inquiry",
		Body: map[string]string{"lineNumber": "01012345678"}, RequestID: "REQ_1", Retries: retries}
}

func outcomeOf(err error) Outcome {
	var ke *Error
	if errors.As(err, &ke) {
		return ke.Outcome
	}
	return ""
}

func TestSuccessSendsHeadersAndDecodes(t *testing.T) {
	t.Parallel()
	f := &fakeKOS{replies: []reply{{200, okBody, 0}}}
	c, _ := newClient(t, f, nil)
	call := read(2)
	call.Scenario = "error" // passthrough is off: must not be sent
	resp, err := c.Do(context.Background(), call)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if !resp.OK() || resp.Status != 200 {
		t.Fatalf("resp = %+v, want OK 200", resp)
	}
	var d struct{ X int }
	if err := resp.Decode(&d); err != nil || d.X != 1 {
		t.Fatalf("Decode = %v, %+v", err, d)
	}
	r := f.seen[0]
	for h, want := range map[string]string{"X-Service-Name": "MVNO-TEST", "X-Request-ID": "REQ_1",
		"Content-Type": "application/json", ScenarioHeader: ""} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	if r.URL.Path != "/api/v1/kos/bill/inquiry" || r.Method != "POST" {
		t.Errorf("request = %s %s", r.Method, r.URL.Path)
	}
	if f.bodies[0] != `{"lineNumber":"01012345678"}` {
		t.Errorf("body = %s", f.bodies[0])
	}
}

func TestScenarioPassthroughWhenEnabled(t *testing.T) {
	t.Parallel()
	f := &fakeKOS{replies: []reply{{200, okBody, 0}}}
	c, _ := newClient(t, f, func(k *config.KOS) { k.ScenarioHeader = true })
	call := read(0)
	call.Scenario = "delay"
	if _, err := c.Do(context.Background(), call); err != nil {
		t.Fatal(err)
	}
	if got := f.seen[0].Header.Get(ScenarioHeader); got != "delay" {
		t.Fatalf("X-Mock-Scenario = %q, want delay", got)
	}
	// An auxiliary call without a scenario sends none.
	if _, err := c.Do(context.Background(), read(0)); err != nil {
		t.Fatal(err)
	}
	if got := f.seen[1].Header.Get(ScenarioHeader); got != "" {
		t.Fatalf("X-Mock-Scenario = %q on a call without scenario", got)
	}
}

func TestBusinessRefusalIsAnAnswerNotRetried(t *testing.T) {
	t.Parallel()
	f := &fakeKOS{replies: []reply{{200, noBillBody, 0}}}
	c, _ := newClient(t, f, func(k *config.KOS) { k.BreakerFailures = 1 })
	for range 3 {
		resp, err := c.Do(context.Background(), read(2))
		if err != nil {
			t.Fatalf("Do: %v", err)
		}
		if resp.OK() || resp.ResultCode != "1003" {
			t.Fatalf("resp = %+v, want 1003", resp)
		}
	}
	if n := f.calls.Load(); n != 3 {
		t.Fatalf("KOS saw %d calls, want 3 (no retries of a refusal)", n)
	}
	if s := c.BreakerState(); s != "closed" {
		t.Fatalf("breaker %s after refusals, want closed (a refusal is a healthy KOS)", s)
	}
}

func TestUnknownOutcomesAreRetriedAndClassified(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		reply   reply
		timeout int
		want    Outcome
	}{
		{"system error 9999", reply{200, sysErrBody, 0}, 2000, OutcomeSystemError},
		{"HTTP 500", reply{500, serverErrStr, 0}, 2000, OutcomeServerError},
		{"HTTP 503 without JSON", reply{503, "upstream down", 0}, 2000, OutcomeServerError},
		{"unreadable 200", reply{200, "<html>", 0}, 2000, OutcomeBadAnswer},
		{"slower than the timeout", reply{200, okBody, 2 * time.Second}, 50, OutcomeTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeKOS{replies: []reply{tc.reply}}
			c, reg := newClient(t, f, func(k *config.KOS) { k.TimeoutMS = tc.timeout; k.BreakerFailures = 10 })
			var attempts []Attempt
			call := read(2)
			call.OnAttempt = func(a Attempt) { attempts = append(attempts, a) }
			start := time.Now()
			resp, err := c.Do(context.Background(), call)
			elapsed := time.Since(start)
			if resp != nil || outcomeOf(err) != tc.want {
				t.Fatalf("Do = %v, %v; want outcome %s", resp, err, tc.want)
			}
			if n := f.calls.Load(); n != 3 {
				t.Fatalf("KOS saw %d calls, want 3 (1 + 2 retries)", n)
			}
			if len(attempts) != 3 {
				t.Fatalf("OnAttempt saw %d exchanges, want 3", len(attempts))
			}
			for i, a := range attempts {
				if a.N != i || a.Err == nil || a.End.Before(a.Start) {
					t.Errorf("attempt %d = %+v", i, a)
				}
				if tc.want == OutcomeSystemError && (a.Response == nil || a.Response.ResultCode != "9999") {
					t.Errorf("attempt %d carries no 9999 answer: %+v", i, a.Response)
				}
			}
			if tc.want == OutcomeTimeout && elapsed > 2*(3*50*time.Millisecond+40*time.Millisecond+time.Second/2) {
				t.Errorf("3 timed-out attempts took %v", elapsed)
			}
			if got := counter(t, reg, "phonebill_kos_calls_total", string(tc.want)); got != 3 {
				t.Errorf("phonebill_kos_calls_total{outcome=%s} = %v, want 3", tc.want, got)
			}
		})
	}
}

func TestRetryRecoversAfterTransientFailure(t *testing.T) {
	t.Parallel()
	f := &fakeKOS{replies: []reply{{200, sysErrBody, 0}, {502, "bad gateway", 0}, {200, okBody, 0}}}
	c, _ := newClient(t, f, nil)
	resp, err := c.Do(context.Background(), read(2))
	if err != nil || !resp.OK() {
		t.Fatalf("Do = %+v, %v; want the third try's answer", resp, err)
	}
	if n := f.calls.Load(); n != 3 {
		t.Fatalf("KOS saw %d calls, want 3", n)
	}
}

func TestTransportErrorIsUnknownOutcome(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	c, err := New(Options{Config: config.KOS{BaseURL: url, TimeoutMS: 1000, BreakerFailures: 5, BreakerOpenSeconds: 1},
		ServiceName: "MVNO-TEST", Backoff: []time.Duration{time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Do(context.Background(), read(1))
	if outcomeOf(err) != OutcomeTransport {
		t.Fatalf("Do error = %v, want transport outcome", err)
	}
}

func TestDeadlineBoundsRetries(t *testing.T) {
	t.Parallel()
	f := &fakeKOS{replies: []reply{{200, okBody, 3 * time.Second}}}
	c, _ := newClient(t, f, func(k *config.KOS) { k.TimeoutMS = 5000; k.BreakerFailures = 10 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Do(ctx, read(2))
	if elapsed := time.Since(start); elapsed > 400*time.Millisecond {
		t.Fatalf("Do took %v past a 200 ms deadline", elapsed)
	}
	if outcomeOf(err) != OutcomeTimeout {
		t.Fatalf("Do error = %v, want timeout", err)
	}
}

func TestBreakerOpensFailsFastAndProbes(t *testing.T) {
	t.Parallel()
	f := &fakeKOS{replies: []reply{{200, sysErrBody, 0}}}
	c, reg := newClient(t, f, func(k *config.KOS) { k.BreakerFailures = 3; k.BreakerOpenSeconds = 1 })
	// One read with 2 retries makes the 3 consecutive failures that trip it.
	if _, err := c.Do(context.Background(), read(2)); outcomeOf(err) != OutcomeSystemError {
		t.Fatalf("first Do error = %v", err)
	}
	if s := c.BreakerState(); s != "open" {
		t.Fatalf("breaker %s after 3 failures, want open", s)
	}
	if got := gauge(t, reg, "phonebill_kos_breaker_state"); got != 2 {
		t.Fatalf("breaker gauge = %v, want 2 (open)", got)
	}
	var attempts []Attempt
	call := read(2)
	call.OnAttempt = func(a Attempt) { attempts = append(attempts, a) }
	_, err := c.Do(context.Background(), call)
	if !IsBreakerOpen(err) {
		t.Fatalf("Do while open = %v, want breaker_open", err)
	}
	// No call reached KOS (counted below) and none was retried: that is what
	// failing fast means; a wall-clock bound would only add flakiness.
	if len(attempts) != 1 {
		t.Fatalf("open breaker made %d attempts, want 1 (no retry)", len(attempts))
	}
	if n := f.calls.Load(); n != 3 {
		t.Fatalf("KOS saw %d calls, want 3 (none while open)", n)
	}

	// After the open period one probe goes through; success closes it.
	f.mu.Lock()
	f.replies = []reply{{200, okBody, 0}}
	f.calls.Store(0)
	f.mu.Unlock()
	time.Sleep(1100 * time.Millisecond)
	if s := c.BreakerState(); s != "half-open" {
		t.Fatalf("breaker %s after the open period, want half-open", s)
	}
	resp, err := c.Do(context.Background(), read(2))
	if err != nil || !resp.OK() {
		t.Fatalf("probe = %+v, %v", resp, err)
	}
	if s := c.BreakerState(); s != "closed" {
		t.Fatalf("breaker %s after a good probe, want closed", s)
	}
	if got := gauge(t, reg, "phonebill_kos_breaker_state"); got != 0 {
		t.Fatalf("breaker gauge = %v, want 0 (closed)", got)
	}
}

func TestFailedProbeReopens(t *testing.T) {
	t.Parallel()
	f := &fakeKOS{replies: []reply{{500, "x", 0}}}
	c, _ := newClient(t, f, func(k *config.KOS) { k.BreakerFailures = 1; k.BreakerOpenSeconds = 1 })
	_, _ = c.Do(context.Background(), read(0))
	if s := c.BreakerState(); s != "open" {
		t.Fatalf("breaker %s, want open", s)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, err := c.Do(context.Background(), read(0)); outcomeOf(err) != OutcomeServerError {
		t.Fatalf("probe error = %v, want server_error", err)
	}
	if s := c.BreakerState(); s != "open" {
		t.Fatalf("breaker %s after a failed probe, want open again", s)
	}
	if n := f.calls.Load(); n != 2 {
		t.Fatalf("KOS saw %d calls, want 2", n)
	}
}

func TestCallerCancellationDoesNotTripBreaker(t *testing.T) {
	t.Parallel()
	f := &fakeKOS{replies: []reply{{200, okBody, 2 * time.Second}}, arrived: make(chan struct{}, 3)}
	c, _ := newClient(t, f, func(k *config.KOS) { k.BreakerFailures = 1 })
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-f.arrived; cancel() }() // cancelled while KOS holds the call
	if _, err := c.Do(ctx, read(2)); err == nil {
		t.Fatal("Do succeeded after cancellation")
	}
	if s := c.BreakerState(); s != "closed" {
		t.Fatalf("breaker %s after a caller's cancellation, want closed", s)
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("KOS saw %d calls, want 1 (no retry after cancellation)", n)
	}
}

func TestBackoffJitterStaysInRange(t *testing.T) {
	t.Parallel()
	c := &Client{backoff: []time.Duration{100 * time.Millisecond, 300 * time.Millisecond}}
	seen := map[time.Duration]bool{}
	for range 200 {
		for n, base := range []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond} {
			d := c.delay(n)
			if d < base/2 || d >= base/2+base {
				t.Fatalf("delay(%d) = %v, outside [%v, %v)", n, d, base/2, base/2+base)
			}
			seen[d] = true
		}
	}
	if len(seen) < 50 {
		t.Fatalf("only %d distinct delays in 600 draws: no jitter", len(seen))
	}
}

func TestResponseJSONRoundTrip(t *testing.T) {
	t.Parallel()
	var r Response
	if err := json.Unmarshal([]byte(noBillBody), &r); err != nil {
		t.Fatal(err)
	}
	if r.OK() || r.ResultCode != "1003" {
		t.Fatalf("decoded %+v", r)
	}
	if err := r.Decode(&struct{}{}); err == nil {
		t.Fatal("Decode of an answer without data succeeded")
	}
	var nilResp *Response
	if nilResp.OK() {
		t.Fatal("nil response reports OK")
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name, outcome string) float64 {
	t.Helper()
	var sum float64
	for _, m := range family(t, reg, name) {
		for _, l := range m.GetLabel() {
			if l.GetName() == "outcome" && l.GetValue() == outcome {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	ms := family(t, reg, name)
	if len(ms) != 1 {
		t.Fatalf("%s: %d series", name, len(ms))
	}
	return ms[0].GetGauge().GetValue()
}

func family(t *testing.T, reg *prometheus.Registry, name string) []*dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()
		}
	}
	return nil
}

// An UntilDeadline call re-sends an unknown outcome (9999) until its
// deadline, with growing pauses, never starting an attempt with less than
// MinAttempt left, and the same request id each time.
func TestUntilDeadlineResendsWithinTheDeadline(t *testing.T) {
	f := &fakeKOS{replies: []reply{{status: 200, body: sysErrBody}}}
	c, _ := newClient(t, f, func(k *config.KOS) { k.BreakerFailures = 100 })
	var starts []time.Time
	call := read(0)
	call.UntilDeadline = true
	call.OnAttempt = func(a Attempt) { starts = append(starts, a.Start) }
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	dl, _ := ctx.Deadline()
	_, err := c.Do(ctx, call)
	if outcomeOf(err) != OutcomeSystemError {
		t.Fatalf("err %v, want the last system error", err)
	}
	if len(starts) < 4 || int(f.calls.Load()) != len(starts) {
		t.Fatalf("%d attempts (%d at KOS) in 600 ms with pauses from 10 ms, want at least 4", len(starts), f.calls.Load())
	}
	for i, s := range starts {
		if dl.Sub(s) < MinAttempt {
			t.Fatalf("attempt %d started %v before the deadline", i, dl.Sub(s))
		}
	}
	for _, r := range f.seen {
		if r.Header.Get("X-Request-ID") != "REQ_1" {
			t.Fatalf("re-send with request id %q", r.Header.Get("X-Request-ID"))
		}
	}
	// With no time for even one attempt, nothing is sent.
	short, cancel2 := context.WithTimeout(context.Background(), MinAttempt/2)
	defer cancel2()
	before := f.calls.Load()
	if _, err := c.Do(short, call); !errors.Is(err, context.DeadlineExceeded) || f.calls.Load() != before {
		t.Fatalf("no-time call: %v, %d sent", err, f.calls.Load()-before)
	}
}
