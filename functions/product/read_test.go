package product

import (
	"context"
	"net/http"
	"reflect"
	"regexp"
	"testing"
	"time"

	"phonebill/shared/config"
	"phonebill/shared/kos"
)

var localTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$`)

var (
	standard = ProductInfo{ProductCode: "5G-STANDARD-001", ProductName: "5G 스탠다드 플랜", MonthlyFee: 69000,
		DataAllowance: "100GB", VoiceAllowance: "무제한", SMSAllowance: "무제한", OperatorCode: "KT",
		Description: "5G 네트워크 스탠다드 요금제", Available: true}
	premium = ProductInfo{ProductCode: "5G-PREMIUM-001", ProductName: "5G 프리미엄 플랜", MonthlyFee: 89000,
		DataAllowance: "무제한", VoiceAllowance: "무제한", SMSAllowance: "무제한", OperatorCode: "KT",
		Description: "5G 네트워크 무제한 프리미엄 요금제", Available: true}
	ltePremium = ProductInfo{ProductCode: "LTE-PREMIUM-001", ProductName: "LTE 프리미엄 플랜", MonthlyFee: 59000,
		DataAllowance: "50GB", VoiceAllowance: "무제한", SMSAllowance: "무제한", OperatorCode: "KT",
		Description: "LTE 네트워크 프리미엄 요금제", Available: true}
	lteBasic = ProductInfo{ProductCode: "LTE-BASIC-001", ProductName: "LTE 베이직 플랜", MonthlyFee: 39000,
		DataAllowance: "20GB", VoiceAllowance: "무제한", SMSAllowance: "기본 제공", OperatorCode: "KT",
		Description: "LTE 네트워크 베이직 요금제", Available: true}
)

func TestCustomer(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	tok := r.token(t, "testuser01")

	for _, line := range []string{"010-1234-5678", "01012345678"} {
		res := r.do(t, "GET", "/api/v1/products/customer?lineNumber="+line, tok, nil)
		res.want(t, http.StatusOK, "")
		if !res.Env.Success || res.Env.ResultCode != "0000" || res.Env.Message != "고객 정보를 조회했습니다" ||
			!localTime.MatchString(res.Env.Timestamp) {
			t.Fatalf("envelope %s", res.Raw)
		}
		var v CustomerView
		res.data(t, &v)
		want := CustomerView{CustomerID: "CUST001", LineNumber: line01, CustomerName: "홍길동",
			CurrentProduct: &standard, LineStatus: "ACTIVE",
			ContractInfo: &ContractInfo{ContractDate: "2024-03-15", TermEndDate: "2026-03-14", EarlyTerminationFee: 0}}
		if !reflect.DeepEqual(v, want) {
			t.Fatalf("customer %+v\nwant %+v", v, want)
		}
	}
	ttl := r.h.Cache.Client().TTL(context.Background(), r.h.Cache.Key(customerKey(line01))).Val()
	if ttl < 3*time.Hour+50*time.Minute || ttl > 4*time.Hour {
		t.Fatalf("customer cache TTL %s, want 4h", ttl)
	}

	// Someone else's line: 403; an admin may read any line; KOS's unknown
	// line is a business failure the screen shows.
	r.do(t, "GET", "/api/v1/products/customer?lineNumber=010-8765-4321", tok, nil).
		want(t, http.StatusForbidden, "UNAUTHORIZED_LINE_NUMBER")
	admin := r.token(t, "admin")
	res := r.do(t, "GET", "/api/v1/products/customer?lineNumber="+line03, admin, nil)
	res.want(t, http.StatusOK, "")
	var v CustomerView
	res.data(t, &v)
	if v.CustomerID != "CUST003" || v.LineStatus != "SUSPENDED" || v.CurrentProduct.ProductCode != "LTE-PREMIUM-001" {
		t.Fatalf("admin view of line 03: %+v", v)
	}
	res = r.do(t, "GET", "/api/v1/products/customer?lineNumber=01099998888", admin, nil)
	res.want(t, http.StatusOK, "CUSTOMER_NOT_FOUND")
	if res.Env.Success || res.Env.Error.Message != "고객 정보를 찾을 수 없습니다" || len(res.Env.Data) != 0 {
		t.Fatalf("unknown line: %s", res.Raw)
	}

	// Bad input and no token.
	for _, q := range []string{"", "?lineNumber=", "?lineNumber=0101234", "?lineNumber=011-1234-5678", "?lineNumber=010123456789"} {
		res := r.do(t, "GET", "/api/v1/products/customer"+q, tok, nil)
		res.want(t, http.StatusBadRequest, "INVALID_REQUEST")
		if res.Env.Error.Message != "회선번호는 필수입니다" && res.Env.Error.Message != "회선번호는 010으로 시작하는 11자리 숫자여야 합니다" {
			t.Fatalf("%q: message %q", q, res.Env.Error.Message)
		}
	}
	r.do(t, "GET", "/api/v1/products/customer?lineNumber="+line01, "", nil).want(t, http.StatusUnauthorized, "UNAUTHORIZED")
	// Bill-only users still see their plan (no PRODUCT_CHANGE needed), and
	// a forced KOS scenario is never passed to these auxiliary reads.
	res = r.do(t, "GET", "/api/v1/products/customer?lineNumber="+line02, r.token(t, "testuser02"), nil, "X-Mock-Scenario", "error")
	res.want(t, http.StatusOK, "")
	if !res.Env.Success {
		t.Fatalf("bill-only user: %s", res.Raw)
	}
}

// deadKOS is a Products whose KOS cannot be reached, over r's database and
// Redis (so it sees what r cached).
func deadKOS(t *testing.T, r *rig) *Products {
	t.Helper()
	kc, err := kos.New(kos.Options{Config: config.KOS{BaseURL: "http://127.0.0.1:1", TimeoutMS: 500,
		BreakerFailures: 50, BreakerOpenSeconds: 10}, ServiceName: ServiceName, Log: r.h.Log,
		Backoff: []time.Duration{time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return newService(Deps{Pool: r.h.Pool, Cache: r.h.Cache, KOS: kc, Events: &failingSender{}, Log: r.h.Log}, r.cfg, nil)
}

func TestReadsWhenKOSIsDown(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	down := deadKOS(t, r)

	// Nothing cached: the business failure of SPEC §3.3.1/§3.3.2.
	if _, err := down.CustomerInfo(ctx, line01); err != failKOSUnavailable {
		t.Fatalf("customer with KOS down: %v", err)
	}
	if _, err := down.Available(ctx, line01, "5G-STANDARD-001"); err != failKOSUnavailable {
		t.Fatalf("available with KOS down: %v", err)
	}
	v := down.Validate(ctx, upgrade)
	want := Validation{ValidationResult: "FAILURE", FailureReason: "시스템 오류로 인해 사전체크를 완료할 수 없습니다",
		ValidationDetails: []CheckDetail{{CheckType: "PRODUCT_AVAILABLE", Result: "FAIL", Message: "검증 중 시스템 오류가 발생했습니다"}}}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("validation with KOS down: %+v", v)
	}

	// Once cached by the healthy service, the same reads answer from Redis.
	tok := r.token(t, "testuser01")
	r.do(t, "GET", "/api/v1/products/customer?lineNumber="+line01, tok, nil).want(t, http.StatusOK, "")
	r.do(t, "GET", "/api/v1/products/available?currentProductCode=5G-STANDARD-001", tok, nil).want(t, http.StatusOK, "")
	if c, err := down.CustomerInfo(ctx, line01); err != nil || c.CurrentProduct.ProductCode != "5G-STANDARD-001" {
		t.Fatalf("cached customer with KOS down: %+v %v", c, err)
	}
	if v := down.Validate(ctx, upgrade); !v.OK() {
		t.Fatalf("cached validation with KOS down: %+v", v)
	}

	// Over HTTP the failure is a 200 success:false with the screen's text.
	r2 := newRig(t, rigOptions{kos: func(k *config.KOS) { k.BaseURL = "http://127.0.0.1:1"; k.TimeoutMS = 300 }})
	res := r2.do(t, "GET", "/api/v1/products/customer?lineNumber="+line01, r2.token(t, "testuser01"), nil)
	res.want(t, http.StatusOK, "KOS_SERVICE_UNAVAILABLE")
	if res.Env.Success || res.Env.Error.Message != "KOS 시스템이 일시적으로 사용할 수 없습니다." {
		t.Fatalf("KOS down: %s", res.Raw)
	}
	res = r2.do(t, "GET", "/api/v1/products/available", r2.token(t, "testuser01"), nil)
	res.want(t, http.StatusOK, "KOS_SERVICE_UNAVAILABLE")
}

func TestAvailable(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	tok := r.token(t, "testuser01")
	list := func(q string) AvailableView {
		t.Helper()
		res := r.do(t, "GET", "/api/v1/products/available"+q, tok, nil)
		res.want(t, http.StatusOK, "")
		if !res.Env.Success || res.Env.Message != "변경 가능한 상품 목록을 조회했습니다" {
			t.Fatalf("envelope %s", res.Raw)
		}
		var v AvailableView
		res.data(t, &v)
		if v.TotalCount != len(v.Products) {
			t.Fatalf("totalCount %d for %d products", v.TotalCount, len(v.Products))
		}
		return v
	}
	// The client journey (SPEC §7 step 6): same operator, ACTIVE, not the
	// current one, most expensive first.
	if v := list("?currentProductCode=5G-STANDARD-001"); !reflect.DeepEqual(v.Products, []ProductInfo{premium, ltePremium, lteBasic}) {
		t.Fatalf("available for 5G-STANDARD-001: %+v", v.Products)
	}
	// Without a (known) current product: the operator of the caller's line.
	want := []ProductInfo{premium, standard, ltePremium, lteBasic}
	for _, q := range []string{"", "?currentProductCode=NO-SUCH-001"} {
		if v := list(q); !reflect.DeepEqual(v.Products, want) {
			t.Fatalf("available %q: %+v", q, v.Products)
		}
	}
	// The other operator's only product: an empty list is a success.
	res := r.do(t, "GET", "/api/v1/products/available?currentProductCode=LG-5G-STANDARD-001", tok, nil)
	res.want(t, http.StatusOK, "")
	if string(res.Env.Data) != `{"products":[],"totalCount":0}` {
		t.Fatalf("empty list: %s", res.Env.Data)
	}
	if !r.h.Cache.Get(context.Background(), catalogKey, &Catalog{}) {
		t.Fatal("catalog not cached")
	}
	ttl := r.h.Cache.Client().TTL(context.Background(), r.h.Cache.Key(catalogKey)).Val()
	if ttl < 110*time.Minute || ttl > 2*time.Hour {
		t.Fatalf("catalog TTL %s, want 2h", ttl)
	}
	r.do(t, "GET", "/api/v1/products/available?currentProductCode=%3Cscript%3E", tok, nil).want(t, http.StatusBadRequest, "INVALID_REQUEST")
	r.do(t, "GET", "/api/v1/products/available", "", nil).want(t, http.StatusUnauthorized, "UNAUTHORIZED")
}

func TestValidation(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	u1, u3 := r.token(t, "testuser01"), r.token(t, "testuser03")
	pass := map[string]CheckDetail{
		"PRODUCT_AVAILABLE": {"PRODUCT_AVAILABLE", "PASS", "판매중인 상품입니다"},
		"OPERATOR_MATCH":    {"OPERATOR_MATCH", "PASS", "사업자가 일치합니다"},
		"LINE_STATUS":       {"LINE_STATUS", "PASS", "회선이 정상 상태입니다"},
	}
	details := func(fails ...CheckDetail) []CheckDetail {
		out := []CheckDetail{pass["PRODUCT_AVAILABLE"], pass["OPERATOR_MATCH"], pass["LINE_STATUS"]}
		for _, f := range fails {
			for i := range out {
				if out[i].CheckType == f.CheckType {
					out[i] = f
				}
			}
		}
		return out
	}
	cases := []struct {
		name  string
		token string
		body  any
		want  Validation
	}{
		{"all pass", u1, map[string]string{"lineNumber": line01, "currentProductCode": "5G-STANDARD-001", "targetProductCode": "5G-PREMIUM-001"},
			Validation{ValidationResult: "SUCCESS", ValidationDetails: details()}},
		{"dashed line", u1, map[string]string{"lineNumber": "010-1234-5678", "currentProductCode": "5G-STANDARD-001", "targetProductCode": "LTE-BASIC-001"},
			Validation{ValidationResult: "SUCCESS", ValidationDetails: details()}},
		{"discontinued target", u1, map[string]string{"lineNumber": line01, "currentProductCode": "5G-STANDARD-001", "targetProductCode": "3G-OLD-001"},
			Validation{ValidationResult: "FAILURE", FailureReason: "변경 대상 상품이 판매중이 아닙니다.",
				ValidationDetails: details(CheckDetail{"PRODUCT_AVAILABLE", "FAIL", "판매 중단된 상품입니다"})}},
		{"other operator", u1, map[string]string{"lineNumber": line01, "currentProductCode": "5G-STANDARD-001", "targetProductCode": "LG-5G-STANDARD-001"},
			Validation{ValidationResult: "FAILURE", FailureReason: "현재 상품과 변경 대상 상품의 사업자가 일치하지 않습니다.",
				ValidationDetails: details(CheckDetail{"OPERATOR_MATCH", "FAIL", "사업자가 일치하지 않습니다 (현재: KT, 변경: LGU)"})}},
		{"suspended line", u3, map[string]string{"lineNumber": line03, "currentProductCode": "LTE-PREMIUM-001", "targetProductCode": "LTE-BASIC-001"},
			Validation{ValidationResult: "FAILURE", FailureReason: "회선 상태가 상품변경이 불가능한 상태입니다.",
				ValidationDetails: details(CheckDetail{"LINE_STATUS", "FAIL", "회선이 정지 상태입니다"})}},
		{"stale current product", u1, map[string]string{"lineNumber": line01, "currentProductCode": "LTE-BASIC-001", "targetProductCode": "5G-PREMIUM-001"},
			Validation{ValidationResult: "FAILURE", FailureReason: "현재 상품과 변경 대상 상품의 사업자가 일치하지 않습니다.",
				ValidationDetails: details(CheckDetail{"OPERATOR_MATCH", "FAIL", "현재 상품 정보가 최신이 아닙니다. 다시 조회해주세요"})}},
		{"same product", u1, map[string]string{"lineNumber": line01, "currentProductCode": "5G-STANDARD-001", "targetProductCode": "5G-STANDARD-001"},
			Validation{ValidationResult: "FAILURE", FailureReason: "변경 대상 상품이 판매중이 아닙니다.",
				ValidationDetails: details(CheckDetail{"PRODUCT_AVAILABLE", "FAIL", "현재 이용 중인 상품으로는 변경할 수 없습니다"})}},
		{"unknown target", u1, map[string]string{"lineNumber": line01, "currentProductCode": "5G-STANDARD-001", "targetProductCode": "NO-SUCH-001"},
			Validation{ValidationResult: "FAILURE", FailureReason: "변경 대상 상품이 판매중이 아닙니다.",
				ValidationDetails: details(CheckDetail{"PRODUCT_AVAILABLE", "FAIL", "존재하지 않는 상품코드입니다"})}},
		{"two failures in check order", u3, map[string]string{"lineNumber": line03, "currentProductCode": "LTE-PREMIUM-001", "targetProductCode": "3G-OLD-001"},
			Validation{ValidationResult: "FAILURE", FailureReason: "변경 대상 상품이 판매중이 아닙니다. 회선 상태가 상품변경이 불가능한 상태입니다.",
				ValidationDetails: details(CheckDetail{"PRODUCT_AVAILABLE", "FAIL", "판매 중단된 상품입니다"},
					CheckDetail{"LINE_STATUS", "FAIL", "회선이 정지 상태입니다"})}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The scenario header only ever reaches a change call.
			res := r.do(t, "POST", "/api/v1/products/change/validation", c.token, c.body, "X-Mock-Scenario", "error")
			res.want(t, http.StatusOK, "")
			if !res.Env.Success || res.Env.ResultCode != "0000" || res.Env.Message != "상품변경 사전체크가 완료되었습니다" {
				t.Fatalf("envelope %s", res.Raw)
			}
			var v Validation
			res.data(t, &v)
			if !reflect.DeepEqual(v, c.want) {
				t.Fatalf("got  %+v\nwant %+v", v, c.want)
			}
		})
	}

	// A KOS customer the line cannot be found for (admin asking).
	admin := r.token(t, "admin")
	res := r.do(t, "POST", "/api/v1/products/change/validation", admin,
		map[string]string{"lineNumber": "01099998888", "currentProductCode": "5G-STANDARD-001", "targetProductCode": "5G-PREMIUM-001"})
	var v Validation
	res.data(t, &v)
	want := Validation{ValidationResult: "FAILURE",
		FailureReason: "현재 상품과 변경 대상 상품의 사업자가 일치하지 않습니다. 회선 상태가 상품변경이 불가능한 상태입니다.",
		ValidationDetails: details(CheckDetail{"OPERATOR_MATCH", "FAIL", "현재 상품 정보를 찾을 수 없습니다"},
			CheckDetail{"LINE_STATUS", "FAIL", "회선 정보를 찾을 수 없습니다"})}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("unknown line: %+v", v)
	}

	// Request-level problems are not verdicts.
	bad := []struct {
		body  string
		field string
		msg   string
	}{
		{`{}`, "lineNumber", "회선번호는 필수입니다"},
		{``, "lineNumber", "회선번호는 필수입니다"},
		{`{"lineNumber":"01012345678","targetProductCode":"5G-PREMIUM-001"}`, "currentProductCode", "현재 상품 코드는 필수입니다"},
		{`{"lineNumber":"01012345678","currentProductCode":"5G-STANDARD-001"}`, "targetProductCode", "변경 대상 상품 코드는 필수입니다"},
		{`{"lineNumber":"0101234","currentProductCode":"5G-STANDARD-001","targetProductCode":"5G-PREMIUM-001"}`, "lineNumber", "회선번호는 010으로 시작하는 11자리 숫자여야 합니다"},
		{`{"lineNumber":01012345678}`, "", ""},
		{`{"lineNumber":`, "", ""},
	}
	for _, b := range bad {
		res := r.do(t, "POST", "/api/v1/products/change/validation", u1, b.body)
		res.want(t, http.StatusBadRequest, "INVALID_REQUEST")
		if b.msg != "" && res.Env.Error.Message != b.msg {
			t.Fatalf("%s: message %q, want %q", b.body, res.Env.Error.Message, b.msg)
		}
	}
	body := map[string]string{"lineNumber": line02, "currentProductCode": "LTE-BASIC-001", "targetProductCode": "LTE-PREMIUM-001"}
	r.do(t, "POST", "/api/v1/products/change/validation", u1, body).want(t, http.StatusForbidden, "UNAUTHORIZED_LINE_NUMBER")
	r.do(t, "POST", "/api/v1/products/change/validation", r.token(t, "testuser02"), body).want(t, http.StatusForbidden, "ACCESS_DENIED")
}

func TestContractInfo(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"2024-03-15T00:00:00": "2026-03-14",
		"2023-11-01":          "2025-10-31",
		"2024-01-31T10:00:00": "2026-01-30",
		"2024-02-29T00:00:00": "2026-02-27",
	} {
		c := contractInfo(in)
		if c == nil || c.TermEndDate != want || c.ContractDate != in[:10] || c.EarlyTerminationFee != 0 {
			t.Errorf("contractInfo(%q) = %+v, want end %s", in, c, want)
		}
	}
	for _, in := range []string{"", "2024", "garbage-xx"} {
		if c := contractInfo(in); c != nil {
			t.Errorf("contractInfo(%q) = %+v, want nil", in, c)
		}
	}
}
