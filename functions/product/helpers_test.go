package product

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"phonebill/shared/testenv/faults"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"phonebill/functions/internal/kostest"
	"phonebill/functions/kosmock"
	"phonebill/shared/config"
	"phonebill/shared/events"
	"phonebill/shared/fn"
	"phonebill/shared/fn/fntest"
	"phonebill/shared/httpx"
)

// TestMain makes KOS-Mock (which reads its settings from the environment at
// Start) deterministic and fast: patterns only when a test forces one, tiny
// latencies, and a forced `timeout` that stays silent for 1.2 s — longer than
// the KOS timeout the timeout tests give the Product service.
func TestMain(m *testing.M) {
	kostest.MockEnv(map[string]string{
		"KOS_MOCK_LATENCY_SCALE":    "0.02",
		"KOS_MOCK_TIMEOUT_SLEEP_MS": "1200",
	})
	os.Exit(m.Run())
}

// Seed identities (SPEC §6.6).
const (
	line01 = "01012345678"
	line02 = "01087654321"
	line03 = "01033334444"
)

// clock is the business clock a test can move forward.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// rigOptions tune one test's Product service.
type rigOptions struct {
	kos    func(*config.KOS)
	cfg    func(*Config)
	deps   func(*Deps)
	extra  []fn.Service
	broker func(*fn.Broker)
}

// rig is one isolated system: database, Redis prefix, broker, and the
// Product service and the real KOS-Mock served together on one port (as in
// the all-in-one), plus a probe that records every published event.
type rig struct {
	h     *fntest.Harness
	srv   *httptest.Server
	p     *Products
	clock *clock
	probe *probe
	kos   config.KOS
	cfg   Config
}

func newRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	h := fntest.New(t, nil)
	r := &rig{h: h, clock: &clock{}, probe: &probe{}}
	base := h.Listen(t)
	r.kos = config.KOS{BaseURL: base, TimeoutMS: 5000, BreakerFailures: 50, BreakerOpenSeconds: 10, ScenarioHeader: true}
	if o.kos != nil {
		o.kos(&r.kos)
	}
	r.cfg = DefaultConfig(Settings{PendingResendSeconds: 60, PendingLimitHours: 24, OutboxBatch: 100}, h.Env.Settings.HTTP)
	if o.cfg != nil {
		o.cfg(&r.cfg)
	}
	if o.broker != nil {
		o.broker(h.Broker)
	}
	svc := Service()
	svc.Start = func(ctx context.Context, env *fn.Env) (any, error) {
		hs, err := build(ctx, env, r.kos, r.cfg, r.clock.Now, o.deps)
		if err != nil {
			return nil, err
		}
		// Every function gets its own instance (fn.Build starts each apart);
		// the tests inspect product-change's, whose breaker the
		// synchronous path opens.
		if fn.FunctionName(ctx) == "product-change" {
			r.p = hs.p
		}
		return hs, nil
	}
	services := append([]fn.Service{svc, kosmock.Service()}, o.extra...)
	r.srv = h.Serve(t, services...)
	h.Broker.Subscribe([]fn.BoundRoute{{Route: fn.Route{Name: "probe-changed", EventType: events.TypeProductChanged},
		Handler: r.probe}, {Route: fn.Route{Name: "probe-requested", EventType: events.TypeProductChangeRequested},
		Handler: r.probe}})
	return r
}

// token issues an access token for a seed user.
func (r *rig) token(t *testing.T, user string) string {
	t.Helper()
	switch user {
	case "testuser01":
		return r.h.AccessToken(t, user, "CUST001", "010-1234-5678", "BILL_INQUIRY", "PRODUCT_CHANGE")
	case "testuser02":
		return r.h.AccessToken(t, user, "CUST002", "010-8765-4321", "BILL_INQUIRY")
	case "testuser03":
		return r.h.AccessToken(t, user, "CUST003", "010-3333-4444", "BILL_INQUIRY", "PRODUCT_CHANGE")
	case "admin":
		return r.h.AccessToken(t, user, "CUST900", "010-9000-0001", "ADMIN", "USER_MANAGEMENT", "BILL_INQUIRY", "PRODUCT_CHANGE")
	}
	t.Fatalf("no seed user %s", user)
	return ""
}

// envelope is shape C as the client reads it.
type envelope struct {
	Success       bool            `json:"success"`
	ResultCode    string          `json:"resultCode"`
	ResultMessage string          `json:"resultMessage"`
	Message       string          `json:"message"`
	Data          json.RawMessage `json:"data"`
	Error         *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details string `json:"details"`
		Path    string `json:"path"`
	} `json:"error"`
	Timestamp string `json:"timestamp"`
}

// response is one answer of the server.
type response struct {
	Status int
	Header http.Header
	Raw    []byte
	Env    envelope
}

// do sends a request; body may be a string (sent as is) or a value (JSON).
func (r *rig) do(t *testing.T, method, path, token string, body any, headers ...string) response {
	t.Helper()
	rd := fntest.Body(t, body)
	req, err := http.NewRequest(method, r.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := response{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out.Env); err != nil {
			t.Fatalf("%s %s: undecodable body %s: %v", method, path, raw, err)
		}
	}
	return out
}

// data decodes the envelope's data into v.
func (res response) data(t *testing.T, v any) {
	t.Helper()
	if len(res.Env.Data) == 0 {
		t.Fatalf("answer has no data: %d %s", res.Status, res.Raw)
	}
	if err := json.Unmarshal(res.Env.Data, v); err != nil {
		t.Fatalf("data %s: %v", res.Env.Data, err)
	}
}

// wantStatus fails unless the answer has the status (and, when given, the
// error code).
func (res response) want(t *testing.T, status int, code string) {
	t.Helper()
	if res.Status != status {
		t.Fatalf("status %d, want %d: %s", res.Status, status, res.Raw)
	}
	if code != "" && (res.Env.Error == nil || res.Env.Error.Code != code || res.Env.ResultCode != code) {
		t.Fatalf("error code of %s, want %s", res.Raw, code)
	}
}

// count runs a count query on the test database.
func (r *rig) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := r.h.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// kosProduct is the line's current product at KOS.
func (r *rig) kosProduct(t *testing.T, line string) string {
	t.Helper()
	var code string
	if err := r.h.Pool.QueryRow(context.Background(),
		`SELECT current_product_code FROM kos_mock.customers WHERE line_number = $1`, line).Scan(&code); err != nil {
		t.Fatal(err)
	}
	return code
}

// kosChanges is how many changes KOS-Mock processed for a request id.
func (r *rig) kosChanges(t *testing.T, requestID string) int {
	return r.count(t, `SELECT count(*) FROM kos_mock.processing_results WHERE request_id = $1`, requestID)
}

// status reads a change request's status through the API.
func (r *rig) status(t *testing.T, token, requestID string) ChangeResult {
	t.Helper()
	res := r.do(t, "GET", "/api/v1/products/change/"+requestID, token, nil)
	res.want(t, http.StatusOK, "")
	var cr ChangeResult
	res.data(t, &cr)
	return cr
}

// waitStatus polls the status endpoint until the change reaches want.
func (r *rig) waitStatus(t *testing.T, token, requestID, want string, within time.Duration) ChangeResult {
	t.Helper()
	end := time.Now().Add(within)
	for {
		cr := r.status(t, token, requestID)
		if cr.ProcessStatus == want {
			return cr
		}
		if time.Now().After(end) {
			t.Fatalf("change %s still %s after %s, want %s", requestID, cr.ProcessStatus, within, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// change posts a change request of testuser01's line.
func (r *rig) change(t *testing.T, token string, body ChangeRequest, headers ...string) (response, ChangeResult) {
	t.Helper()
	res := r.do(t, "POST", "/api/v1/products/change", token, body, headers...)
	res.want(t, http.StatusOK, "")
	var cr ChangeResult
	res.data(t, &cr)
	return res, cr
}

// upgrade is testuser01's change of the client journey (SPEC §7 step 8).
var upgrade = ChangeRequest{LineNumber: line01, CurrentProductCode: "5G-STANDARD-001", TargetProductCode: "5G-PREMIUM-001"}

// probe is an event route that records what the broker delivered.
type probe struct {
	mu   sync.Mutex
	seen []event.Event
}

func (p *probe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e, err := events.Receive(r)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.seen = append(p.seen, *e)
	p.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// of returns the events of a type seen so far.
func (p *probe) of(typ string) []event.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []event.Event
	for _, e := range p.seen {
		if e.Type() == typ {
			out = append(out, e)
		}
	}
	return out
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(within)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// deliver hands e (binary mode) straight to an event handler and returns the
// HTTP status it answered.
func deliver(t *testing.T, h func(http.ResponseWriter, *http.Request) error, e event.Event) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	if err := cehttp.WriteRequest(binding.WithForceBinary(context.Background()), binding.ToMessage(&e), req); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	httpx.Handle(nil, h).ServeHTTP(rec, req)
	return rec.Code
}

// failingSender is a sink that refuses every event (the broker is down).
type failingSender struct{ n atomic.Int64 }

func (f *failingSender) Send(context.Context, event.Event) error {
	f.n.Add(1)
	return errSinkDown
}

var errSinkDown = &sinkError{}

type sinkError struct{}

func (*sinkError) Error() string { return "sink unreachable" }

// kosThroughProxy puts a fault proxy between the service and KOS-Mock with
// the given per-call timeout, and stores the proxy in *px for the test to
// cut and restore.
func kosThroughProxy(t *testing.T, px **faults.Proxy, timeoutMS int) func(*config.KOS) {
	return func(k *config.KOS) {
		u, err := url.Parse(k.BaseURL)
		if err != nil {
			t.Fatal(err)
		}
		*px = faults.StartProxy(t, "kos", u.Host)
		k.BaseURL, k.TimeoutMS = "http://"+(*px).Addr, timeoutMS
	}
}
