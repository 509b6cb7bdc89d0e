package kostest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"phonebill/functions/kosmock"
	"phonebill/shared/config"
	"phonebill/shared/fn/fntest"
	"phonebill/shared/httpx"
	"phonebill/shared/kos"
)

// TestMain makes KOS-Mock deterministic (patterns only when forced) and fast;
// a forced delay stays 1.5 s after scaling so a lowered timeout can expire.
func TestMain(m *testing.M) {
	MockEnv(map[string]string{"KOS_MOCK_SLOW_MIN_MS": "150000", "KOS_MOCK_SLOW_MAX_MS": "150000"})
	os.Exit(m.Run())
}

// counting counts the exchanges that reach KOS-Mock and what they carried.
type counting struct {
	n        atomic.Int64
	scenario atomic.Value
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	c.scenario.Store(r.Header.Get(kos.ScenarioHeader))
	return http.DefaultTransport.RoundTrip(r)
}

// mock serves KOS-Mock and returns a client of it with the given settings.
func mock(t *testing.T, mod func(*config.KOS)) (*kos.Client, *counting) {
	t.Helper()
	h := fntest.New(t, nil)
	srv := h.Serve(t, kosmock.Service())
	cfg := config.KOS{BaseURL: srv.URL, TimeoutMS: 5000, BreakerFailures: 5, BreakerOpenSeconds: 10, ScenarioHeader: true}
	if mod != nil {
		mod(&cfg)
	}
	ct := &counting{}
	c, err := kos.New(kos.Options{Config: cfg, ServiceName: "MVNO-BILL-INQUIRY", Log: h.Log, Transport: ct,
		Backoff: []time.Duration{20 * time.Millisecond, 60 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return c, ct
}

func billCall(line, month, id string) kos.Call {
	return kos.Call{Op: "bill_inquiry", Method: "POST", Path: "/api/v1/kos/bill/inquiry", RequestID: id, Retries: 2,
		Body: map[string]string{"lineNumber": line, "billingMonth": month, "requestId": id}}
}

func month(back int) string {
	t := time.Now().In(httpx.Seoul())
	return time.Date(t.Year(), t.Month(), 1, 12, 0, 0, 0, httpx.Seoul()).AddDate(0, -back, 0).Format("200601")
}

type billData struct {
	RequestID  string `json:"requestId"`
	ProcStatus string `json:"procStatus"`
	ResultCode string `json:"resultCode"`
	BillInfo   struct {
		LineNumber   string `json:"lineNumber"`
		BillingMonth string `json:"billingMonth"`
		TotalFee     int64  `json:"totalFee"`
	} `json:"billInfo"`
	CustomerInfo struct {
		LineStatus string `json:"lineStatus"`
	} `json:"customerInfo"`
}

func outcome(err error) kos.Outcome {
	var ke *kos.Error
	if errors.As(err, &ke) {
		return ke.Outcome
	}
	return ""
}

func TestBillInquiryAnswer(t *testing.T) {
	t.Parallel()
	c, ct := mock(t, nil)
	m := month(0)
	resp, err := c.Do(context.Background(), billCall("01012345678", m, "REQ_20250908_0123456789ABCDEF"))
	if err != nil || !resp.OK() || resp.Status != 200 {
		t.Fatalf("Do = %+v, %v", resp, err)
	}
	var d billData
	if err := resp.Decode(&d); err != nil {
		t.Fatal(err)
	}
	if d.RequestID != "REQ_20250908_0123456789ABCDEF" || d.ProcStatus != "SUCCESS" || d.ResultCode != "0000" ||
		d.BillInfo.LineNumber != "01012345678" || d.BillInfo.BillingMonth != m || d.BillInfo.TotalFee != 76500 ||
		d.CustomerInfo.LineStatus != "ACTIVE" {
		t.Fatalf("data = %+v", d)
	}
	if ct.n.Load() != 1 {
		t.Fatalf("%d exchanges, want 1", ct.n.Load())
	}
}

func TestBusinessRefusalsAreAnswersWithoutRetry(t *testing.T) {
	t.Parallel()
	c, ct := mock(t, func(k *config.KOS) { k.BreakerFailures = 1 })
	cases := []struct{ line, month, code string }{
		{"01012345678", month(12), "1003"},
		{"01000000000", month(0), "1001"},
		{"01033334444", month(0), "1002"},
	}
	for _, tc := range cases {
		resp, err := c.Do(context.Background(), billCall(tc.line, tc.month, "REQ_X"))
		if err != nil || resp.OK() || resp.Success || resp.ResultCode != tc.code || resp.Status != 200 {
			t.Fatalf("%s/%s = %+v, %v; want answer %s", tc.line, tc.month, resp, err, tc.code)
		}
	}
	if ct.n.Load() != int64(len(cases)) {
		t.Fatalf("%d exchanges, want %d (refusals are not retried)", ct.n.Load(), len(cases))
	}
	if c.BreakerState() != "closed" {
		t.Fatalf("breaker %s after refusals", c.BreakerState())
	}
}

func TestValidationFailureIsAnAnswer(t *testing.T) {
	t.Parallel()
	c, ct := mock(t, nil)
	resp, err := c.Do(context.Background(), billCall("12345", month(0), "REQ_X"))
	if err != nil || resp.Status != 400 || resp.ResultCode != "9001" || resp.Success {
		t.Fatalf("Do = %+v, %v; want a 400 9001 answer", resp, err)
	}
	if ct.n.Load() != 1 {
		t.Fatalf("%d exchanges, want 1", ct.n.Load())
	}
}

func TestForcedErrorIsRetriedThenUnknown(t *testing.T) {
	t.Parallel()
	c, ct := mock(t, nil)
	call := billCall("01012345678", month(0), "REQ_X")
	call.Scenario = "error"
	var codes []string
	call.OnAttempt = func(a kos.Attempt) {
		if a.Response != nil {
			codes = append(codes, a.Response.ResultCode)
		}
	}
	_, err := c.Do(context.Background(), call)
	if outcome(err) != kos.OutcomeSystemError {
		t.Fatalf("Do error = %v, want system_error", err)
	}
	if ct.n.Load() != 3 || len(codes) != 3 || codes[0] != "9999" || ct.scenario.Load() != "error" {
		t.Fatalf("%d exchanges, codes %v, scenario %v", ct.n.Load(), codes, ct.scenario.Load())
	}
}

func TestForcedDelayPastTheTimeout(t *testing.T) {
	t.Parallel()
	c, ct := mock(t, func(k *config.KOS) { k.TimeoutMS = 150 })
	call := billCall("01012345678", month(0), "REQ_X")
	call.Scenario = "delay"
	start := time.Now()
	_, err := c.Do(context.Background(), call)
	if outcome(err) != kos.OutcomeTimeout {
		t.Fatalf("Do error = %v, want timeout", err)
	}
	if elapsed := time.Since(start); elapsed > 2*(3*150*time.Millisecond+90*time.Millisecond) {
		t.Fatalf("3 timed-out attempts took %v", elapsed)
	}
	if ct.n.Load() != 3 {
		t.Fatalf("%d exchanges, want 3", ct.n.Load())
	}
	// The same delay inside the timeout is a normal answer.
	c2, _ := mock(t, func(k *config.KOS) { k.TimeoutMS = 5000 })
	resp, err := c2.Do(context.Background(), call)
	if err != nil || !resp.OK() {
		t.Fatalf("delay inside the timeout = %+v, %v", resp, err)
	}
}

func TestScenarioNotSentWhenDisabled(t *testing.T) {
	t.Parallel()
	c, ct := mock(t, func(k *config.KOS) { k.ScenarioHeader = false })
	call := billCall("01012345678", month(0), "REQ_X")
	call.Scenario = "error"
	resp, err := c.Do(context.Background(), call)
	if err != nil || !resp.OK() || ct.scenario.Load() != "" {
		t.Fatalf("Do = %+v, %v, scenario sent %q", resp, err, ct.scenario.Load())
	}
}

func TestAvailableMonths(t *testing.T) {
	t.Parallel()
	c, _ := mock(t, nil)
	resp, err := c.Do(context.Background(), kos.Call{Op: "bill_available_months", Method: "GET",
		Path: "/api/v1/kos/bill/available-months/01012345678"})
	if err != nil || !resp.OK() {
		t.Fatalf("Do = %+v, %v", resp, err)
	}
	var d struct {
		LineNumber      string   `json:"lineNumber"`
		AvailableMonths []string `json:"availableMonths"`
	}
	if err := resp.Decode(&d); err != nil {
		t.Fatal(err)
	}
	cur := month(0)
	if d.LineNumber != "01012345678" || len(d.AvailableMonths) < 6 || d.AvailableMonths[0] != cur[:4]+"-"+cur[4:] {
		t.Fatalf("months = %+v", d)
	}
	resp, err = c.Do(context.Background(), kos.Call{Op: "bill_available_months", Method: "GET",
		Path: "/api/v1/kos/bill/available-months/01000000000"})
	if err != nil || resp.ResultCode != "1001" {
		t.Fatalf("unknown line = %+v, %v", resp, err)
	}
}

func TestBreakerTripsOnForcedErrors(t *testing.T) {
	t.Parallel()
	c, ct := mock(t, func(k *config.KOS) { k.BreakerFailures = 3; k.BreakerOpenSeconds = 1 })
	call := billCall("01012345678", month(0), "REQ_X")
	call.Scenario = "error"
	_, _ = c.Do(context.Background(), call)
	if c.BreakerState() != "open" || ct.n.Load() != 3 {
		t.Fatalf("breaker %s after %d errors", c.BreakerState(), ct.n.Load())
	}
	if _, err := c.Do(context.Background(), billCall("01012345678", month(0), "REQ_Y")); !kos.IsBreakerOpen(err) {
		t.Fatalf("Do while open = %v", err)
	}
	if ct.n.Load() != 3 {
		t.Fatalf("%d exchanges, want 3 (none while open)", ct.n.Load())
	}
	time.Sleep(1100 * time.Millisecond)
	if resp, err := c.Do(context.Background(), billCall("01012345678", month(0), "REQ_Z")); err != nil || !resp.OK() {
		t.Fatalf("probe = %+v, %v", resp, err)
	}
	if c.BreakerState() != "closed" {
		t.Fatalf("breaker %s after a good probe", c.BreakerState())
	}
}

// A KOS_BASE_URL with a path (a carrier gateway's prefix) keeps it: KOS-Mock
// served only under that prefix answers reads with a query and writes.
func TestBaseURLKeepsItsPathPrefix(t *testing.T) {
	t.Parallel()
	h := fntest.New(t, nil)
	kosSrv := h.Serve(t, kosmock.Service())
	gw := httptest.NewServer(http.StripPrefix("/gw/kos", kosSrv.Config.Handler))
	t.Cleanup(gw.Close)
	for _, base := range []string{gw.URL + "/gw/kos", gw.URL + "/gw/kos/"} {
		c, err := kos.New(kos.Options{Config: config.KOS{BaseURL: base, TimeoutMS: 5000, BreakerFailures: 5,
			BreakerOpenSeconds: 10}, ServiceName: "MVNO-PRODUCT-CHANGE", Log: h.Log})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(context.Background(), kos.Call{Op: "customer_info", Method: "GET",
			Path: "/api/v1/customer-info?lineNumber=01012345678", RequestID: "REQ_PREFIX"})
		if err != nil || !resp.OK() {
			t.Fatalf("base %s: customer-info = %+v, %v", base, resp, err)
		}
		var cust struct {
			LineNumber string `json:"lineNumber"`
		}
		if err := resp.Decode(&cust); err != nil || cust.LineNumber != "01012345678" {
			t.Fatalf("base %s: customer %+v, %v", base, cust, err)
		}
		resp, err = c.Do(context.Background(), billCall("01012345678", month(0), "REQ_PREFIX"))
		if err != nil || !resp.OK() {
			t.Fatalf("base %s: bill inquiry = %+v, %v", base, resp, err)
		}
	}
}
