package fn_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"phonebill/shared/config"
	"phonebill/shared/fn"
	"phonebill/shared/httpx"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type echo struct{ delay time.Duration }

func (e *echo) Hello(w http.ResponseWriter, r *http.Request) error {
	if e.delay > 0 {
		// The child process tells its parent that a request is in the
		// handler, so the SIGTERM tests signal then instead of after a sleep.
		fmt.Println("ENTERED")
	}
	select {
	case <-time.After(e.delay):
	case <-r.Context().Done():
		return r.Context().Err()
	}
	httpx.OK(w, r, "hello", map[string]string{"id": r.PathValue("id")})
	return nil
}

func (e *echo) Boom(w http.ResponseWriter, r *http.Request) error { panic("boom") }

func testService(delay time.Duration) fn.Service {
	return fn.Service{
		Name: "demo", Style: httpx.StyleStandard, Prefixes: []string{"/api/v1/demo"},
		HealthPath: "/api/v1/demo/health",
		Start:      func(context.Context, *fn.Env) (any, error) { return &echo{delay: delay}, nil },
		Routes: []fn.Route{
			{Name: "demo-hello", Method: "GET", Path: "/api/v1/demo/hello/{id}", Handle: fn.Bind((*echo).Hello)},
			{Name: "demo-boom", Method: "POST", Path: "/api/v1/demo/boom", Handle: fn.Bind((*echo).Boom)},
		},
	}
}

func testEnv() *fn.Env {
	return &fn.Env{Log: quiet, Metrics: httpx.NewMetrics(), Now: time.Now,
		Settings: fn.Settings{HTTP: config.HTTP{MaxBodyBytes: 1024, RequestDeadlineMS: 8000, ShutdownTimeoutSeconds: 5,
			CORSAllowedOrigins: []string{"http://localhost:3000"}}}}
}

func get(t *testing.T, h http.Handler, method, path string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return rec, m
}

func TestRoutingHealthAndErrors(t *testing.T) {
	env := testEnv()
	app, err := fn.Build(context.Background(), env, []fn.Service{testService(0)}, "")
	if err != nil {
		t.Fatal(err)
	}
	h := app.Handler
	cases := []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/api/v1/demo/hello/7", 200, "0000"},
		{"POST", "/api/v1/demo/hello/7", 405, "METHOD_NOT_ALLOWED"},
		{"GET", "/api/v1/demo/nope", 404, "NOT_FOUND"},
		{"POST", "/api/v1/demo", 404, "NOT_FOUND"},
		{"GET", "/elsewhere", 404, "NOT_FOUND"},
		{"POST", "/api/v1/demo/boom", 500, "INTERNAL_SERVER_ERROR"},
	}
	for _, tc := range cases {
		rec, m := get(t, h, tc.method, tc.path)
		if rec.Code != tc.status || m["resultCode"] != tc.code {
			t.Errorf("%s %s = %d %v, want %d %s", tc.method, tc.path, rec.Code, m["resultCode"], tc.status, tc.code)
		}
	}
	for _, p := range []string{"/health", "/health/readiness", "/health/liveness", "/api/v1/demo/health"} {
		if rec, m := get(t, h, "GET", p); rec.Code != 200 || m["status"] != "UP" {
			t.Errorf("GET %s = %d %v", p, rec.Code, m)
		}
	}
	rec, _ := get(t, h, "GET", "/metrics")
	if !strings.Contains(rec.Body.String(), `phonebill_http_requests_total{method="GET",route="demo-hello",status="200"} 1`) {
		t.Errorf("metrics lack the request counter:\n%s", grep(rec.Body.String(), "phonebill_http"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestOnlyServesTheNamedRoute(t *testing.T) {
	app, err := fn.Build(context.Background(), testEnv(), []fn.Service{testService(0)}, "demo-hello")
	if err != nil {
		t.Fatal(err)
	}
	if rec, _ := get(t, app.Handler, "GET", "/api/v1/demo/hello/1"); rec.Code != 200 {
		t.Errorf("named route = %d", rec.Code)
	}
	if rec, _ := get(t, app.Handler, "POST", "/api/v1/demo/boom"); rec.Code != 404 {
		t.Errorf("other route = %d, want 404 (not mounted)", rec.Code)
	}
	if _, err := fn.Build(context.Background(), testEnv(), []fn.Service{testService(0)}, "nope"); err == nil {
		t.Error("unknown route name did not fail the start")
	}
}

// The broker retries Knative's retry set with backoff, then dead-letters.
func TestBrokerRetriesThenDeadLetters(t *testing.T) {
	var calls, dead atomic.Int32
	var deadCode atomic.Value
	flaky := func(fail int32, status int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) <= fail {
				w.WriteHeader(status)
				return
			}
			w.WriteHeader(200)
		})
	}
	run := func(handler http.Handler) {
		b := fn.NewBroker(quiet)
		b.TimeScale = 0.005 // 0.2 s → 1 ms
		b.Subscribe([]fn.BoundRoute{
			{Route: fn.Route{Name: "consumer", EventType: "t.v1"}, Handler: handler},
			{Route: fn.Route{Name: "dl", DeadLetter: true}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				dead.Add(1)
				deadCode.Store(r.Header.Get("Ce-Knativeerrorcode"))
			})},
		})
		req, _ := http.NewRequest("POST", fn.BrokerURL, strings.NewReader(`{}`))
		for k, v := range map[string]string{"Ce-Type": "t.v1", "Ce-Id": "1", "Ce-Source": "s", "Ce-Specversion": "1.0"} {
			req.Header.Set(k, v)
		}
		res, err := b.Client().Do(req)
		if err != nil || res.StatusCode != 202 {
			t.Fatalf("publish: %v %v", res, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b.Wait(ctx)
	}
	run(flaky(2, 503))
	if calls.Load() != 3 || dead.Load() != 0 {
		t.Errorf("transient: calls=%d dead=%d, want 3 and 0", calls.Load(), dead.Load())
	}
	calls.Store(0)
	run(flaky(100, 400))
	if calls.Load() != 1 || dead.Load() != 1 || deadCode.Load() != "400" {
		t.Errorf("poison: calls=%d dead=%d code=%v, want 1, 1, 400", calls.Load(), dead.Load(), deadCode.Load())
	}
	calls.Store(0)
	run(flaky(100, 500))
	if calls.Load() != 6 || dead.Load() != 2 {
		t.Errorf("exhausted: calls=%d dead=%d, want 6 (1+5 retries) and 2", calls.Load(), dead.Load())
	}
}

// TestMain lets the SIGTERM test run this binary as the function process.
func TestMain(m *testing.M) {
	if os.Getenv("FN_TEST_SERVE") == "hold" {
		serveHolding()
	}
	if os.Getenv("FN_TEST_SERVE") == "1" {
		err := fn.Run(signalCtx(), []fn.Service{testService(700 * time.Millisecond)}, fn.Options{
			Ready: func(a net.Addr) { fmt.Println("ADDR", a.String()) },
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func signalCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signalNotify(ch)
	go func() { <-ch; cancel() }()
	return ctx
}

// SIGTERM with a request in flight: the request completes and the process
// exits 0.
func TestSIGTERMDrainsInFlightRequests(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FN_TEST_SERVE=1", "LISTEN_ADDRESS=127.0.0.1:0", "LOG_LEVEL=error")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	addrc, entered := make(chan string, 1), make(chan struct{}, 8)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
				addrc <- strings.TrimSpace(a)
			} else if sc.Text() == "ENTERED" {
				entered <- struct{}{}
			}
		}
	}()
	var addr string
	select {
	case addr = <-addrc:
	case <-time.After(10 * time.Second):
		t.Fatal("function did not report its address")
	}
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		res, err := http.Get("http://" + addr + "/api/v1/demo/hello/9")
		if err != nil {
			done <- result{err: err}
			return
		}
		res.Body.Close()
		done <- result{status: res.StatusCode}
	}()
	select {
	case <-entered: // the request is in the handler (it takes 700 ms)
	case <-time.After(10 * time.Second):
		t.Fatal("the request never reached the handler")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.status != 200 {
		t.Errorf("in-flight request = %d %v, want 200", r.status, r.err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Errorf("exit: %v, want status 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("process did not stop within 10 s of SIGTERM")
	}
}

// starts records the functions one service's Start was called for, as the
// value each route is bound to.
type starts struct {
	mu    sync.Mutex
	names []string
}

type instance struct{ function string }

func (i *instance) Who(w http.ResponseWriter, r *http.Request) error {
	httpx.OK(w, r, "who", map[string]string{"function": i.function})
	return nil
}

func (s *starts) service(name, function string, routes ...string) fn.Service {
	svc := fn.Service{Name: name, Function: function, Style: httpx.StyleStandard,
		Start: func(ctx context.Context, _ *fn.Env) (any, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.names = append(s.names, fn.FunctionName(ctx))
			return &instance{function: fn.FunctionName(ctx)}, nil
		}}
	for _, rt := range routes {
		svc.Routes = append(svc.Routes, fn.Route{Name: rt, Method: "GET", Path: "/" + rt, Handle: fn.Bind((*instance).Who)})
	}
	return svc
}

// Every function mounted by the all-in-one is started on its own, as its
// own Knative Service would be, so nothing Start builds (a KOS client and
// its breaker, caches, counters) is shared between two functions; a
// one-function service (KOS-Mock) is started once for all its routes.
func TestAllInOneStartsEachFunctionApart(t *testing.T) {
	s := &starts{}
	services := []fn.Service{s.service("a", "", "a-one", "a-two", "a-three"), s.service("mock", "mock", "m-one", "m-two")}
	app, err := fn.Build(context.Background(), testEnv(), services, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a-one", "a-two", "a-three", "mock"}; !slices.Equal(s.names, want) {
		t.Fatalf("Start called for %v, want %v", s.names, want)
	}
	for path, want := range map[string]string{"/a-one": "a-one", "/a-two": "a-two", "/a-three": "a-three",
		"/m-one": "mock", "/m-two": "mock"} {
		rec, body := get(t, app.Handler, "GET", path)
		if data, _ := body["data"].(map[string]any); rec.Code != 200 || data["function"] != want {
			t.Errorf("%s answered %d from %v, want the value started for %s", path, rec.Code, body, want)
		}
	}
	// One function alone (fn.Main) is started once, under its own name.
	s.names = nil
	if _, err := fn.Build(context.Background(), testEnv(), services, "a-two"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.names, []string{"a-two"}) {
		t.Fatalf("fn.Main of a-two started %v", s.names)
	}
	if fn.FunctionName(context.Background()) != "" {
		t.Fatal("a function name outside Start")
	}
}

// The named loggers take their own levels: with LOG_LEVEL=info and
// LOG_LEVEL_KOS=debug, the KOS client's logger writes DEBUG lines and the
// root, application and database loggers do not; LOG_LEVEL_APP=warn also
// silences the application's INFO.
func TestNamedLoggerLevels(t *testing.T) {
	for k, v := range map[string]string{"LOG_LEVEL": "info", "LOG_LEVEL_KOS": "debug", "LOG_LEVEL_APP": "warn", "LOG_LEVEL_DB": ""} {
		t.Setenv(k, v)
	}
	env, err := fn.NewEnv(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		lg    *slog.Logger
		level slog.Level
		want  bool
	}{
		{env.Log, slog.LevelInfo, true}, {env.Log, slog.LevelDebug, false},
		{env.Logger(fn.LoggerKOS), slog.LevelDebug, true},
		{env.Logger(fn.LoggerDB), slog.LevelDebug, false}, {env.Logger(fn.LoggerDB), slog.LevelInfo, true},
		{env.Logger(fn.LoggerApp), slog.LevelInfo, false}, {env.Logger(fn.LoggerApp), slog.LevelWarn, true},
	} {
		if got := c.lg.Enabled(ctx, c.level); got != c.want {
			t.Errorf("%v enabled = %v, want %v", c.level, got, c.want)
		}
	}
}
