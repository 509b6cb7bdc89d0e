package bill

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"phonebill/functions/internal/kostest"
	"phonebill/functions/kosmock"
	"phonebill/shared/cache"
	"phonebill/shared/config"
	"phonebill/shared/fn"
	"phonebill/shared/fn/fntest"
	"phonebill/shared/kos"
)

// TestMain fixes the KOS-Mock knobs for every test of the package before any
// service reads them: no random delays or errors (patterns are forced per
// request with X-Mock-Scenario), latencies scaled down, and a forced `delay`
// that stays 1.5 s after scaling so that lowered KOS timeouts can expire.
func TestMain(m *testing.M) {
	kostest.MockEnv(map[string]string{
		"KOS_MOCK_SLOW_MIN_MS":      "150000",
		"KOS_MOCK_SLOW_MAX_MS":      "150000",
		"KOS_MOCK_TIMEOUT_SLEEP_MS": "1500",
	})
	os.Exit(m.Run())
}

// slowKOS is the forced delay after scaling (see TestMain).
const slowKOS = 1500 * time.Millisecond

// countingTransport counts the exchanges the bill service's KOS client makes,
// by path: the proof that a cache hit or an open breaker calls nobody.
type countingTransport struct {
	next  http.RoundTripper
	mu    sync.Mutex
	paths map[string]int
	total atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.total.Add(1)
	p := r.URL.Path
	if strings.HasPrefix(p, "/api/v1/kos/bill/available-months/") {
		p = "/api/v1/kos/bill/available-months"
	}
	c.mu.Lock()
	c.paths[p]++
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

func (c *countingTransport) count(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paths[path]
}

const (
	inquiryPath = "/api/v1/kos/bill/inquiry"
	monthsPath  = "/api/v1/kos/bill/available-months"
)

// testEnv is the Bill service and the real KOS-Mock on one server, as in the
// all-in-one, over a fresh database and key prefix.
type testEnv struct {
	h     *fntest.Harness
	srv   *httptest.Server
	svc   *Handlers
	kos   *kos.Client
	calls *countingTransport
	now   time.Time
}

type setupOpts struct {
	kos    func(*config.KOS)
	cfg    func(*Config)
	cache  *cache.Cache // replaces the harness's Redis client (fault tests)
	kosURL string       // points the bill service's KOS client elsewhere
	// log replaces the harness's t.Log logger (benchmarks: production's
	// JSON at info level, written nowhere).
	log *slog.Logger
	// harness, when set, adjusts the harness before the services start
	// (fault tests swap the service's pool for one behind a proxy).
	harness func(*fntest.Harness)
}

func setup(t testing.TB, o setupOpts) *testEnv {
	t.Helper()
	h := fntest.New(t, nil)
	base := h.Listen(t)
	if o.cache != nil {
		h.Env.UseCache(o.cache)
	}
	if o.log != nil {
		h.Env.Log, h.Log = o.log, o.log
	}
	if o.harness != nil {
		o.harness(h)
	}
	kcfg := config.KOS{BaseURL: base, TimeoutMS: 5000, BreakerFailures: 5, BreakerOpenSeconds: 10, ScenarioHeader: true}
	if o.kosURL != "" {
		kcfg.BaseURL = o.kosURL
	}
	if o.kos != nil {
		o.kos(&kcfg)
	}
	cfg := DefaultConfig(Settings{CacheTTLSeconds: 1800}, h.Env.Settings.HTTP)
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	calls := &countingTransport{next: http.DefaultTransport, paths: map[string]int{}}
	kc, err := kos.New(kos.Options{Config: kcfg, ServiceName: ServiceName, Registry: h.Env.Metrics.Registry,
		Log: h.Log, Transport: calls})
	if err != nil {
		t.Fatal(err)
	}
	te := &testEnv{h: h, kos: kc, calls: calls, now: time.Now()}
	svc := Service()
	svc.Start = func(ctx context.Context, env *fn.Env) (any, error) {
		pool, err := env.DB(ctx)
		if err != nil {
			return nil, err
		}
		te.svc = newService(Deps{Pool: pool, Cache: env.Cache(), KOS: kc, Log: env.Log, Now: env.Now,
			Registry: env.Metrics.Registry}, cfg)
		return te.svc, nil
	}
	te.srv = h.Serve(t, svc, kosmock.Service())
	return te
}

// Seeded identities (SPEC §6.6).
type who struct{ user, customer, line string }

var (
	user01 = who{"testuser01", "CUST001", "010-1234-5678"}
	user02 = who{"testuser02", "CUST002", "010-8765-4321"}
	user03 = who{"testuser03", "CUST003", "010-3333-4444"}
	admin  = who{"admin", "CUST900", "010-9000-0001"}
)

func (te *testEnv) token(t testing.TB, w who, perms ...string) string {
	t.Helper()
	if perms == nil {
		perms = []string{"BILL_INQUIRY", "PRODUCT_CHANGE"}
	}
	return te.h.AccessToken(t, w.user, w.customer, w.line, perms...)
}

// answer is a decoded shape C envelope.
type answer struct {
	Status        int
	Success       bool            `json:"success"`
	ResultCode    string          `json:"resultCode"`
	ResultMessage string          `json:"resultMessage"`
	Message       string          `json:"message"`
	Data          json.RawMessage `json:"data"`
	Error         *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details string `json:"details"`
	} `json:"error"`
	Timestamp string `json:"timestamp"`
	raw       map[string]any
}

func (te *testEnv) do(t testing.TB, method, path, token string, body any, hdr ...string) answer {
	t.Helper()
	return te.doCtx(context.Background(), t, method, path, token, body, hdr...)
}

func (te *testEnv) doCtx(ctx context.Context, t testing.TB, method, path, token string, body any, hdr ...string) answer {
	t.Helper()
	rd := fntest.Body(t, body)
	req, err := http.NewRequestWithContext(ctx, method, te.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := te.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("%s %s: %d %s: not JSON: %v", method, path, res.StatusCode, raw, err)
	}
	_ = json.Unmarshal(raw, &a.raw)
	a.Status = res.StatusCode
	return a
}

func (te *testEnv) inquire(t testing.TB, token string, line, month string, hdr ...string) answer {
	t.Helper()
	body := map[string]string{"lineNumber": line}
	if month != "" {
		body["inquiryMonth"] = month
	}
	return te.do(t, "POST", "/api/v1/bills/inquiry", token, body, hdr...)
}

// month returns the Seoul month m months before now as YYYYMM.
func month(m int) string {
	t := time.Now().In(seoul)
	return time.Date(t.Year(), t.Month(), 1, 12, 0, 0, 0, seoul).AddDate(0, -m, 0).Format("200601")
}

// historyRow is bill_inquiry_history as stored.
type historyRow struct {
	RequestID, UserID, Line, Month, Status string
	ResultCode, Summary, ErrMsg            *string
	CacheHit                               bool
	BillJSON                               []byte
	RequestTime                            time.Time
	ProcessTime                            *time.Time
}

func (te *testEnv) historyRow(t testing.TB, requestID string) historyRow {
	t.Helper()
	var r historyRow
	err := te.h.Pool.QueryRow(context.Background(), `SELECT request_id, user_id, line_number, inquiry_month, status,
		result_code, result_summary, error_message, cache_hit, bill_info_json, request_time, process_time
		FROM bill_inquiry.bill_inquiry_history WHERE request_id = $1`, requestID).Scan(
		&r.RequestID, &r.UserID, &r.Line, &r.Month, &r.Status, &r.ResultCode, &r.Summary, &r.ErrMsg,
		&r.CacheHit, &r.BillJSON, &r.RequestTime, &r.ProcessTime)
	if err != nil {
		t.Fatalf("history row %s: %v", requestID, err)
	}
	return r
}

// kosRow is one kos_inquiry_history row.
type kosRow struct {
	Code, Message, ErrDetail *string
	Data                     []byte
	Retry                    int
	Start, End               time.Time
	Line, Month              string
}

func (te *testEnv) kosRows(t testing.TB, requestID string) []kosRow {
	t.Helper()
	rows, err := te.h.Pool.Query(context.Background(), `SELECT result_code, result_message, error_detail,
		kos_data_json, retry_count, request_time, response_time, line_number, inquiry_month
		FROM bill_inquiry.kos_inquiry_history WHERE bill_request_id = $1 ORDER BY retry_count, id`, requestID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []kosRow
	for rows.Next() {
		var r kosRow
		if err := rows.Scan(&r.Code, &r.Message, &r.ErrDetail, &r.Data, &r.Retry, &r.Start, &r.End, &r.Line, &r.Month); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func (te *testEnv) countRows(t testing.TB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := te.h.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}
