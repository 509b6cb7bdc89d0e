package kosmock

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"phonebill/shared/fn"
	"phonebill/shared/fn/fntest"
	"phonebill/shared/httpx"
)

// testSettings: no random faults, no latency, scenario header on, a short
// timeout sleep — each test turns on what it checks.
func testSettings() Settings {
	s := DefaultSettings()
	s.DelayRate, s.ErrorRate = 0, 0
	s.LatencyScale = 0
	s.ScenarioHeader = true
	s.TimeoutSleepMS = 150
	s.Seed = 1
	return s
}

// kosEnv is one KOS-Mock served exactly as in production over a private
// database (seeded, SPEC §6.6).
type kosEnv struct {
	h   *fntest.Harness
	srv *httptest.Server
	s   *Server
}

func newKOS(t testing.TB, cfg Settings) *kosEnv {
	t.Helper()
	return newKOSWith(t, cfg, nil)
}

// newKOSWith lets configure adjust the server before it serves.
func newKOSWith(t testing.TB, cfg Settings, configure func(*Server)) *kosEnv {
	t.Helper()
	h := fntest.New(t, nil)
	e := &kosEnv{h: h}
	svc := Service()
	svc.Start = func(ctx context.Context, env *fn.Env) (any, error) {
		s, err := newServer(ctx, env, cfg)
		if err == nil && configure != nil {
			configure(s)
		}
		e.s = s
		return s, err
	}
	e.srv = h.Serve(t, svc)
	return e
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// call sends body (a string is sent raw, anything else as JSON) with
// header pairs.
func (e *kosEnv) call(t testing.TB, method, path string, body any, header ...string) response {
	t.Helper()
	return e.callCtx(t, context.Background(), method, path, body, header...)
}

func (e *kosEnv) callCtx(t testing.TB, ctx context.Context, method, path string, body any, header ...string) response {
	t.Helper()
	rd := fntest.Body(t, body)
	req, err := http.NewRequestWithContext(ctx, method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return response{}
		}
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: raw}
}

// kosBody is a decoded KosCommonResponse with raw data.
type kosBody struct {
	Success       bool            `json:"success"`
	ResultCode    string          `json:"resultCode"`
	ResultMessage string          `json:"resultMessage"`
	Data          json.RawMessage `json:"data"`
	Timestamp     string          `json:"timestamp"`
	TraceID       string          `json:"traceId"`
}

func (r response) kos(t testing.TB) kosBody {
	t.Helper()
	var b kosBody
	if err := json.Unmarshal(r.Body, &b); err != nil {
		t.Fatalf("not a KOS envelope (%d): %s", r.Status, r.Body)
	}
	if _, err := time.Parse(httpx.LayoutLocal, b.Timestamp); err != nil {
		t.Fatalf("timestamp %q is not yyyy-MM-ddTHH:mm:ss: %s", b.Timestamp, r.Body)
	}
	return b
}

// ok asserts an HTTP 200 success with resultCode 0000 and msg, and decodes
// the data into dst.
func (r response) ok(t testing.TB, msg string, dst any) kosBody {
	t.Helper()
	b := r.kos(t)
	if r.Status != http.StatusOK || !b.Success || b.ResultCode != "0000" || b.ResultMessage != msg {
		t.Fatalf("want 200 success 0000 %q, got %d %s", msg, r.Status, r.Body)
	}
	if dst != nil {
		if err := json.Unmarshal(b.Data, dst); err != nil {
			t.Fatalf("data: %v: %s", err, b.Data)
		}
	}
	return b
}

// refused asserts an HTTP 200 business failure with code and message and
// no data.
func (r response) refused(t testing.TB, code, msg string) {
	t.Helper()
	b := r.kos(t)
	if r.Status != http.StatusOK || b.Success || b.ResultCode != code || b.ResultMessage != msg || b.Data != nil {
		t.Fatalf("want 200 success:false %s %q without data, got %d %s", code, msg, r.Status, r.Body)
	}
}

// failed asserts a non-2xx KOS error with status, code and message.
func (r response) failed(t testing.TB, status int, code, msg string) {
	t.Helper()
	b := r.kos(t)
	if r.Status != status || b.Success || b.ResultCode != code || b.ResultMessage != msg {
		t.Fatalf("want %d %s %q, got %d %s", status, code, msg, r.Status, r.Body)
	}
}

// apiBody is a decoded ApiResponse (mock-datas routes).
type apiBody struct {
	Success   bool            `json:"success"`
	Message   string          `json:"message"`
	Data      json.RawMessage `json:"data"`
	ErrorCode *string         `json:"errorCode"`
	Timestamp json.Number     `json:"timestamp"`
}

func (r response) api(t testing.TB) apiBody {
	t.Helper()
	var b apiBody
	d := json.NewDecoder(bytes.NewReader(r.Body))
	d.UseNumber()
	if err := d.Decode(&b); err != nil {
		t.Fatalf("not an ApiResponse (%d): %s", r.Status, r.Body)
	}
	ms, err := b.Timestamp.Int64()
	if err != nil || ms < time.Now().Add(-time.Hour).UnixMilli() || ms > time.Now().Add(time.Hour).UnixMilli() {
		t.Fatalf("timestamp %q is not epoch ms: %s", b.Timestamp, r.Body)
	}
	return b
}

func (r response) apiOK(t testing.TB, msg string, dst any) apiBody {
	t.Helper()
	b := r.api(t)
	if r.Status != http.StatusOK || !b.Success || b.Message != msg || b.ErrorCode != nil {
		t.Fatalf("want 200 success %q without errorCode, got %d %s", msg, r.Status, r.Body)
	}
	if dst != nil {
		if err := json.Unmarshal(b.Data, dst); err != nil {
			t.Fatalf("data: %v: %s", err, b.Data)
		}
	}
	return b
}

func (r response) apiFailed(t testing.TB, status int, code, msg string) {
	t.Helper()
	b := r.api(t)
	if r.Status != status || b.Success || b.ErrorCode == nil || *b.ErrorCode != code || b.Message != msg {
		t.Fatalf("want %d errorCode %s %q, got %d %s", status, code, msg, r.Status, r.Body)
	}
}

// months returns the current Seoul month and the n before it (YYYYMM).
func monthAgo(n int) string {
	now := time.Now().In(httpx.Seoul())
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, now.Location())
	return first.AddDate(0, -n, 0).Format("200601")
}

func (e *kosEnv) currentProduct(t testing.TB, line string) string {
	t.Helper()
	var code string
	if err := e.h.Pool.QueryRow(context.Background(),
		`SELECT current_product_code FROM kos_mock.customers WHERE line_number = $1`, line).Scan(&code); err != nil {
		t.Fatal(err)
	}
	return code
}

func (e *kosEnv) count(t testing.TB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.h.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func (e *kosEnv) exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	if _, err := e.h.Pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// withoutTrace drops the per-request traceId so two answers can be compared.
func withoutTrace(t testing.TB, raw []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	delete(m, "traceId")
	out, _ := json.Marshal(m)
	return string(out)
}
