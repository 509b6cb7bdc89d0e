package kosmock

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	lineHong      = "01012345678" // CUST001, 5G-STANDARD-001, ACTIVE, pattern A
	lineKim       = "01087654321" // CUST002, LTE-BASIC-001, ACTIVE, pattern B
	lineSuspended = "01033334444" // CUST003, LTE-PREMIUM-001, SUSPENDED
	lineAdmin     = "01090000001" // CUST900, 5G-PREMIUM-001
	lineDev       = "01090000002" // CUST901, LTE-PREMIUM-001
	lineTester    = "01090000003" // CUST902, LTE-BASIC-001
	lineUnknown   = "01000000000"
)

func TestHealth(t *testing.T) {
	t.Parallel()
	e := newKOS(t, testSettings())
	for _, path := range []string{"/health", "/api/v1/kos/health"} {
		r := e.call(t, "GET", path, nil)
		var got map[string]string
		if r.Status != 200 || json.Unmarshal(r.Body, &got) != nil || got["status"] != "UP" || got["service"] != "kos-mock" {
			t.Errorf("GET %s = %d %s, want 200 {status:UP, service:kos-mock}", path, r.Status, r.Body)
		}
	}
}

// dueOf is the 25th of the month after month.
func dueOf(t *testing.T, month string) string {
	m, err := time.Parse("200601", month)
	if err != nil {
		t.Fatal(err)
	}
	return m.AddDate(0, 1, 24).Format("20060102")
}

func TestBillInquirySeededBill(t *testing.T) {
	t.Parallel()
	e := newKOS(t, testSettings())
	var d BillInquiryData
	r := e.call(t, "POST", "/api/v1/kos/bill/inquiry",
		map[string]string{"lineNumber": lineHong, "billingMonth": monthAgo(0), "requestId": "REQ_20250908_1A2B3C4D5E6F7A8B"})
	r.ok(t, "요금 조회가 완료되었습니다", &d)
	want := BillInquiryData{RequestID: "REQ_20250908_1A2B3C4D5E6F7A8B", ProcStatus: "SUCCESS", ResultCode: "0000",
		ResultMessage: "정상 처리되었습니다",
		BillInfo: BillInfo{LineNumber: lineHong, BillingMonth: monthAgo(0), ProductCode: "5G-STANDARD-001",
			ProductName: "5G 스탠다드 플랜", MonthlyFee: 69000, UsageFee: 12500, DiscountAmount: 5000, TotalFee: 76500,
			DataUsage: "45GB", VoiceUsage: "210분", SMSUsage: "35건", BillStatus: "CONFIRMED", DueDate: dueOf(t, monthAgo(0))},
		CustomerInfo: CustomerInfo{CustomerName: "홍길동", CustomerID: "CUST001", OperatorCode: "KT", LineStatus: "ACTIVE"}}
	if d != want {
		t.Fatalf("bill inquiry data\n got %+v\nwant %+v", d, want)
	}

	// Dashed line, YYYY-MM month, no requestId (generated), pattern A m=1;
	// a zero discount is still sent.
	m1 := monthAgo(1)
	r = e.call(t, "POST", "/api/v1/kos/bill/inquiry",
		map[string]string{"lineNumber": "010-1234-5678", "billingMonth": m1[:4] + "-" + m1[4:]})
	r.ok(t, "요금 조회가 완료되었습니다", &d)
	if d.BillInfo.BillingMonth != m1 || d.BillInfo.UsageFee != 8300 || d.BillInfo.TotalFee != 72300 || d.BillInfo.LineNumber != lineHong {
		t.Fatalf("month m-1: %+v", d.BillInfo)
	}
	if !regexp.MustCompile(`^REQ_\d{8}_[0-9A-F]{16}$`).MatchString(d.RequestID) {
		t.Errorf("generated requestId %q, want REQ_yyyyMMdd_16HEX", d.RequestID)
	}
	m3 := monthAgo(3)
	r = e.call(t, "POST", "/api/v1/bill-inquiry", map[string]string{"lineNumber": lineHong, "billingMonth": m3})
	if !strings.Contains(string(r.kos(t).Data), `"discountAmount":0`) {
		t.Errorf("zero discount must be sent: %s", r.Body)
	}

	// No billingMonth → the current month; pattern B line.
	r = e.call(t, "POST", "/api/v1/kos/bill/inquiry", map[string]string{"lineNumber": lineKim})
	r.ok(t, "요금 조회가 완료되었습니다", &d)
	if d.BillInfo.BillingMonth != monthAgo(0) || d.BillInfo.TotalFee != 43200 || d.BillInfo.ProductCode != "LTE-BASIC-001" {
		t.Fatalf("default month: %+v", d.BillInfo)
	}
}

func TestBillInquiryRefusals(t *testing.T) {
	t.Parallel()
	e := newKOS(t, testSettings())
	for _, tc := range []struct {
		name, line, month, code, msg string
	}{
		{"unknown line", lineUnknown, "", "1001", "존재하지 않는 회선번호입니다"},
		{"suspended line", lineSuspended, "", "1002", "비활성 상태의 회선입니다"},
		{"12 months ago is never generated", lineHong, monthAgo(12), "1003", "해당 월 요금 정보가 없습니다"},
		{"6 months ago is outside the window", lineHong, monthAgo(6), "1003", "해당 월 요금 정보가 없습니다"},
		{"next month", lineHong, monthAgo(-1), "1003", "해당 월 요금 정보가 없습니다"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/api/v1/kos/bill/inquiry", "/api/v1/bill-inquiry"} {
				e.call(t, "POST", path, map[string]string{"lineNumber": tc.line, "billingMonth": tc.month}).
					refused(t, tc.code, tc.msg)
			}
		})
	}
	if n := e.count(t, `SELECT count(*) FROM kos_mock.bills WHERE line_number = $1 AND billing_month IN ($2, $3, $4)`,
		lineHong, monthAgo(12), monthAgo(6), monthAgo(-1)); n != 0 {
		t.Errorf("%d bills generated outside the recent window", n)
	}
}

func TestAvailableMonths(t *testing.T) {
	t.Parallel()
	e := newKOS(t, testSettings())
	var d MonthsData
	e.call(t, "GET", "/api/v1/kos/bill/available-months/"+lineHong, nil).ok(t, "데이터 보유 월 목록 조회가 완료되었습니다", &d)
	var want []string
	for i := range 6 {
		m := monthAgo(i)
		want = append(want, m[:4]+"-"+m[4:])
	}
	if d.ResultCode != "0000" || d.ResultMessage != "정상 처리되었습니다" || d.LineNumber != lineHong || !slices.Equal(d.AvailableMonths, want) {
		t.Fatalf("months %+v, want %v", d, want)
	}
	// Dashed spelling in the path.
	e.call(t, "GET", "/api/v1/kos/bill/available-months/010-1234-5678", nil).ok(t, "데이터 보유 월 목록 조회가 완료되었습니다", &d)
	e.call(t, "GET", "/api/v1/kos/bill/available-months/"+lineUnknown, nil).refused(t, "1001", "존재하지 않는 회선번호입니다")
	e.call(t, "GET", "/api/v1/kos/bill/available-months/"+lineSuspended, nil).refused(t, "1002", "비활성 상태의 회선입니다")
	e.call(t, "GET", "/api/v1/kos/bill/available-months/0101234", nil).
		failed(t, 400, "9001", "입력값이 올바르지 않습니다: 회선번호 형식이 올바르지 않습니다 (예: 01012345678)")
}

// A missing recent month is regenerated with the line's current product and
// the §5.6 rules, by available-months and by bill inquiry alike.
func TestMissingMonthsGenerated(t *testing.T) {
	t.Parallel()
	e := newKOS(t, testSettings())
	// The line's product changed since the seed: new months use the new one.
	e.exec(t, `UPDATE kos_mock.customers SET current_product_code = '5G-PREMIUM-001' WHERE line_number = $1`, lineHong)
	e.exec(t, `DELETE FROM kos_mock.bills WHERE line_number = $1 AND billing_month IN ($2, $3)`, lineHong, monthAgo(0), monthAgo(4))
	var d MonthsData
	e.call(t, "GET", "/api/v1/kos/bill/available-months/"+lineHong, nil).ok(t, "데이터 보유 월 목록 조회가 완료되었습니다", &d)
	if len(d.AvailableMonths) != 6 {
		t.Fatalf("months after deleting two: %v, want 6", d.AvailableMonths)
	}
	var bi BillInquiryData
	e.call(t, "POST", "/api/v1/kos/bill/inquiry", map[string]string{"lineNumber": lineHong, "billingMonth": monthAgo(4)}).
		ok(t, "요금 조회가 완료되었습니다", &bi)
	checkInvented(t, bi.BillInfo, monthAgo(4), "5G-PREMIUM-001", "5G 프리미엄 플랜", 89000, 200, 500)
	// The untouched seeded month keeps its figures.
	e.call(t, "POST", "/api/v1/kos/bill/inquiry", map[string]string{"lineNumber": lineHong, "billingMonth": monthAgo(1)}).
		ok(t, "요금 조회가 완료되었습니다", &bi)
	if bi.BillInfo.ProductCode != "5G-STANDARD-001" || bi.BillInfo.UsageFee != 8300 {
		t.Errorf("seeded month changed: %+v", bi.BillInfo)
	}

	// Bill inquiry alone regenerates too (a line whose bills are all gone),
	// and concurrent callers generate each month once.
	e.exec(t, `DELETE FROM kos_mock.bills WHERE line_number = $1`, lineKim)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.call(t, "POST", "/api/v1/kos/bill/inquiry", map[string]string{"lineNumber": lineKim, "billingMonth": monthAgo(2)})
			if r.Status != 200 || !r.kos(t).Success {
				t.Errorf("concurrent inquiry: %d %s", r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	if n := e.count(t, `SELECT count(*) FROM kos_mock.bills WHERE line_number = $1`, lineKim); n != 6 {
		t.Fatalf("%d bills after concurrent generation, want 6", n)
	}
	e.call(t, "POST", "/api/v1/kos/bill/inquiry", map[string]string{"lineNumber": lineKim, "billingMonth": monthAgo(5)}).
		ok(t, "요금 조회가 완료되었습니다", &bi)
	checkInvented(t, bi.BillInfo, monthAgo(5), "LTE-BASIC-001", "LTE 베이직 플랜", 39000, 20, 500)
}

// checkInvented checks an invented bill against the rules of §5.6.
func checkInvented(t *testing.T, b BillInfo, month, code, name string, fee, dataBound, voiceBound int) {
	t.Helper()
	num := func(s, unit string) int {
		n, err := strconv.Atoi(strings.TrimSuffix(s, unit))
		if err != nil || !strings.HasSuffix(s, unit) {
			t.Fatalf("%q is not a number of %s", s, unit)
		}
		return n
	}
	if b.BillingMonth != month || b.ProductCode != code || b.ProductName != name || b.MonthlyFee != fee ||
		b.DiscountAmount != 0 || b.UsageFee < 0 || b.UsageFee > 29999 || b.TotalFee != fee+b.UsageFee ||
		b.BillStatus != "CONFIRMED" || b.DueDate != dueOf(t, month) {
		t.Errorf("invented bill %+v breaks the §5.6 rules", b)
	}
	if n := num(b.DataUsage, "GB"); n < 0 || n >= dataBound {
		t.Errorf("data usage %s, want below %d", b.DataUsage, dataBound)
	}
	if n := num(b.VoiceUsage, "분"); n < 0 || n >= voiceBound {
		t.Errorf("voice usage %s, want below %d", b.VoiceUsage, voiceBound)
	}
	if n := num(b.SMSUsage, "건"); n < 0 || n > 99 {
		t.Errorf("sms usage %s, want 0-99", b.SMSUsage)
	}
}

func TestProductInquiry(t *testing.T) {
	t.Parallel()
	e := newKOS(t, testSettings())
	var d ProductInquiryData
	e.call(t, "POST", "/api/v1/kos/product/inquiry", map[string]string{"lineNumber": "010-1234-5678", "requestId": "R1"}).
		ok(t, "가입상품 조회가 완료되었습니다", &d)
	want := ProductInquiryData{RequestID: "R1", ProcStatus: "SUCCESS", ResultCode: "0000", ResultMessage: "정상 처리되었습니다",
		ProductInfo: ProductInfo{LineNumber: lineHong, CurrentProductCode: "5G-STANDARD-001", CurrentProductName: "5G 스탠다드 플랜",
			MonthlyFee: 69000, DataAllowance: "100GB", VoiceAllowance: "무제한", SMSAllowance: "무제한",
			ProductStatus: "ACTIVE", ContractDate: "2024-03-15T00:00:00"},
		CustomerInfo: CustomerInfo{CustomerName: "홍길동", CustomerID: "CUST001", OperatorCode: "KT", LineStatus: "ACTIVE"}}
	if d != want {
		t.Fatalf("product inquiry\n got %+v\nwant %+v", d, want)
	}
	e.call(t, "POST", "/api/v1/kos/product/inquiry", map[string]string{"lineNumber": lineUnknown}).refused(t, "3001", "존재하지 않는 회선번호입니다")
	e.call(t, "POST", "/api/v1/kos/product/inquiry", map[string]string{"lineNumber": lineSuspended}).refused(t, "3002", "비활성 상태의 회선입니다")
}

func TestCustomerInfo(t *testing.T) {
	t.Parallel()
	e := newKOS(t, testSettings())
	var d CustomerInfoData
	e.call(t, "GET", "/api/v1/customer-info?lineNumber="+lineHong, nil).ok(t, "고객 정보 조회가 완료되었습니다", &d)
	want := CustomerInfoData{CustomerID: "CUST001", CustomerName: "홍길동", LineNumber: lineHong, OperatorCode: "KT",
		LineStatus: "ACTIVE", ContractDate: "2024-03-15T00:00:00",
		CurrentProduct: &CurrentProduct{ProductCode: "5G-STANDARD-001", ProductName: "5G 스탠다드 플랜", MonthlyFee: 69000,
			DataAllowance: "100GB", VoiceAllowance: "무제한", SMSAllowance: "무제한", OperatorCode: "KT", NetworkType: "5G",
			Status: "ACTIVE", Description: "5G 네트워크 스탠다드 요금제"}}
	if d.CurrentProduct == nil || *d.CurrentProduct != *want.CurrentProduct {
		t.Fatalf("currentProduct %+v, want %+v", d.CurrentProduct, want.CurrentProduct)
	}
	d.CurrentProduct, want.CurrentProduct = nil, nil
	if d != want {
		t.Fatalf("customer info\n got %+v\nwant %+v", d, want)
	}
	// Any status answers (unlike product inquiry).
	e.call(t, "GET", "/api/v1/kos/customer-info?lineNumber=010-3333-4444", nil).ok(t, "고객 정보 조회가 완료되었습니다", &d)
	if d.LineStatus != "SUSPENDED" || d.CurrentProduct.ProductCode != "LTE-PREMIUM-001" {
		t.Errorf("suspended line: %+v", d)
	}
	e.call(t, "GET", "/api/v1/customer-info?lineNumber="+lineUnknown, nil).refused(t, "3001", "존재하지 않는 회선번호입니다")
	e.call(t, "GET", "/api/v1/customer-info", nil).failed(t, 400, "9001", "입력값이 올바르지 않습니다: 회선번호는 필수입니다")
	e.call(t, "GET", "/api/v1/customer-info?lineNumber=02012345678", nil).
		failed(t, 400, "9001", "입력값이 올바르지 않습니다: 회선번호 형식이 올바르지 않습니다 (예: 01012345678)")
}

func TestProductList(t *testing.T) {
	t.Parallel()
	e := newKOS(t, testSettings())
	var d ProductListData
	e.call(t, "GET", "/api/v1/kos/product/list", nil).ok(t, "상품 목록 조회가 완료되었습니다", &d)
	if d.ResultCode != "0000" || d.ResultMessage != "상품 목록 조회가 완료되었습니다" || d.ProductCount != 6 || len(d.Products) != 6 {
		t.Fatalf("list header %+v", d)
	}
	byCode := map[string]ListedProduct{}
	for _, p := range d.Products {
		byCode[p.ProductCode] = p
	}
	want := map[string]ListedProduct{
		"5G-PREMIUM-001": {ProductCode: "5G-PREMIUM-001", ProductName: "5G 프리미엄 플랜", ProductType: "5G", MonthlyFee: 89000,
			DataAllowance: -1, VoiceAllowance: -1, SMSAllowance: -1, DataAllowanceText: "무제한", VoiceAllowanceText: "무제한",
			SMSAllowanceText: "무제한", OperatorCode: "KT", NetworkType: "5G", Status: "ACTIVE", Description: "5G 네트워크 무제한 프리미엄 요금제"},
		"LTE-BASIC-001": {ProductCode: "LTE-BASIC-001", ProductName: "LTE 베이직 플랜", ProductType: "LTE", MonthlyFee: 39000,
			DataAllowance: 20, VoiceAllowance: -1, SMSAllowance: 0, DataAllowanceText: "20GB", VoiceAllowanceText: "무제한",
			SMSAllowanceText: "기본 제공", OperatorCode: "KT", NetworkType: "LTE", Status: "ACTIVE", Description: "LTE 네트워크 베이직 요금제"},
		"3G-OLD-001": {ProductCode: "3G-OLD-001", ProductName: "3G 레거시 플랜", ProductType: "3G", MonthlyFee: 29000,
			DataAllowance: 5, VoiceAllowance: 500, SMSAllowance: 100, DataAllowanceText: "5GB", VoiceAllowanceText: "500분",
			SMSAllowanceText: "100건", OperatorCode: "KT", NetworkType: "3G", Status: "DISCONTINUED", Description: "3G 네트워크 레거시 요금제 (신규 가입 불가)"},
		"LG-5G-STANDARD-001": {ProductCode: "LG-5G-STANDARD-001", ProductName: "LG 5G 스탠다드 플랜", ProductType: "5G", MonthlyFee: 65000,
			DataAllowance: 110, VoiceAllowance: -1, SMSAllowance: -1, DataAllowanceText: "110GB", VoiceAllowanceText: "무제한",
			SMSAllowanceText: "무제한", OperatorCode: "LGU", NetworkType: "5G", Status: "ACTIVE", Description: "타사 5G 요금제 (사업자 불일치 검증용)"},
	}
	for code, w := range want {
		if byCode[code] != w {
			t.Errorf("%s\n got %+v\nwant %+v", code, byCode[code], w)
		}
	}
	for _, code := range []string{"5G-STANDARD-001", "LTE-PREMIUM-001"} {
		if _, ok := byCode[code]; !ok {
			t.Errorf("%s missing", code)
		}
	}
	// snake_case on the wire, integer allowances.
	r := e.call(t, "GET", "/api/v1/kos/product/list", nil)
	for _, frag := range []string{`"product_count":6`, `"data_allowance":-1`, `"data_allowance_text":"무제한"`, `"operator_code":"LGU"`} {
		if !strings.Contains(string(r.Body), frag) {
			t.Errorf("product list lacks %s: %s", frag, r.Body)
		}
	}
}

type changeBody map[string]string

func change(line, cur, tgt, id string) changeBody {
	return changeBody{"lineNumber": line, "currentProductCode": cur, "targetProductCode": tgt, "requestId": id}
}

func TestProductChangeApplied(t *testing.T) {
	t.Parallel()
	e := newKOS(t, testSettings())
	before := time.Now()
	r := e.call(t, "POST", "/api/v1/kos/product/change", change("010-1234-5678", "5G-STANDARD-001", "5G-PREMIUM-001", "chg-1"))
	var d ChangeData
	r.ok(t, "상품 변경이 완료되었습니다", &d)
	ci := d.ChangeInfo
	if d.RequestID != "chg-1" || d.ResultCode != "0000" || d.ResultMessage != "정상 처리되었습니다" ||
		ci.LineNumber != lineHong || ci.PreviousProductCode != "5G-STANDARD-001" || ci.PreviousProductName != "5G 스탠다드 플랜" ||
		ci.NewProductCode != "5G-PREMIUM-001" || ci.NewProductName != "5G 프리미엄 플랜" || ci.ChangeStatus != "SUCCESS" {
		t.Fatalf("change data %+v", d)
	}
	seoul := before.In(time.FixedZone("KST", 9*3600))
	if ci.EffectiveDate != seoul.Format("20060102") {
		t.Errorf("effectiveDate %s, want today %s", ci.EffectiveDate, seoul.Format("20060102"))
	}
	if !regexp.MustCompile(`^KOS` + seoul.Format("20060102") + `\d{4}\d{3}$`).MatchString(ci.KOSOrderNumber) {
		t.Errorf("kosOrderNumber %q, want KOS+yyyyMMddHHmm+3 digits", ci.KOSOrderNumber)
	}
	est, err := time.ParseInLocation("2006-01-02T15:04:05", ci.EstimatedCompletionTime, time.FixedZone("KST", 9*3600))
	if err != nil || est.Before(before.Add(29*time.Minute)) || est.After(time.Now().Add(31*time.Minute)) {
		t.Errorf("estimatedCompletionTime %q, want now+30min", ci.EstimatedCompletionTime)
	}
	if got := e.currentProduct(t, lineHong); got != "5G-PREMIUM-001" {
		t.Fatalf("current product %s after the change", got)
	}
	var status, msg, ptype, line string
	var stored []byte
	if err := e.h.Pool.QueryRow(context.Background(), `SELECT status, message, processing_type, line_number, response
		FROM kos_mock.processing_results WHERE request_id = 'chg-1'`).Scan(&status, &msg, &ptype, &line, &stored); err != nil {
		t.Fatal(err)
	}
	if status != "SUCCESS" || msg != "상품 변경이 완료되었습니다" || ptype != "PRODUCT_CHANGE" || line != lineHong {
		t.Errorf("processing result %s %s %s %s", status, msg, ptype, line)
	}
	if withoutTrace(t, stored) != withoutTrace(t, r.Body) {
		t.Errorf("stored response\n%s\nis not the answer\n%s", stored, r.Body)
	}

	// The same requestId again — on the seed alias, even with another body —
	// replays the stored answer and changes nothing.
	r2 := e.call(t, "POST", "/api/v1/product-change", change(lineHong, "5G-PREMIUM-001", "LTE-BASIC-001", "chg-1"))
	trace := regexp.MustCompile(`"traceId":"[^"]*"`)
	if a, b := trace.ReplaceAllString(string(r2.Body), ""), trace.ReplaceAllString(string(r.Body), ""); a != b {
		t.Errorf("replay is not byte-identical (traceId aside)\n%s\nwant\n%s", a, b)
	}
	if got := e.currentProduct(t, lineHong); got != "5G-PREMIUM-001" {
		t.Errorf("replay changed the product to %s", got)
	}
	if n := e.count(t, `SELECT count(*) FROM kos_mock.processing_results`); n != 1 {
		t.Errorf("%d processing results, want 1", n)
	}
}

func TestProductChangeRefusals(t *testing.T) {
	t.Parallel()
	e := newKOS(t, testSettings())
	for i, tc := range []struct {
		name      string
		body      changeBody
		code, msg string
	}{
		{"unknown line", change(lineUnknown, "5G-STANDARD-001", "5G-PREMIUM-001", ""), "2001", "존재하지 않는 회선번호입니다"},
		{"suspended line", change(lineSuspended, "LTE-PREMIUM-001", "5G-PREMIUM-001", ""), "2002", "비활성 상태의 회선입니다"},
		{"unknown target", change(lineKim, "LTE-BASIC-001", "NOPE-001", ""), "2003", "존재하지 않는 상품 코드입니다"},
		{"unknown current", change(lineKim, "NOPE-001", "5G-PREMIUM-001", ""), "2003", "존재하지 않는 상품 코드입니다"},
		{"discontinued target", change(lineKim, "LTE-BASIC-001", "3G-OLD-001", ""), "2004", "판매가 중단된 상품입니다"},
		{"other operator", change(lineKim, "LTE-BASIC-001", "LG-5G-STANDARD-001", ""), "2005", "다른 통신사업자 상품으로는 변경할 수 없습니다"},
		{"not the line's product", change(lineKim, "5G-STANDARD-001", "5G-PREMIUM-001", ""), "2006", "현재 가입된 상품과 요청의 현재 상품이 다릅니다"},
		// Order: the line is checked before the products.
		{"suspended line, unknown product", change(lineSuspended, "X", "Y", ""), "2002", "비활성 상태의 회선입니다"},
		{"unknown product before discontinued", change(lineKim, "NOPE", "3G-OLD-001", ""), "2003", "존재하지 않는 상품 코드입니다"},
		{"discontinued before operator", change(lineKim, "LG-5G-STANDARD-001", "3G-OLD-001", ""), "2004", "판매가 중단된 상품입니다"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("refuse-%d", i)
			tc.body["requestId"] = id
			r := e.call(t, "POST", "/api/v1/kos/product/change", tc.body)
			r.refused(t, tc.code, tc.msg)
			// The refusal is the request id's first result: stored and replayed.
			var status string
			if err := e.h.Pool.QueryRow(context.Background(),
				`SELECT status FROM kos_mock.processing_results WHERE request_id = $1`, id).Scan(&status); err != nil || status != "FAILED" {
				t.Errorf("processing result %q, %v; want FAILED", status, err)
			}
			again := e.call(t, "POST", "/api/v1/product-change", tc.body)
			if withoutTrace(t, again.Body) != withoutTrace(t, r.Body) {
				t.Errorf("replayed refusal differs: %s vs %s", again.Body, r.Body)
			}
		})
	}
	if got := e.currentProduct(t, lineKim); got != "LTE-BASIC-001" {
		t.Errorf("a refused change changed the product to %s", got)
	}
	if got := e.currentProduct(t, lineSuspended); got != "LTE-PREMIUM-001" {
		t.Errorf("a refused change changed the product to %s", got)
	}
}

func TestProductChangeValidation(t *testing.T) {
	t.Parallel()
	e := newKOS(t, testSettings())
	for _, tc := range []struct {
		name string
		body any
		msg  string
	}{
		{"no requestId", change(lineHong, "5G-STANDARD-001", "5G-PREMIUM-001", ""), "요청 ID는 필수입니다"},
		{"blank requestId", change(lineHong, "5G-STANDARD-001", "5G-PREMIUM-001", "   "), "요청 ID는 필수입니다"},
		{"long requestId", change(lineHong, "5G-STANDARD-001", "5G-PREMIUM-001", strings.Repeat("r", 65)), "요청 ID는 64자 이하여야 합니다"},
		{"everything missing", map[string]string{},
			"회선번호는 필수입니다, 현재 상품 코드는 필수입니다, 변경할 상품 코드는 필수입니다, 요청 ID는 필수입니다"},
		{"empty body", "", "회선번호는 필수입니다, 현재 상품 코드는 필수입니다, 변경할 상품 코드는 필수입니다, 요청 ID는 필수입니다"},
		{"bad line", change("011-1234-5678", "5G-STANDARD-001", "5G-PREMIUM-001", "v1"), "회선번호 형식이 올바르지 않습니다 (예: 01012345678)"},
		{"NUL in requestId", change(lineHong, "5G-STANDARD-001", "5G-PREMIUM-001", "a\x00b"), "요청 ID 형식이 올바르지 않습니다"},
		{"control character in product code", change(lineHong, "5G-STANDARD-001\n", "5G\x01", "v2"), "상품 코드 형식이 올바르지 않습니다"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.call(t, "POST", "/api/v1/kos/product/change", tc.body).failed(t, 400, "9001", "입력값이 올바르지 않습니다: "+tc.msg)
		})
	}
	if n := e.count(t, `SELECT count(*) FROM kos_mock.processing_results`); n != 0 {
		t.Errorf("%d processing results after invalid requests", n)
	}
}

// 20 concurrent identical change requests: exactly one change, one stored
// result, 20 equal answers.
func TestProductChangeConcurrentIdempotent(t *testing.T) {
	t.Parallel()
	e := newKOS(t, testSettings())
	const n = 20
	answers := make([]string, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			path := "/api/v1/kos/product/change"
			if i%2 == 1 {
				path = "/api/v1/product-change"
			}
			r := e.call(t, "POST", path, change(lineDev, "LTE-PREMIUM-001", "LTE-BASIC-001", "same-id"))
			if r.Status != 200 {
				t.Errorf("answer %d: %d %s", i, r.Status, r.Body)
				return
			}
			answers[i] = withoutTrace(t, r.Body)
		}()
	}
	close(start)
	wg.Wait()
	for i := 1; i < n; i++ {
		if answers[i] != answers[0] {
			t.Fatalf("answer %d differs:\n%s\n%s", i, answers[i], answers[0])
		}
	}
	var first ChangeData
	var env struct {
		Success bool
		Data    ChangeData
	}
	if err := json.Unmarshal([]byte(answers[0]), &env); err != nil || !env.Success {
		t.Fatalf("answer %s", answers[0])
	}
	first = env.Data
	if first.ChangeInfo.PreviousProductCode != "LTE-PREMIUM-001" || first.ChangeInfo.NewProductCode != "LTE-BASIC-001" {
		t.Errorf("change info %+v", first.ChangeInfo)
	}
	if c := e.count(t, `SELECT count(*) FROM kos_mock.processing_results WHERE request_id = 'same-id'`); c != 1 {
		t.Fatalf("%d processing results, want 1", c)
	}
	if got := e.currentProduct(t, lineDev); got != "LTE-BASIC-001" {
		t.Fatalf("current product %s", got)
	}
}

// A forced error answers 9999 after ~100 ms (scaled), changes and stores
// nothing, so a retry with the same id is processed.
func TestForcedError(t *testing.T) {
	t.Parallel()
	e := newKOS(t, testSettings())
	body := change(lineTester, "LTE-BASIC-001", "5G-STANDARD-001", "err-1")
	for _, path := range []string{"/api/v1/kos/product/change", "/api/v1/product-change"} {
		e.call(t, "POST", path, body, "X-Mock-Scenario", "error").refused(t, "9999", "시스템 오류가 발생했습니다")
	}
	if got := e.currentProduct(t, lineTester); got != "LTE-BASIC-001" {
		t.Fatalf("simulated error changed the product to %s", got)
	}
	if c := e.count(t, `SELECT count(*) FROM kos_mock.processing_results`); c != 0 {
		t.Fatalf("simulated error stored %d results", c)
	}
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/kos/bill/inquiry", map[string]string{"lineNumber": lineHong}},
		{"POST", "/api/v1/bill-inquiry", map[string]string{"lineNumber": lineHong}},
		{"POST", "/api/v1/kos/product/inquiry", map[string]string{"lineNumber": lineHong}},
		{"GET", "/api/v1/customer-info?lineNumber=" + lineHong, nil},
		{"GET", "/api/v1/kos/product/list", nil},
	} {
		e.call(t, tc.method, tc.path, tc.body, "X-Mock-Scenario", "error").refused(t, "9999", "시스템 오류가 발생했습니다")
	}
	// Not simulated: available-months and mock-datas ignore the header.
	var d MonthsData
	e.call(t, "GET", "/api/v1/kos/bill/available-months/"+lineHong, nil, "X-Mock-Scenario", "error").
		ok(t, "데이터 보유 월 목록 조회가 완료되었습니다", &d)
	var mc MockCreated
	e.call(t, "POST", "/api/v1/kos/mock-datas", map[string]string{"customerId": "CUST001", "lineNumber": lineHong},
		"X-Mock-Scenario", "error").apiOK(t, "Mock 데이터가 이미 생성되어 있습니다", &mc)

	var ch ChangeData
	e.call(t, "POST", "/api/v1/kos/product/change", body).ok(t, "상품 변경이 완료되었습니다", &ch)
	if got := e.currentProduct(t, lineTester); got != "5G-STANDARD-001" {
		t.Fatalf("retry after a simulated error: product %s", got)
	}
}

// The header forces nothing when KOS_MOCK_SCENARIO_HEADER is off.
func TestScenarioHeaderDisabled(t *testing.T) {
	t.Parallel()
	cfg := testSettings()
	cfg.ScenarioHeader = false
	e := newKOS(t, cfg)
	var d ProductListData
	e.call(t, "GET", "/api/v1/kos/product/list", nil, "X-Mock-Scenario", "error").ok(t, "상품 목록 조회가 완료되었습니다", &d)
}

// A forced delay answers normally within [1 s, 3 s] × scale.
func TestForcedDelay(t *testing.T) {
	t.Parallel()
	cfg := testSettings()
	cfg.LatencyScale = 0.05 // 50–150 ms
	e := newKOS(t, cfg)
	for range 3 {
		start := time.Now()
		var d BillInquiryData
		e.call(t, "POST", "/api/v1/bill-inquiry", map[string]string{"lineNumber": lineHong}, "X-Mock-Scenario", "delay").
			ok(t, "요금 조회가 완료되었습니다", &d)
		if el := time.Since(start); el < 50*time.Millisecond || el > 2*150*time.Millisecond+500*time.Millisecond {
			t.Errorf("forced delay took %v, want within [50ms, 150ms] plus overhead", el)
		}
	}
	// The success latency (100–300 ms × 0.05) stays well below the slow one.
	start := time.Now()
	e.call(t, "GET", "/api/v1/kos/product/list", nil, "X-Mock-Scenario", "success").ok(t, "상품 목록 조회가 완료되었습니다", nil)
	if el := time.Since(start); el < 5*time.Millisecond {
		t.Errorf("success answered in %v, below the scaled 5 ms minimum", el)
	}
}

// The timeout scenario applies the change, then stays silent for
// KOS_MOCK_TIMEOUT_SLEEP_MS; a caller that gives up earlier still finds
// the change applied, and a retry with the same id replays it.
func TestTimeoutScenarioApplies(t *testing.T) {
	t.Parallel()
	e := newKOS(t, testSettings()) // sleep 150 ms, unscaled
	start := time.Now()
	var d ChangeData
	e.call(t, "POST", "/api/v1/kos/product/change", change(lineHong, "5G-STANDARD-001", "LTE-PREMIUM-001", "to-1"),
		"X-Mock-Scenario", "timeout").ok(t, "상품 변경이 완료되었습니다", &d)
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Errorf("timeout scenario answered after %v, want >= 150ms", el)
	}
	if got := e.currentProduct(t, lineHong); got != "LTE-PREMIUM-001" {
		t.Fatalf("product %s after the timeout scenario", got)
	}

	cfg := testSettings()
	cfg.TimeoutSleepMS = 5000
	e2 := newKOS(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	r := e2.callCtx(t, ctx, "POST", "/api/v1/kos/product/change", change(lineHong, "5G-STANDARD-001", "LTE-PREMIUM-001", "to-2"),
		"X-Mock-Scenario", "timeout")
	if r.Status != 0 {
		t.Fatalf("the caller should have timed out, got %d %s", r.Status, r.Body)
	}
	if got := e2.currentProduct(t, lineHong); got != "LTE-PREMIUM-001" {
		t.Fatalf("product %s after a timed-out call, want the change applied", got)
	}
	start = time.Now()
	e2.call(t, "POST", "/api/v1/product-change", change(lineHong, "5G-STANDARD-001", "LTE-PREMIUM-001", "to-2")).
		ok(t, "상품 변경이 완료되었습니다", &d)
	if d.ChangeInfo.PreviousProductCode != "5G-STANDARD-001" || time.Since(start) > 2*time.Second {
		t.Errorf("retry replay %+v after %v", d.ChangeInfo, time.Since(start))
	}
	if c := e2.count(t, `SELECT count(*) FROM kos_mock.processing_results`); c != 1 {
		t.Errorf("%d processing results, want 1", c)
	}
}

// A caller that leaves during the simulated delay stops the wait: the
// handler returns at once and (the wait being before processing) changes
// nothing.
func TestDelayStopsWhenCallerLeaves(t *testing.T) {
	t.Parallel()
	cfg := testSettings()
	cfg.LatencyScale = 1 // 1–3 s
	ended := make(chan error, 1)
	e := newKOSWith(t, cfg, func(s *Server) {
		s.sim.Sleep = func(ctx context.Context, d time.Duration) error {
			err := sleepCtx(ctx, d)
			ended <- err
			return err
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	e.callCtx(t, ctx, "POST", "/api/v1/kos/product/change", change(lineHong, "5G-STANDARD-001", "LTE-BASIC-001", "gone-1"),
		"X-Mock-Scenario", "delay")
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("the simulated delay ran to its end after the caller left")
		}
	case <-time.After(900 * time.Millisecond):
		t.Fatal("the simulated delay did not stop when the caller left")
	}
	time.Sleep(50 * time.Millisecond)
	if got := e.currentProduct(t, lineHong); got != "5G-STANDARD-001" {
		t.Errorf("product %s, want unchanged", got)
	}
	if c := e.count(t, `SELECT count(*) FROM kos_mock.processing_results`); c != 0 {
		t.Errorf("%d processing results, want 0", c)
	}
}

// With a fixed seed and the default rates, sequential requests follow the
// simulator's sequence for that seed; outcomes are counted in /metrics.
func TestSeededSequenceOverHTTP(t *testing.T) {
	t.Parallel()
	cfg := testSettings()
	cfg.DelayRate, cfg.ErrorRate = 0.15, 0.3
	cfg.LatencyScale = 0
	cfg.Seed = 99
	e := newKOS(t, cfg)
	ref := NewSimulator(cfg, nil, nil)
	nErr := 0
	for i := range 40 {
		want := ref.Plan(simFull, "").Pattern
		r := e.call(t, "GET", "/api/v1/kos/product/list", nil)
		got := r.kos(t)
		if (want == PatternError) != (got.ResultCode == "9999") {
			t.Fatalf("request %d: pattern %s but answer %s", i, want, got.ResultCode)
		}
		if want == PatternError {
			nErr++
		}
	}
	if nErr == 0 || nErr == 40 {
		t.Fatalf("%d errors in 40 draws at a 30%% rate", nErr)
	}
	m := e.call(t, "GET", "/metrics", nil)
	if !strings.Contains(string(m.Body), fmt.Sprintf(`phonebill_kosmock_simulated_total{pattern="error",route="kos-product-list"} %d`, nErr)) {
		t.Errorf("metrics lack %d simulated errors:\n%s", nErr, grep(string(m.Body), "kosmock"))
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

// Seed paths and reference paths share one implementation: the same line
// gives the same data.
func TestSeedAndReferencePathsAgree(t *testing.T) {
	t.Parallel()
	e := newKOS(t, testSettings())
	pairs := []struct {
		method, a, b string
		body         any
	}{
		{"POST", "/api/v1/bill-inquiry", "/api/v1/kos/bill/inquiry",
			map[string]string{"lineNumber": lineAdmin, "billingMonth": monthAgo(2), "requestId": "same"}},
		{"GET", "/api/v1/customer-info?lineNumber=" + lineAdmin, "/api/v1/kos/customer-info?lineNumber=" + lineAdmin, nil},
	}
	for _, p := range pairs {
		ra, rb := e.call(t, p.method, p.a, p.body).kos(t), e.call(t, p.method, p.b, p.body).kos(t)
		if !ra.Success || string(ra.Data) != string(rb.Data) || ra.ResultMessage != rb.ResultMessage {
			t.Errorf("%s and %s differ:\n%s\n%s", p.a, p.b, ra.Data, rb.Data)
		}
	}
	for _, p := range []string{"customer/product", "customer/bill"} {
		q := "?customerId=CUST900&lineNumber=" + lineAdmin
		ra, rb := e.call(t, "GET", "/api/v1/mock-datas/"+p+q, nil).api(t), e.call(t, "GET", "/api/v1/kos/mock-datas/"+p+q, nil).api(t)
		if !ra.Success || string(ra.Data) != string(rb.Data) || ra.Message != rb.Message {
			t.Errorf("mock-datas %s differs:\n%s\n%s", p, ra.Data, rb.Data)
		}
	}
	// The bill read on both families is the seeded row.
	var d BillInquiryData
	e.call(t, "POST", "/api/v1/bill-inquiry", pairs[0].body).ok(t, "요금 조회가 완료되었습니다", &d)
	if d.BillInfo.ProductCode != "5G-PREMIUM-001" || d.BillInfo.UsageFee != 15200 || d.BillInfo.TotalFee != 89000+15200-5000 {
		t.Errorf("seeded bill m-2 of %s: %+v", lineAdmin, d.BillInfo)
	}
}

func TestMockDataCreate(t *testing.T) {
	t.Parallel()
	e := newKOS(t, testSettings())
	const cust, line = "123456AbCdEfGhIjKlMn", "01055556666"
	var d MockCreated
	e.call(t, "POST", "/api/v1/kos/mock-datas", map[string]string{"customerId": cust, "lineNumber": "010-5555-6666"}).
		apiOK(t, "Mock 데이터가 성공적으로 생성되었습니다", &d)
	if d.CustomerID != cust || d.LineNumber != line || d.BillCountCreated != 6 || d.Message != "Mock 데이터가 성공적으로 생성되었습니다" {
		t.Fatalf("created %+v", d)
	}
	var name, op, status, prod, prodName string
	var monthsAgo int
	if err := e.h.Pool.QueryRow(context.Background(), `SELECT c.customer_name, c.operator_code, c.line_status,
		c.current_product_code, p.product_name,
		(extract(year from age(date_trunc('month', localtimestamp), date_trunc('month', c.contract_date))) * 12 +
		 extract(month from age(date_trunc('month', localtimestamp), date_trunc('month', c.contract_date))))::int
		FROM kos_mock.customers c JOIN kos_mock.products p ON p.product_code = c.current_product_code
		WHERE c.line_number = $1 AND c.customer_id = $2`, line, cust).Scan(&name, &op, &status, &prod, &prodName, &monthsAgo); err != nil {
		t.Fatal(err)
	}
	if name != "Mock_Customer" || op != "KT" || status != "ACTIVE" || prod != d.CurrentProductCode || prodName != d.CurrentProductName {
		t.Errorf("customer row %s %s %s %s %s vs %+v", name, op, status, prod, prodName, d)
	}
	if monthsAgo < 1 || monthsAgo > 24 {
		t.Errorf("contract date %d months ago, want 1..24", monthsAgo)
	}
	if !slices.Contains([]string{"5G-PREMIUM-001", "5G-STANDARD-001", "LTE-PREMIUM-001", "LTE-BASIC-001"}, prod) {
		t.Errorf("product %s is not an ACTIVE KT product", prod)
	}

	// The bills follow §5.6 and are what bill inquiry reads.
	var bills MockBills
	e.call(t, "GET", "/api/v1/kos/mock-datas/customer/bill?customerId="+cust+"&lineNumber="+line, nil).
		apiOK(t, "요금정보 조회가 완료되었습니다", &bills)
	if bills.CustomerID != cust || bills.LineNumber != line || bills.BillCount != 6 || len(bills.Bills) != 6 {
		t.Fatalf("bills %+v", bills)
	}
	fees := map[string]int{"5G-PREMIUM-001": 89000, "5G-STANDARD-001": 69000, "LTE-PREMIUM-001": 59000, "LTE-BASIC-001": 39000}
	bounds := map[string]int{"5G-PREMIUM-001": 200, "5G-STANDARD-001": 100, "LTE-PREMIUM-001": 50, "LTE-BASIC-001": 20}
	for i, b := range bills.Bills {
		checkInvented(t, BillInfo{BillingMonth: b.BillingMonth, ProductCode: b.ProductCode, ProductName: b.ProductName,
			MonthlyFee: b.MonthlyFee, UsageFee: b.UsageFee, DiscountAmount: b.DiscountAmount, TotalFee: b.TotalFee,
			DataUsage: b.DataUsage, VoiceUsage: b.VoiceUsage, SMSUsage: b.SMSUsage, BillStatus: b.BillStatus, DueDate: b.DueDate},
			monthAgo(i), prod, prodName, fees[prod], bounds[prod], 500)
	}
	var bi BillInquiryData
	e.call(t, "POST", "/api/v1/kos/bill/inquiry", map[string]string{"lineNumber": line}).ok(t, "요금 조회가 완료되었습니다", &bi)
	if bi.BillInfo.TotalFee != bills.Bills[0].TotalFee || bi.CustomerInfo.CustomerName != "Mock_Customer" {
		t.Errorf("inquiry %+v vs created %+v", bi, bills.Bills[0])
	}
	var mp MockProduct
	e.call(t, "GET", "/api/v1/mock-datas/customer/product?customerId="+cust+"&lineNumber="+line, nil).
		apiOK(t, "가입상품정보 조회가 완료되었습니다", &mp)
	if mp.CustomerID != cust || mp.LineNumber != line || mp.CurrentProductCode != prod || mp.OperatorCode != "KT" ||
		mp.LineStatus != "ACTIVE" || mp.MonthlyFee != fees[prod] || mp.ProductStatus != "ACTIVE" || mp.DataAllowance == "" ||
		!regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$`).MatchString(mp.ContractDate) {
		t.Errorf("customer product %+v", mp)
	}

	// Again (a retried click, on the other path): 200 with what exists.
	var again MockCreated
	e.call(t, "POST", "/api/v1/mock-datas", map[string]string{"customerId": cust, "lineNumber": line}).
		apiOK(t, "Mock 데이터가 이미 생성되어 있습니다", &again)
	if again.CustomerID != cust || again.LineNumber != line || again.CurrentProductCode != prod ||
		again.CurrentProductName != prodName || again.BillCountCreated != 0 {
		t.Errorf("again %+v", again)
	}
	r := e.call(t, "POST", "/api/v1/mock-datas", map[string]string{"customerId": cust, "lineNumber": line})
	if !strings.Contains(string(r.Body), `"bill_count_created":0`) || !strings.Contains(string(r.Body), `"current_product_code"`) {
		t.Errorf("snake_case payload with a zero count expected: %s", r.Body)
	}
	// A line of another customer is refused.
	e.call(t, "POST", "/api/v1/kos/mock-datas", map[string]string{"customerId": "SOMEONE-ELSE", "lineNumber": line}).
		apiFailed(t, 400, "4000", "이미 다른 고객에 등록된 회선번호입니다: "+line)
	e.call(t, "POST", "/api/v1/kos/mock-datas", map[string]string{"customerId": "CUST002", "lineNumber": lineHong}).
		apiFailed(t, 400, "4000", "이미 다른 고객에 등록된 회선번호입니다: "+lineHong)
	if n := e.count(t, `SELECT count(*) FROM kos_mock.bills WHERE line_number = $1`, line); n != 6 {
		t.Errorf("%d bills, want 6", n)
	}
	// Look-ups of what does not exist.
	e.call(t, "GET", "/api/v1/kos/mock-datas/customer/product?customerId=CUST002&lineNumber="+line, nil).
		apiFailed(t, 404, "1001", "해당 고객의 상품정보를 찾을 수 없습니다")
	e.call(t, "GET", "/api/v1/mock-datas/customer/bill?customerId=NOBODY&lineNumber="+lineUnknown, nil).
		apiFailed(t, 404, "1002", "해당 고객의 요금정보를 찾을 수 없습니다")
	e.call(t, "GET", "/api/v1/kos/mock-datas/customer/bill?lineNumber="+line, nil).apiFailed(t, 400, "4000", "고객 ID는 필수입니다")
	e.call(t, "GET", "/api/v1/kos/mock-datas/customer/product?customerId=%ff%00&lineNumber="+line, nil).
		apiFailed(t, 400, "4000", "고객 ID 형식이 올바르지 않습니다")
}

func TestMockDataConcurrentCreate(t *testing.T) {
	t.Parallel()
	e := newKOS(t, testSettings())
	const line = "01077778888"
	var wg sync.WaitGroup
	created := make([]int, 10)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d MockCreated
			r := e.call(t, "POST", "/api/v1/kos/mock-datas", map[string]string{"customerId": "NEWCUST", "lineNumber": line})
			if r.Status != 200 {
				t.Errorf("concurrent create: %d %s", r.Status, r.Body)
				return
			}
			_ = json.Unmarshal(r.api(t).Data, &d)
			created[i] = d.BillCountCreated
		}()
	}
	wg.Wait()
	slices.Sort(created)
	if created[9] != 6 || created[8] != 0 {
		t.Errorf("bill counts %v, want one 6 and nine 0", created)
	}
	if n := e.count(t, `SELECT count(*) FROM kos_mock.bills WHERE line_number = $1`, line); n != 6 {
		t.Errorf("%d bills", n)
	}
}

func TestMockDataValidation(t *testing.T) {
	t.Parallel()
	e := newKOS(t, testSettings())
	for _, tc := range []struct {
		name string
		body any
		msg  string
	}{
		{"no customer id", map[string]string{"lineNumber": "01055556666"}, "고객 ID는 필수입니다"},
		{"bad line", map[string]string{"customerId": "C1", "lineNumber": "0105555"}, "회선번호 형식이 올바르지 않습니다 (예: 01012345678)"},
		{"both", map[string]string{"customerId": " ", "lineNumber": "abc"}, "고객 ID는 필수입니다, 회선번호 형식이 올바르지 않습니다 (예: 01012345678)"},
		{"long customer id", map[string]string{"customerId": strings.Repeat("c", 51), "lineNumber": "01055556666"}, "고객 ID는 50자 이하여야 합니다"},
		{"empty body", "", "고객 ID는 필수입니다, 회선번호는 필수입니다"},
		{"NUL in customer id", map[string]string{"customerId": "C\x00", "lineNumber": "01055556666"}, "고객 ID 형식이 올바르지 않습니다"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.call(t, "POST", "/api/v1/kos/mock-datas", tc.body).apiFailed(t, 400, "4000", tc.msg)
		})
	}
	r := e.call(t, "POST", "/api/v1/mock-datas", `{"customerId":`)
	if r.Status != 400 || r.api(t).Success || *r.api(t).ErrorCode != "4000" {
		t.Errorf("malformed mock-datas body: %d %s", r.Status, r.Body)
	}
	if n := e.count(t, `SELECT count(*) FROM kos_mock.customers WHERE line_number = '01055556666'`); n != 0 {
		t.Errorf("an invalid request created a customer")
	}
}

// Malformed bodies answer 400/413 in the KOS envelope, never 500; unknown
// paths 404 9006 and wrong methods 405 9005.
func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	e := newKOS(t, testSettings())
	huge := `{"lineNumber":"` + strings.Repeat("1", 70000) + `"}`
	for _, path := range []string{"/api/v1/kos/bill/inquiry", "/api/v1/bill-inquiry", "/api/v1/kos/product/inquiry",
		"/api/v1/kos/product/change", "/api/v1/product-change"} {
		for _, tc := range []struct {
			name, body string
			status     int
			code       string
		}{
			{"bad JSON", `{"lineNumber":`, 400, "9003"},
			{"not an object", `[1,2,3]`, 400, "9003"},
			{"wrong type", `{"lineNumber": 1012345678}`, 400, "9003"},
			{"null fields", `{"lineNumber": null, "requestId": null}`, 400, "9001"},
			{"trailing garbage", `{"lineNumber":"01012345678"} x`, 400, "9003"},
			{"huge body", huge, 413, "9003"},
		} {
			r := e.call(t, "POST", path, tc.body)
			b := r.kos(t)
			if r.Status != tc.status || b.Success || b.ResultCode != tc.code {
				t.Errorf("%s %s: %d %s, want %d %s", path, tc.name, r.Status, r.Body, tc.status, tc.code)
			}
		}
	}
	e.call(t, "POST", "/api/v1/kos/bill/inquiry", `{"lineNumber":`).failed(t, 400, "9003", "요청 데이터 형식이 올바르지 않습니다")
	e.call(t, "GET", "/api/v1/kos/nothing-here", nil).failed(t, 404, "9006", "요청한 API를 찾을 수 없습니다")
	e.call(t, "GET", "/api/v1/kos/bill/inquiry", nil).failed(t, 405, "9005", "지원하지 않는 HTTP 메서드입니다")
	e.call(t, "DELETE", "/api/v1/customer-info", nil).failed(t, 405, "9005", "지원하지 않는 HTTP 메서드입니다")
	e.call(t, "POST", "/api/v1/kos/bill/inquiry", map[string]string{"lineNumber": lineHong, "billingMonth": "202513"}).
		failed(t, 400, "9001", "입력값이 올바르지 않습니다: 청구월 형식이 올바르지 않습니다 (예: 202509)")
}

// CORS: KOS-Mock answers the browser (mock-datas, available months) under the
// same allow-list as every other service: the allowed origin is echoed with
// credentials, any other origin gets no CORS headers, on success, refusals
// and preflights alike.
func TestCORSUsesTheAllowList(t *testing.T) {
	t.Parallel()
	e := newKOS(t, testSettings())
	for _, path := range []string{"/api/v1/kos/mock-datas", "/api/v1/kos/bill/available-months/" + lineHong} {
		method := "POST"
		var body any = map[string]string{}
		if strings.Contains(path, "available-months") {
			method, body = "GET", nil
		}
		r := e.call(t, method, path, body, "Origin", "http://localhost:3000")
		if got := r.Header.Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != "http://localhost:3000" ||
			r.Header.Get("Access-Control-Allow-Credentials") != "true" {
			t.Errorf("%s from the allowed origin: ACAO %v, credentials %q", path, got,
				r.Header.Get("Access-Control-Allow-Credentials"))
		}
		r = e.call(t, method, path, body, "Origin", "http://elsewhere.example")
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" ||
			r.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s from another origin: ACAO %q, credentials %q", path, got,
				r.Header.Get("Access-Control-Allow-Credentials"))
		}
	}
	pre := e.call(t, "OPTIONS", "/api/v1/kos/mock-datas", nil, "Origin", "http://elsewhere.example",
		"Access-Control-Request-Method", "POST")
	if pre.Status != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin: %d, ACAO %q", pre.Status, pre.Header.Get("Access-Control-Allow-Origin"))
	}
}
