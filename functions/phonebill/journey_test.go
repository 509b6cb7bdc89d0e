package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"phonebill/functions/routes"
	"phonebill/shared/fn/fntest"
)

// exchange is one request and its answer, kept so other tests (the OpenAPI
// check) can validate what the client actually receives.
type exchange struct {
	Method, Path string
	Req          *http.Request
	ReqBody      []byte
	Status       int
	Header       http.Header
	Body         []byte
}

// journey drives the all-in-one over HTTP with exactly the web client's
// requests and records every exchange.
type journey struct {
	t     *testing.T
	base  string
	token string
	log   []exchange
}

func (j *journey) do(method, path, body string, hdr ...string) (int, map[string]any) {
	j.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, j.base+"/api/v1"+path, rd)
	if err != nil {
		j.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json") // axios sets it only with a body
	}
	if j.token != "" {
		req.Header.Set("Authorization", "Bearer "+j.token)
	}
	req.Header.Set("Origin", "http://localhost:3000")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		j.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "http://localhost:3000" {
		j.t.Errorf("%s %s: Access-Control-Allow-Origin = %q, want the client's origin", method, path, got)
	}
	j.log = append(j.log, exchange{Method: method, Path: "/api/v1" + path, Req: req, ReqBody: []byte(body),
		Status: res.StatusCode, Header: res.Header, Body: raw})
	var m map[string]any
	if len(raw) > 0 && json.Unmarshal(raw, &m) != nil {
		j.t.Fatalf("%s %s: body is not a JSON object: %s", method, path, raw)
	}
	return res.StatusCode, m
}

// must asserts the status and returns the body.
func (j *journey) must(status int, method, path, body string, hdr ...string) map[string]any {
	j.t.Helper()
	got, m := j.do(method, path, body, hdr...)
	if got != status {
		j.t.Fatalf("%s %s = %d, want %d: %v", method, path, got, status, m)
	}
	return m
}

// field walks a dotted path ("data.billInfo.totalFee") through the body.
func field(m map[string]any, path string) any {
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = obj[k]
	}
	return cur
}

func (j *journey) expect(m map[string]any, want map[string]any) {
	j.t.Helper()
	for path, v := range want {
		if got := field(m, path); fmt.Sprint(got) != fmt.Sprint(v) {
			j.t.Errorf("%s = %v, want %v", path, got, v)
		}
	}
}

func (j *journey) present(m map[string]any, paths ...string) {
	j.t.Helper()
	for _, p := range paths {
		if field(m, p) == nil {
			j.t.Errorf("%s is missing (the client reads it)", p)
		}
	}
}

// serveAllInOne serves every route of the all-in-one in-process with KOS-Mock
// at the same address, deterministic KOS behaviour (SPEC §7).
func serveAllInOne(t *testing.T) (*fntest.Harness, string) {
	h := fntest.New(t, nil)
	base := h.Listen(t)
	t.Setenv("KOS_BASE_URL", base)
	t.Setenv("KOS_MOCK_ERROR_RATE", "0")
	t.Setenv("KOS_MOCK_DELAY_RATE", "0")
	t.Setenv("KOS_MOCK_LATENCY_SCALE", "0.01")
	t.Setenv("KOS_MOCK_SCENARIO_HEADER", "true")
	t.Setenv("JWT_SECRET", fntest.Secret)
	t.Setenv("BCRYPT_COST", "4")
	srv := h.Serve(t, routes.All()...)
	return h, srv.URL
}

// runJourney replays SPEC §7 (plus history checks) against the in-process
// all-in-one and returns the exchanges. beside, when set, starts work that
// runs alongside and returns its stop.
func runJourney(t *testing.T, beside ...func(*fntest.Harness) (stop func())) []exchange {
	h, base := serveAllInOne(t)
	for _, b := range beside {
		defer b(h)()
	}
	return journeyAt(t, base, h, 5*time.Second)
}

// journeyAt replays the journey against base; h (nil for a deployed system)
// gives the database for the final row check, evict is how long the bill
// cache may take to go after the change (the product.changed event's trip).
func journeyAt(t *testing.T, base string, h *fntest.Harness, evict time.Duration) []exchange {
	j := &journey{t: t, base: base}
	now := time.Now().In(seoul())
	thisMonth := now.Format("2006-01")
	lastMonth := time.Date(now.Year(), now.Month()-1, 1, 0, 0, 0, 0, seoul())

	// 0. Sign-up, then the mock-data button (no token).
	reg := j.must(200, "POST", "/auth/register", `{"userId":"newuser1","customerId":"123456AbCdEfGhIjKlMn","lineNumber":"010-5555-6666","userName":"김철수","password":"Passw0rd!","permissions":["BILL_INQUIRY","PRODUCT_CHANGE"]}`)
	j.expect(reg, map[string]any{"success": true, "data.user_id": "newuser1", "data.line_number": "010-5555-6666",
		"data.account_status": "ACTIVE"})
	mock := j.must(200, "POST", "/kos/mock-datas", `{"customerId":"123456AbCdEfGhIjKlMn","lineNumber":"01055556666"}`)
	j.expect(mock, map[string]any{"success": true, "data.customer_id": "123456AbCdEfGhIjKlMn", "data.bill_count_created": 6})
	if _, ok := mock["timestamp"].(float64); !ok {
		t.Errorf("mock-datas timestamp = %v, want epoch milliseconds", mock["timestamp"])
	}

	// 1. Login.
	login := j.must(200, "POST", "/auth/login", `{"userId":"testuser01","password":"test1234","autoLogin":false}`)
	j.expect(login, map[string]any{"token_type": "Bearer", "expires_in": 1800, "user_id": "testuser01",
		"customer_id": "CUST001", "line_number": "010-1234-5678"})
	j.present(login, "access_token", "refresh_token")
	j.token, _ = login["access_token"].(string)
	if strings.ContainsAny(strings.Split(j.token+"..", ".")[1], "-_") {
		t.Errorf("token payload contains '-' or '_': the client's atob() would fail")
	}

	// 2. Main page.
	user := j.must(200, "GET", "/users/testuser01", "")
	j.expect(user, map[string]any{"user_id": "testuser01", "customer_id": "CUST001", "user_name": "홍길동",
		"line_number": "010-1234-5678", "account_status": "ACTIVE"})
	if perms, _ := user["permissions"].([]any); !slices.Contains(perms, any("BILL_INQUIRY")) {
		t.Errorf("permissions = %v, want BILL_INQUIRY (the bill card)", user["permissions"])
	}
	cust := j.must(200, "GET", "/products/customer?lineNumber=01012345678", "")
	j.expect(cust, map[string]any{"success": true, "data.customerName": "홍길동", "data.lineNumber": "01012345678",
		"data.lineStatus": "ACTIVE", "data.currentProduct.productCode": "5G-STANDARD-001",
		"data.currentProduct.productName": "5G 스탠다드 플랜", "data.currentProduct.monthlyFee": 69000,
		"data.currentProduct.dataAllowance": "100GB", "data.currentProduct.voiceAllowance": "무제한"})

	// 3. Bill menu.
	menu := j.must(200, "GET", "/bills/menu", "")
	j.expect(menu, map[string]any{"success": true, "data.customerInfo.lineNumber": "010-1234-5678",
		"data.customerInfo.customerId": "CUST001", "data.currentMonth": thisMonth})
	months, _ := field(menu, "data.availableMonths").([]any)
	if len(months) != 6 || months[0] != thisMonth || months[1] != lastMonth.Format("2006-01") {
		t.Errorf("availableMonths = %v, want 6 months newest first from %s", months, thisMonth)
	}

	// 4. Bill inquiry of last month (the client sends the dashed line and YYYYMM).
	inq := fmt.Sprintf(`{"lineNumber":"010-1234-5678","inquiryMonth":"%s"}`, lastMonth.Format("200601"))
	bill := j.must(200, "POST", "/bills/inquiry", inq)
	j.expect(bill, map[string]any{"success": true, "data.cacheHit": false, "data.procStatus": "SUCCESS",
		"data.billInfo.billingMonth": lastMonth.Format("200601"), "data.billInfo.productName": "5G 스탠다드 플랜",
		"data.billInfo.monthlyFee": 69000, "data.billInfo.usageFee": 8300, "data.billInfo.discountAmount": 5000,
		"data.billInfo.totalFee": 72300, "data.billInfo.dataUsage": "38GB", "data.billInfo.voiceUsage": "185분",
		"data.billInfo.smsUsage": "22건", "data.billInfo.billStatus": "CONFIRMED",
		"data.billInfo.dueDate":        lastMonth.AddDate(0, 1, 24).Format("20060102"),
		"data.customerInfo.lineStatus": "ACTIVE"})
	j.present(bill, "data.requestId")
	again := j.must(200, "POST", "/bills/inquiry", inq)
	j.expect(again, map[string]any{"data.cacheHit": true, "data.billInfo.totalFee": 72300})

	// 5–6. Product menu and selection.
	j.must(200, "GET", "/products/customer?lineNumber=010-1234-5678", "")
	avail := j.must(200, "GET", "/products/available?currentProductCode=5G-STANDARD-001", "")
	var codes []string
	for _, p := range field(avail, "data.products").([]any) {
		codes = append(codes, p.(map[string]any)["productCode"].(string))
	}
	if want := []string{"5G-PREMIUM-001", "LTE-PREMIUM-001", "LTE-BASIC-001"}; !slices.Equal(codes, want) {
		t.Errorf("available products = %v, want %v (same operator, on sale, fee descending)", codes, want)
	}
	j.expect(avail, map[string]any{"data.totalCount": 3})

	// 7. Pre-check.
	change := `{"lineNumber":"01012345678","currentProductCode":"5G-STANDARD-001","targetProductCode":"5G-PREMIUM-001"}`
	val := j.must(200, "POST", "/products/change/validation", change)
	j.expect(val, map[string]any{"success": true, "data.validationResult": "SUCCESS"})
	if d, _ := field(val, "data.validationDetails").([]any); len(d) != 3 {
		t.Errorf("validationDetails = %v, want the three checks", d)
	}

	// 8. Change.
	chg := j.must(200, "POST", "/products/change", change)
	j.expect(chg, map[string]any{"success": true, "data.processStatus": "COMPLETED", "data.resultCode": "0000",
		"data.changedProduct.productCode": "5G-PREMIUM-001", "data.changedProduct.productName": "5G 프리미엄 플랜"})
	j.present(chg, "data.requestId", "data.processedAt", "data.resultMessage")

	// 9. The result page re-reads the customer and must see the new plan.
	after := j.must(200, "GET", "/products/customer?lineNumber=010-1234-5678", "")
	j.expect(after, map[string]any{"data.currentProduct.productCode": "5G-PREMIUM-001",
		"data.currentProduct.productName": "5G 프리미엄 플랜"})

	// The product.changed event evicts the bill cache: the next inquiry goes to KOS.
	changed := time.Now()
	deadline := changed.Add(evict)
	for {
		if field(j.must(200, "POST", "/bills/inquiry", inq), "data.cacheHit") == false {
			t.Logf("bill cache evicted %v after the change", time.Since(changed).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("bill cache of the line still served %v after the product change", evict)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Histories.
	ph := j.must(200, "GET", "/products/history", "")
	if items, _ := field(ph, "data.history").([]any); len(items) != 1 ||
		items[0].(map[string]any)["processStatus"] != "COMPLETED" ||
		items[0].(map[string]any)["targetProductName"] != "5G 프리미엄 플랜" {
		t.Errorf("product history = %v", field(ph, "data.history"))
	}
	bh := j.must(200, "GET", "/bills/history?page=1&size=20", "")
	j.expect(bh, map[string]any{"data.pagination.currentPage": 1, "data.pagination.pageSize": 20})
	if items, _ := field(bh, "data.items").([]any); len(items) < 3 {
		t.Errorf("bill history has %d items, want every inquiry (3+)", len(items))
	}

	// 10. Logout: the old token is refused afterwards.
	j.must(200, "POST", "/auth/logout", "")
	out := j.must(401, "GET", "/bills/menu", "")
	j.expect(out, map[string]any{"success": false, "resultCode": "UNAUTHORIZED"})

	if h == nil {
		return j.log // a deployed system: make e2e counts the rows itself
	}
	// Rows the journey must have left behind.
	var completed int
	if err := h.Pool.QueryRow(t.Context(), `SELECT count(*) FROM product_change.pc_product_change_history
		WHERE line_number = '01012345678' AND process_status = 'COMPLETED'`).Scan(&completed); err != nil || completed != 1 {
		t.Errorf("completed changes = %d (%v), want 1", completed, err)
	}
	return j.log
}

func TestClientJourney(t *testing.T) {
	checkJourney(t, runJourney(t))
}

// TestClientJourneyAt drives the same journey over HTTP against a deployed
// system at JOURNEY_BASE_URL (make e2e: the local cluster's front door,
// scripts/cluster/e2e.sh), skipped without it. The system must hold the
// seed's state of testuser01 and no newuser1 (e2e resets both first).
func TestClientJourneyAt(t *testing.T) {
	base := os.Getenv("JOURNEY_BASE_URL")
	if base == "" {
		t.Skip("JOURNEY_BASE_URL not set: no deployed system to drive")
	}
	evict := 30 * time.Second
	if v := os.Getenv("JOURNEY_EVICT_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		evict = d
	}
	http.DefaultClient.Timeout = 30 * time.Second
	checkJourney(t, journeyAt(t, strings.TrimSuffix(base, "/"), nil, evict))
}

func checkJourney(t *testing.T, log []exchange) {
	for _, ex := range log {
		if ex.Status >= 500 {
			t.Errorf("%s %s answered %d: %s", ex.Method, ex.Path, ex.Status, ex.Body)
		}
	}
}

// Negative checks of SPEC §7.
func TestClientJourneyNegatives(t *testing.T) {
	_, base := serveAllInOne(t)
	j := &journey{t: t, base: base}
	// testuser02: bills yes, product change no.
	login := j.must(200, "POST", "/auth/login", `{"userId":"testuser02","password":"test1234"}`)
	j.token = login["access_token"].(string)
	j.must(200, "GET", "/bills/menu", "")
	j.must(403, "POST", "/products/change/validation", `{"lineNumber":"01087654321","currentProductCode":"LTE-BASIC-001","targetProductCode":"5G-PREMIUM-001"}`)
	// Another customer's line.
	j.must(403, "POST", "/bills/inquiry", `{"lineNumber":"010-1234-5678"}`)
	// A month without a bill: 200 success:false 1003.
	old := time.Now().In(seoul()).AddDate(-1, 0, 0).Format("200601")
	nb := j.must(200, "POST", "/bills/inquiry", fmt.Sprintf(`{"lineNumber":"010-8765-4321","inquiryMonth":"%s"}`, old))
	j.expect(nb, map[string]any{"success": false, "resultCode": "1003"})
	if _, has := nb["data"]; has {
		t.Error("a failed inquiry carries data: the client would read billInfo from it")
	}
	// testuser03: suspended line.
	j.token = j.must(200, "POST", "/auth/login", `{"userId":"testuser03","password":"test1234"}`)["access_token"].(string)
	v := j.must(200, "POST", "/products/change/validation", `{"lineNumber":"01033334444","currentProductCode":"LTE-PREMIUM-001","targetProductCode":"LTE-BASIC-001"}`)
	j.expect(v, map[string]any{"data.validationResult": "FAILURE"})
	if !strings.Contains(string(mustJSON(v)), "회선이 정지 상태입니다") {
		t.Errorf("validation = %v, want LINE_STATUS FAIL 회선이 정지 상태입니다", v)
	}
	// tester: five wrong passwords lock; the sixth, correct, is still 423.
	j.token = ""
	for i := 1; i <= 5; i++ {
		want := 401
		if i == 5 {
			want = 423
		}
		j.must(want, "POST", "/auth/login", `{"userId":"tester","password":"wrong-password"}`)
	}
	locked := j.must(423, "POST", "/auth/login", `{"userId":"tester","password":"Test1234!"}`)
	j.expect(locked, map[string]any{"code": "ACCOUNT_LOCKED"})
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }
