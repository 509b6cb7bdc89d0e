package bill

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"phonebill/shared/cache"
	"phonebill/shared/config"
	"phonebill/shared/db"
	"phonebill/shared/testenv/faults"
)

var requestIDPattern = regexp.MustCompile(`^REQ_\d{8}_[0-9A-F]{16}$`)

// dueDate is the seed's due date of billing month m: the 25th of the next month.
func dueDate(m string) string {
	t, _ := time.ParseInLocation("200601", m, seoul)
	return t.AddDate(0, 1, 0).Format("200601") + "25"
}

func TestInquirySuccessThenCacheHit(t *testing.T) {
	t.Parallel()
	te := setup(t, setupOpts{})
	tok := te.token(t, user01)
	m := month(0)

	a := te.inquire(t, tok, "010-1234-5678", m)
	if a.Status != 200 || !a.Success || a.ResultCode != "0000" || a.Message != MsgInquiryOK || a.ResultMessage != MsgInquiryOK {
		t.Fatalf("inquiry = %d %+v", a.Status, a)
	}
	var d InquiryData
	if err := json.Unmarshal(a.Data, &d); err != nil {
		t.Fatal(err)
	}
	want := BillInfo{LineNumber: "01012345678", BillingMonth: m, ProductCode: "5G-STANDARD-001",
		ProductName: "5G 스탠다드 플랜", MonthlyFee: 69000, UsageFee: 12500, DiscountAmount: 5000, TotalFee: 76500,
		DataUsage: "45GB", VoiceUsage: "210분", SMSUsage: "35건", BillStatus: "CONFIRMED", DueDate: dueDate(m)}
	if d.BillInfo != want {
		t.Fatalf("billInfo = %+v\nwant        %+v", d.BillInfo, want)
	}
	wantCust := CustomerInfo{CustomerName: "홍길동", CustomerID: "CUST001", OperatorCode: "KT", LineStatus: "ACTIVE"}
	if d.CustomerInfo != wantCust {
		t.Fatalf("customerInfo = %+v, want %+v", d.CustomerInfo, wantCust)
	}
	if !requestIDPattern.MatchString(d.RequestID) || d.ProcStatus != "SUCCESS" || d.ResultCode != "0000" ||
		d.ResultMessage != "정상 처리되었습니다" || d.CacheHit {
		t.Fatalf("data = %+v", d)
	}
	// Every client-read field is present in the JSON, zero values included.
	var rawData map[string]map[string]any
	_ = json.Unmarshal(a.Data, &rawData)
	for _, k := range []string{"lineNumber", "billingMonth", "productCode", "productName", "monthlyFee", "usageFee",
		"discountAmount", "totalFee", "dataUsage", "voiceUsage", "smsUsage", "billStatus", "dueDate"} {
		if _, ok := rawData["billInfo"][k]; !ok {
			t.Errorf("billInfo.%s missing from the JSON", k)
		}
	}
	if _, ok := a.raw["data"].(map[string]any)["cacheHit"]; !ok {
		t.Error("data.cacheHit missing")
	}
	if !regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$`).MatchString(a.Timestamp) {
		t.Errorf("timestamp %q is not yyyy-MM-ddTHH:mm:ss", a.Timestamp)
	}
	if n := te.calls.count(inquiryPath); n != 1 {
		t.Fatalf("KOS bill calls = %d, want 1", n)
	}

	// The history: one COMPLETED row, one KOS attempt.
	row := te.historyRow(t, d.RequestID)
	if row.Status != StatusCompleted || str(row.ResultCode) != "0000" || row.CacheHit || row.UserID != "testuser01" ||
		row.Line != "01012345678" || row.Month != m || str(row.Summary) != "5G 스탠다드 플랜 "+m+" 총 76,500원" ||
		row.ErrMsg != nil {
		t.Fatalf("history row = %+v (code %s, summary %s)", row, str(row.ResultCode), str(row.Summary))
	}
	if row.ProcessTime == nil || row.ProcessTime.Before(row.RequestTime) {
		t.Fatalf("timings: request %v process %v", row.RequestTime, row.ProcessTime)
	}
	if since := time.Since(db.Local(row.RequestTime)); since < -time.Second || since > time.Minute {
		t.Fatalf("request_time %v is not the Seoul wall clock of now (off by %v)", row.RequestTime, since)
	}
	var stored BillInfo
	if err := json.Unmarshal(row.BillJSON, &stored); err != nil || stored != want {
		t.Fatalf("bill_info_json = %s (%v)", row.BillJSON, err)
	}
	kr := te.kosRows(t, d.RequestID)
	if len(kr) != 1 || str(kr[0].Code) != "0000" || kr[0].Retry != 0 || len(kr[0].Data) == 0 || kr[0].ErrDetail != nil ||
		kr[0].Line != "01012345678" || kr[0].Month != m || kr[0].End.Before(kr[0].Start) {
		t.Fatalf("kos rows = %+v", kr)
	}

	// The second inquiry of the month, in the other spellings, comes from
	// the cache: no KOS call, one COMPLETED cache_hit row, a fresh id.
	a2 := te.inquire(t, tok, "01012345678", m[:4]+"-"+m[4:])
	var d2 InquiryData
	if err := json.Unmarshal(a2.Data, &d2); err != nil || a2.Status != 200 || !a2.Success {
		t.Fatalf("second inquiry = %d %+v", a2.Status, a2)
	}
	if !d2.CacheHit || d2.BillInfo != want || d2.CustomerInfo != wantCust || d2.RequestID == d.RequestID ||
		!requestIDPattern.MatchString(d2.RequestID) {
		t.Fatalf("cached data = %+v", d2)
	}
	if n := te.calls.count(inquiryPath); n != 1 {
		t.Fatalf("KOS bill calls = %d after a cache hit, want still 1", n)
	}
	row2 := te.historyRow(t, d2.RequestID)
	if row2.Status != StatusCompleted || !row2.CacheHit || str(row2.ResultCode) != "0000" || row2.ProcessTime == nil ||
		str(row2.Summary) != str(row.Summary) {
		t.Fatalf("cache-hit row = %+v", row2)
	}
	if kr := te.kosRows(t, d2.RequestID); len(kr) != 0 {
		t.Fatalf("cache hit recorded %d KOS attempts", len(kr))
	}
	if ttl := te.h.Cache.Client().TTL(context.Background(), te.h.Cache.Key("bill:data:01012345678:"+m)).Val(); ttl < 29*time.Minute || ttl > 30*time.Minute {
		t.Fatalf("bill cache TTL = %v, want 30 min", ttl)
	}

	// Without a month: the current month (from the cache too).
	a3 := te.inquire(t, tok, "010-1234-5678", "")
	var d3 InquiryData
	_ = json.Unmarshal(a3.Data, &d3)
	if !a3.Success || d3.BillInfo.BillingMonth != month(0) {
		t.Fatalf("inquiry without month = %+v", d3)
	}
	if got := metricValue(t, te, "phonebill_bill_cache_lookups_total", map[string]string{"cache": "data", "result": "hit"}); got != 2 {
		t.Fatalf("cache hits metric = %v, want 2", got)
	}
	if got := metricValue(t, te, "phonebill_bill_cache_lookups_total", map[string]string{"cache": "data", "result": "miss"}); got != 1 {
		t.Fatalf("cache misses metric = %v, want 1", got)
	}
	if got := metricValue(t, te, "phonebill_kos_calls_total", map[string]string{"op": "bill_inquiry", "outcome": "ok"}); got != 1 {
		t.Fatalf("KOS ok calls metric = %v, want 1", got)
	}
}

func TestInquiryOlderMonthHasOtherFigures(t *testing.T) {
	t.Parallel()
	te := setup(t, setupOpts{})
	m := month(3)
	a := te.inquire(t, te.token(t, user02, "BILL_INQUIRY"), "010-8765-4321", m)
	var d InquiryData
	_ = json.Unmarshal(a.Data, &d)
	want := BillInfo{LineNumber: "01087654321", BillingMonth: m, ProductCode: "LTE-BASIC-001",
		ProductName: "LTE 베이직 플랜", MonthlyFee: 39000, UsageFee: 5800, DiscountAmount: 0, TotalFee: 44800,
		DataUsage: "15GB", VoiceUsage: "110분", SMSUsage: "9건", BillStatus: "CONFIRMED", DueDate: dueDate(m)}
	if !a.Success || d.BillInfo != want {
		t.Fatalf("inquiry = %+v\nbill %+v\nwant %+v", a, d.BillInfo, want)
	}
	// discountAmount 0 is sent, not omitted.
	if v, ok := a.raw["data"].(map[string]any)["billInfo"].(map[string]any)["discountAmount"]; !ok || v != float64(0) {
		t.Fatalf("discountAmount = %v (present %v)", v, ok)
	}
}

func TestInquiryValidation(t *testing.T) {
	t.Parallel()
	te := setup(t, setupOpts{})
	tok := te.token(t, user01)
	cases := []struct {
		name string
		body any
		msg  string
	}{
		{"missing line", map[string]string{"inquiryMonth": "202509"}, MsgBadLine},
		{"short line", map[string]string{"lineNumber": "010-1234-567"}, MsgBadLine},
		{"not 010", map[string]string{"lineNumber": "011-1234-5678"}, MsgBadLine},
		{"month 13", map[string]string{"lineNumber": "010-1234-5678", "inquiryMonth": "202513"}, MsgBadMonth},
		{"month with slash", map[string]string{"lineNumber": "010-1234-5678", "inquiryMonth": "2025/09"}, MsgBadMonth},
		{"month too short", map[string]string{"lineNumber": "010-1234-5678", "inquiryMonth": "20259"}, MsgBadMonth},
		{"month words", map[string]string{"lineNumber": "010-1234-5678", "inquiryMonth": "sept"}, MsgBadMonth},
		{"empty body", "", MsgBadLine},
		{"malformed JSON", `{"lineNumber":`, "요청 데이터 형식이 올바르지 않습니다"},
		{"wrong type", `{"lineNumber": 1012345678}`, "요청 데이터 형식이 올바르지 않습니다"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := te.do(t, "POST", "/api/v1/bills/inquiry", tok, c.body)
			if a.Status != 400 || a.Success || a.ResultCode != "INVALID_REQUEST" || a.Message != c.msg ||
				a.Error == nil || a.Error.Code != "INVALID_REQUEST" || a.Error.Message != c.msg || a.Data != nil {
				t.Fatalf("= %d %+v; want 400 %q", a.Status, a, c.msg)
			}
		})
	}
	if n := te.calls.total.Load(); n != 0 {
		t.Fatalf("invalid requests made %d KOS calls", n)
	}
	if n := te.countRows(t, `SELECT count(*) FROM bill_inquiry.bill_inquiry_history`); n != 0 {
		t.Fatalf("invalid requests wrote %d history rows", n)
	}
}

func TestInquiryAuthorization(t *testing.T) {
	t.Parallel()
	te := setup(t, setupOpts{})
	// Another customer's line, either spelling.
	for _, line := range []string{"010-8765-4321", "01087654321"} {
		a := te.inquire(t, te.token(t, user01), line, month(0))
		if a.Status != 403 || a.ResultCode != "UNAUTHORIZED_LINE_NUMBER" || a.Message != "조회 권한이 없는 회선번호입니다" {
			t.Fatalf("other line %s = %d %+v", line, a.Status, a)
		}
	}
	// Without BILL_INQUIRY.
	a := te.inquire(t, te.token(t, user01, "PRODUCT_CHANGE"), "010-1234-5678", month(0))
	if a.Status != 403 || a.ResultCode != "ACCESS_DENIED" || a.Message != "서비스 이용 권한이 없습니다" {
		t.Fatalf("without permission = %d %+v", a.Status, a)
	}
	// Without a token.
	if a := te.inquire(t, "", "010-1234-5678", month(0)); a.Status != 401 || a.ResultCode != "UNAUTHORIZED" {
		t.Fatalf("without token = %d %+v", a.Status, a)
	}
	if n := te.calls.total.Load(); n != 0 {
		t.Fatalf("refused requests made %d KOS calls", n)
	}
	if n := te.countRows(t, `SELECT count(*) FROM bill_inquiry.bill_inquiry_history`); n != 0 {
		t.Fatalf("refused requests wrote %d history rows", n)
	}
	// An admin may read any line.
	a = te.inquire(t, te.token(t, admin, "ADMIN", "BILL_INQUIRY"), "010-8765-4321", month(0))
	var d InquiryData
	_ = json.Unmarshal(a.Data, &d)
	if a.Status != 200 || !a.Success || d.BillInfo.LineNumber != "01087654321" || d.BillInfo.TotalFee != 43200 {
		t.Fatalf("admin on another line = %d %+v", a.Status, d)
	}
	if row := te.historyRow(t, d.RequestID); row.UserID != "admin" || row.Line != "01087654321" {
		t.Fatalf("admin's row = %+v", row)
	}
}

// assertFailure checks a business failure: HTTP 200, success:false, no data.
func assertFailure(t *testing.T, a answer, code, msg string) string {
	t.Helper()
	if a.Status != 200 || a.Success || a.ResultCode != code || a.Message != msg || a.ResultMessage != msg ||
		a.Error == nil || a.Error.Code != code || a.Error.Message != msg {
		t.Fatalf("= %d %+v; want 200 success:false %s %q", a.Status, a, code, msg)
	}
	if _, ok := a.raw["data"]; ok {
		t.Fatalf("failure carries data: %v", a.raw["data"])
	}
	id := regexp.MustCompile(`REQ_\d{8}_[0-9A-F]{16}`).FindString(a.Error.Details)
	if id == "" {
		t.Fatalf("failure details %q name no request id", a.Error.Details)
	}
	return id
}

func TestInquiryMonthWithoutBill(t *testing.T) {
	t.Parallel()
	te := setup(t, setupOpts{})
	tok := te.token(t, user01)
	m := month(12)
	id := assertFailure(t, te.inquire(t, tok, "010-1234-5678", m), "1003", "해당 월 요금 정보가 없습니다")
	row := te.historyRow(t, id)
	if row.Status != StatusFailed || str(row.ResultCode) != "1003" || str(row.ErrMsg) != "해당 월 요금 정보가 없습니다" ||
		row.ProcessTime == nil || row.CacheHit || row.BillJSON != nil || row.Month != m {
		t.Fatalf("history row = %+v", row)
	}
	// A refusal is not retried: one attempt.
	kr := te.kosRows(t, id)
	if len(kr) != 1 || str(kr[0].Code) != "1003" || te.calls.count(inquiryPath) != 1 {
		t.Fatalf("kos rows = %+v, calls %d", kr, te.calls.count(inquiryPath))
	}
	// Failures are never cached: asking again asks KOS again.
	assertFailure(t, te.inquire(t, tok, "010-1234-5678", m), "1003", "해당 월 요금 정보가 없습니다")
	if n := te.calls.count(inquiryPath); n != 2 {
		t.Fatalf("KOS bill calls = %d, want 2 (failures not cached)", n)
	}
}

func TestInquirySuspendedLine(t *testing.T) {
	t.Parallel()
	te := setup(t, setupOpts{})
	id := assertFailure(t, te.inquire(t, te.token(t, user03), "010-3333-4444", month(0)), "1002", "비활성 상태의 회선입니다")
	if row := te.historyRow(t, id); row.Status != StatusFailed || str(row.ResultCode) != "1002" {
		t.Fatalf("history row = %+v", row)
	}
}

func TestInquiryUnknownLineForAdmin(t *testing.T) {
	t.Parallel()
	te := setup(t, setupOpts{})
	id := assertFailure(t, te.inquire(t, te.token(t, admin, "ADMIN", "BILL_INQUIRY"), "010-0000-0000", month(0)),
		"1001", "존재하지 않는 회선번호입니다")
	if row := te.historyRow(t, id); row.Status != StatusFailed || str(row.ResultCode) != "1001" {
		t.Fatalf("history row = %+v", row)
	}
}

func TestInquiryKOSErrorIsRetriedThenFails(t *testing.T) {
	t.Parallel()
	te := setup(t, setupOpts{})
	tok := te.token(t, user01)
	id := assertFailure(t, te.inquire(t, tok, "010-1234-5678", month(1), "X-Mock-Scenario", "error"), CodeKOSError, MsgKOSError)
	row := te.historyRow(t, id)
	if row.Status != StatusFailed || str(row.ResultCode) != CodeKOSError || row.ProcessTime == nil || row.BillJSON != nil {
		t.Fatalf("history row = %+v", row)
	}
	kr := te.kosRows(t, id)
	if len(kr) != 3 {
		t.Fatalf("kos rows = %d, want 3 (1 + 2 retries)", len(kr))
	}
	for i, r := range kr {
		if r.Retry != i || str(r.Code) != "9999" || str(r.Message) != "시스템 오류가 발생했습니다" || r.ErrDetail == nil {
			t.Fatalf("kos row %d = %+v (code %s msg %s)", i, r, str(r.Code), str(r.Message))
		}
		if i > 0 && r.Start.Before(kr[i-1].End) {
			t.Fatalf("retry %d started before attempt %d ended", i, i-1)
		}
	}
	if n := te.calls.count(inquiryPath); n != 3 {
		t.Fatalf("KOS bill calls = %d, want 3", n)
	}
	if _, ok := te.h.Cache.GetBytes(context.Background(), "bill:data:01012345678:"+month(1)); ok {
		t.Fatal("a failure was cached")
	}
	// KOS is healthy again: the same month now succeeds from KOS.
	a := te.inquire(t, tok, "010-1234-5678", month(1))
	var d InquiryData
	_ = json.Unmarshal(a.Data, &d)
	if !a.Success || d.CacheHit || d.BillInfo.TotalFee != 72300 {
		t.Fatalf("after recovery = %+v", a)
	}
}

func TestInquiryKOSSlowerThanTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	te := setup(t, setupOpts{kos: func(k *config.KOS) { k.TimeoutMS = int(timeout / time.Millisecond) }})
	start := time.Now()
	id := assertFailure(t, te.inquire(t, te.token(t, user01), "010-1234-5678", month(0), "X-Mock-Scenario", "delay"),
		CodeKOSError, MsgKOSError)
	elapsed := time.Since(start)
	// 3 attempts of 200 ms plus at most 150 + 450 ms of jittered backoff.
	budget := 3*timeout + 600*time.Millisecond
	if elapsed > 2*budget {
		t.Fatalf("answer took %v, budget %v", elapsed, budget)
	}
	kr := te.kosRows(t, id)
	if len(kr) != 3 {
		t.Fatalf("kos rows = %d, want 3", len(kr))
	}
	for _, r := range kr {
		if str(r.Code) != "TIMEOUT" || r.End.Sub(r.Start) > timeout+300*time.Millisecond {
			t.Fatalf("kos row = %+v (code %s)", r, str(r.Code))
		}
	}
	if row := te.historyRow(t, id); row.Status != StatusFailed || str(row.ResultCode) != CodeKOSError {
		t.Fatalf("history row = %+v", row)
	}
}

func TestInquiryBoundedByRequestDeadline(t *testing.T) {
	t.Parallel()
	const deadline = 600 * time.Millisecond
	// The per-call timeout (5 s) would wait out the slow answer (1.5 s); the
	// request deadline must not.
	te := setup(t, setupOpts{cfg: func(c *Config) { c.Deadline = deadline }})
	start := time.Now()
	id := assertFailure(t, te.inquire(t, te.token(t, user01), "010-1234-5678", month(0), "X-Mock-Scenario", "delay"),
		CodeKOSError, MsgKOSError)
	if elapsed := time.Since(start); elapsed > 2*deadline || elapsed >= slowKOS {
		t.Fatalf("answer took %v, deadline %v", elapsed, deadline)
	}
	row := te.historyRow(t, id)
	if row.Status != StatusFailed || row.ProcessTime == nil {
		t.Fatalf("history row = %+v", row)
	}
	if kr := te.kosRows(t, id); len(kr) != 1 || str(kr[0].Code) != "TIMEOUT" {
		t.Fatalf("kos rows = %+v", kr)
	}
}

func TestInquiryCompletesAfterClientLeaves(t *testing.T) {
	t.Parallel()
	te := setup(t, setupOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	body := `{"lineNumber":"010-1234-5678","inquiryMonth":"` + month(2) + `"}`
	req, _ := http.NewRequestWithContext(ctx, "POST", te.srv.URL+"/api/v1/bills/inquiry", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+te.token(t, user01))
	req.Header.Set("X-Mock-Scenario", "delay")
	req.Header.Set("Content-Type", "application/json")
	if res, err := te.srv.Client().Do(req); err == nil {
		res.Body.Close()
		t.Fatal("the request was expected to be abandoned")
	}
	// The row ends COMPLETED once KOS answers, and the bill is cached.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var status string
		err := te.h.Pool.QueryRow(context.Background(),
			`SELECT status FROM bill_inquiry.bill_inquiry_history WHERE inquiry_month = $1`, month(2)).Scan(&status)
		if err == nil && status == StatusCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("row still %q (%v) long after the client left", status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, ok := te.h.Cache.GetBytes(context.Background(), "bill:data:01012345678:"+month(2)); !ok {
		t.Fatal("the bill KOS sent was not cached")
	}
}

func TestBreakerOpensAndRecovers(t *testing.T) {
	t.Parallel()
	te := setup(t, setupOpts{kos: func(k *config.KOS) { k.BreakerFailures = 3; k.BreakerOpenSeconds = 1 }})
	tok := te.token(t, user01)
	// 1 try + 2 retries, all 9999: three consecutive failures open it.
	assertFailure(t, te.inquire(t, tok, "010-1234-5678", month(0), "X-Mock-Scenario", "error"), CodeKOSError, MsgKOSError)
	if s := te.kos.BreakerState(); s != "open" {
		t.Fatalf("breaker %s, want open", s)
	}
	if n := te.calls.count(inquiryPath); n != 3 {
		t.Fatalf("KOS calls = %d, want 3", n)
	}
	// While open: the failure answer with no KOS call and no attempt rows
	// (the counts below prove the fail-fast; no wall-clock bound).
	id := assertFailure(t, te.inquire(t, tok, "010-1234-5678", month(0)), CodeKOSError, MsgKOSError)
	if n := te.calls.count(inquiryPath); n != 3 {
		t.Fatalf("KOS calls = %d while open, want still 3", n)
	}
	if row := te.historyRow(t, id); row.Status != StatusFailed || len(te.kosRows(t, id)) != 0 {
		t.Fatalf("open-breaker row = %+v, kos rows %d", row, len(te.kosRows(t, id)))
	}
	if got := metricValue(t, te, "phonebill_kos_breaker_state", nil); got != 2 {
		t.Fatalf("breaker gauge = %v, want 2", got)
	}
	// After the open period the probe goes through and closes it.
	time.Sleep(1100 * time.Millisecond)
	a := te.inquire(t, tok, "010-1234-5678", month(0))
	if !a.Success {
		t.Fatalf("after recovery = %+v", a)
	}
	if s := te.kos.BreakerState(); s != "closed" {
		t.Fatalf("breaker %s after a good probe, want closed", s)
	}
	if n := te.calls.count(inquiryPath); n != 4 {
		t.Fatalf("KOS calls = %d, want 4", n)
	}
	// Cached months keep answering whatever the breaker does.
	a = te.inquire(t, tok, "010-1234-5678", month(0))
	var d InquiryData
	_ = json.Unmarshal(a.Data, &d)
	if !d.CacheHit {
		t.Fatalf("expected a cache hit: %+v", a)
	}
}

func TestInquiryWithoutRedis(t *testing.T) {
	t.Parallel()
	redis := faults.RedisFor(t)
	h := cache.New(config.Redis{Addr: redis.Addr, KeyPrefix: "billtest:"}, nil)
	t.Cleanup(func() { _ = h.Close() })
	te := setup(t, setupOpts{cache: h})
	tok := te.token(t, user01)
	m := month(0)

	a := te.inquire(t, tok, "010-1234-5678", m)
	if !a.Success {
		t.Fatalf("first = %+v", a)
	}
	var d InquiryData
	_ = json.Unmarshal(te.inquire(t, tok, "010-1234-5678", m).Data, &d)
	if !d.CacheHit {
		t.Fatal("second inquiry was not a cache hit while Redis ran")
	}
	redis.Stop()

	// Redis gone: a miss, answered from KOS, recorded, not slow.
	start := time.Now()
	a = te.inquire(t, tok, "010-1234-5678", m)
	_ = json.Unmarshal(a.Data, &d)
	if a.Status != 200 || !a.Success || d.CacheHit || d.BillInfo.TotalFee != 76500 {
		t.Fatalf("without Redis = %d %+v", a.Status, a)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Fatalf("inquiry without Redis took %v", elapsed)
	}
	if row := te.historyRow(t, d.RequestID); row.Status != StatusCompleted || row.CacheHit {
		t.Fatalf("history row = %+v", row)
	}
	if n := te.calls.count(inquiryPath); n != 2 {
		t.Fatalf("KOS calls = %d, want 2", n)
	}
	// The menu and the history still answer.
	menu := te.do(t, "GET", "/api/v1/bills/menu", tok, nil)
	var md MenuData
	_ = json.Unmarshal(menu.Data, &md)
	if menu.Status != 200 || !menu.Success || len(md.AvailableMonths) != 6 || md.AvailableMonths[0] != dashedMonth(m) {
		t.Fatalf("menu without Redis = %d %+v", menu.Status, md)
	}
	hist := te.do(t, "GET", "/api/v1/bills/history", tok, nil)
	var page HistoryPage
	_ = json.Unmarshal(hist.Data, &page)
	if hist.Status != 200 || page.Pagination.TotalItems != 3 {
		t.Fatalf("history without Redis = %d %+v", hist.Status, page.Pagination)
	}
}
