package product

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"phonebill/functions/bill"
	"phonebill/shared/fn"
	"phonebill/shared/httpx"
)

func TestHistory(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	u1, admin := r.token(t, "testuser01"), r.token(t, "admin")
	_, done := r.change(t, u1, upgrade)
	_, failed := r.change(t, u1, ChangeRequest{LineNumber: line01, CurrentProductCode: "5G-PREMIUM-001", TargetProductCode: "3G-OLD-001"})
	r.change(t, r.token(t, "testuser03"), ChangeRequest{LineNumber: line03, CurrentProductCode: "LTE-PREMIUM-001", TargetProductCode: "LTE-BASIC-001"})
	// A request from 40 days ago is outside the default month.
	old := uuid.NewString()
	if _, err := r.h.Pool.Exec(ctx, `INSERT INTO product_change.pc_product_change_history (request_id, line_number,
		customer_id, user_id, current_product_code, target_product_code, process_status, requested_at)
		VALUES ($1, $2, 'CUST001', 'testuser01', 'LTE-BASIC-001', '5G-STANDARD-001', 'COMPLETED', $3::timestamptz)`,
		old, line01, time.Now().AddDate(0, 0, -40)); err != nil {
		t.Fatal(err)
	}

	get := func(token, q string) HistoryView {
		t.Helper()
		res := r.do(t, "GET", "/api/v1/products/history"+q, token, nil)
		res.want(t, http.StatusOK, "")
		if !res.Env.Success || res.Env.Message != "상품변경 이력을 조회했습니다" {
			t.Fatalf("envelope %s", res.Raw)
		}
		var v HistoryView
		res.data(t, &v)
		return v
	}
	v := get(u1, "")
	if len(v.History) != 2 || v.Pagination != (Pagination{Page: 1, Size: 10, TotalElements: 2, TotalPages: 1}) {
		t.Fatalf("default history %+v", v)
	}
	newest, oldest := v.History[0], v.History[1]
	if newest.RequestID != failed.RequestID || newest.ProcessStatus != "FAILED" || newest.CurrentProductName != "5G 프리미엄 플랜" ||
		newest.TargetProductCode != "3G-OLD-001" || newest.TargetProductName != "3G 레거시 플랜" ||
		newest.ResultMessage != "변경 대상 상품이 판매중이 아닙니다." || newest.ProcessedAt != failed.ProcessedAt {
		t.Fatalf("newest item %+v", newest)
	}
	want := HistoryItem{RequestID: done.RequestID, LineNumber: line01, ProcessStatus: "COMPLETED",
		CurrentProductCode: "5G-STANDARD-001", CurrentProductName: "5G 스탠다드 플랜", TargetProductCode: "5G-PREMIUM-001",
		TargetProductName: "5G 프리미엄 플랜", RequestedAt: oldest.RequestedAt, ProcessedAt: done.ProcessedAt,
		ResultMessage: "상품 변경이 완료되었습니다"}
	if oldest != want || !localTime.MatchString(oldest.RequestedAt) {
		t.Fatalf("oldest item %+v\nwant %+v", oldest, want)
	}
	if v := get(u1, "?lineNumber=010-1234-5678&page=2&size=1"); len(v.History) != 1 || v.History[0].RequestID != done.RequestID ||
		v.Pagination != (Pagination{Page: 2, Size: 1, TotalElements: 2, TotalPages: 2, HasPrevious: true}) {
		t.Fatalf("page 2: %+v", v)
	}
	if v := get(u1, "?page=1&size=1"); !v.Pagination.HasNext || v.Pagination.HasPrevious {
		t.Fatalf("page 1: %+v", v.Pagination)
	}
	if v := get(u1, "?page=5&size=1"); len(v.History) != 0 || v.Pagination.TotalElements != 2 {
		t.Fatalf("past the end: %+v", v)
	}
	today := time.Now().In(httpx.Seoul())
	day := func(d int) string { return today.AddDate(0, 0, d).Format("2006-01-02") }
	if v := get(u1, "?startDate="+day(-45)); v.Pagination.TotalElements != 3 || v.History[2].RequestID != old {
		t.Fatalf("45 days: %+v", v)
	}
	if v := get(u1, "?startDate="+day(-45)+"&endDate="+day(-30)); len(v.History) != 1 || v.History[0].RequestID != old {
		t.Fatalf("a past window: %+v", v)
	}
	// Admins see every line, or the one they name.
	if v := get(admin, ""); v.Pagination.TotalElements != 3 {
		t.Fatalf("admin, all lines: %+v", v.Pagination)
	}
	if v := get(admin, "?lineNumber="+line03); len(v.History) != 1 || v.History[0].LineNumber != line03 {
		t.Fatalf("admin, line 03: %+v", v)
	}

	bad := map[string]string{
		"?page=0":               "",
		"?page=x":               "",
		"?size=0":               "",
		"?size=101":             "",
		"?page=%20":             "page는 1 이상 1000000 이하의 숫자여야 합니다",
		"?size=":                "size는 1 이상 100 이하의 숫자여야 합니다",
		"?page=1&page=2":        "page는 한 번만 지정할 수 있습니다",
		"?lineNumber=%00":       "제어 문자는 사용할 수 없습니다",
		"?endDate=%c0":          "올바른 UTF-8 문자열이 아닙니다",
		"?page=1;size=5":        "쿼리 문자열 형식이 올바르지 않습니다",
		"?lineNumber=12":        "회선번호는 010으로 시작하는 11자리 숫자여야 합니다",
		"?startDate=2025-13-01": "날짜는 YYYY-MM-DD 형식이어야 합니다",
		"?startDate=" + day(-1) + "&endDate=" + day(-2):               "시작일이 종료일보다 늦을 수 없습니다",
		"?startDate=" + today.AddDate(-2, 0, -1).Format("2006-01-02"): "조회 가능한 기간을 초과했습니다 (최대 2년)",
	}
	for q, msg := range bad {
		res := r.do(t, "GET", "/api/v1/products/history"+q, u1, nil)
		res.want(t, http.StatusBadRequest, "INVALID_REQUEST")
		if msg != "" && res.Env.Error.Message != msg {
			t.Errorf("%s: message %q, want %q", q, res.Env.Error.Message, msg)
		}
	}
	r.do(t, "GET", "/api/v1/products/history?lineNumber="+line03, u1, nil).want(t, http.StatusForbidden, "UNAUTHORIZED_LINE_NUMBER")
	r.do(t, "GET", "/api/v1/products/history", r.token(t, "testuser02"), nil).want(t, http.StatusForbidden, "ACCESS_DENIED")
}

func TestChangeEvictsBillCache(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{extra: []fn.Service{bill.Service()}})
	ctx := context.Background()
	mine := []string{"bill:data:" + line01 + ":202509", "bill:data:" + line01 + ":202508", "bill:months:" + line01}
	other := "bill:data:" + line02 + ":202509"
	for _, k := range append(mine, other) {
		r.h.Cache.Set(ctx, k, map[string]int{"totalFee": 76500}, time.Hour)
	}
	_, cr := r.change(t, r.token(t, "testuser01"), upgrade)
	if cr.ProcessStatus != "COMPLETED" {
		t.Fatalf("change %+v", cr)
	}
	exists := func(k string) bool { return r.h.Cache.Client().Exists(ctx, r.h.Cache.Key(k)).Val() == 1 }
	waitFor(t, 5*time.Second, "bill cache eviction", func() bool {
		for _, k := range mine {
			if exists(k) {
				return false
			}
		}
		return true
	})
	if !exists(other) {
		t.Fatal("another line's bill was evicted")
	}
}
