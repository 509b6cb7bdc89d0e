package bill

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"phonebill/shared/httpx"
)

func (te *testEnv) history(t *testing.T, token, query string) (answer, HistoryPage) {
	t.Helper()
	a := te.do(t, "GET", "/api/v1/bills/history"+query, token, nil)
	var p HistoryPage
	if a.Data != nil {
		if err := json.Unmarshal(a.Data, &p); err != nil {
			t.Fatal(err)
		}
	}
	return a, p
}

// insertHistory writes a history row at a given time (date-filter tests).
func (te *testEnv) insertHistory(t *testing.T, id, user, line, month, status string, at time.Time) {
	t.Helper()
	_, err := te.h.Pool.Exec(context.Background(), `INSERT INTO bill_inquiry.bill_inquiry_history
		(request_id, user_id, line_number, inquiry_month, request_time, process_time, status, result_code, cache_hit)
		VALUES ($1, $2, $3, $4, $5::timestamp, $5::timestamp, $6, '0000', false)`,
		id, user, line, month, pgTime(at), status)
	if err != nil {
		t.Fatal(err)
	}
}

func TestHistory(t *testing.T) {
	t.Parallel()
	te := setup(t, setupOpts{})
	tok1 := te.token(t, user01)
	tok2 := te.token(t, user02, "BILL_INQUIRY")

	// testuser01: a success, a cache hit, a failure; testuser02: a success.
	var ids []string
	for _, m := range []string{month(0), month(0), month(12)} {
		a := te.inquire(t, tok1, "010-1234-5678", m)
		var d InquiryData
		_ = json.Unmarshal(a.Data, &d)
		if d.RequestID == "" {
			d.RequestID = assertFailure(t, a, "1003", "해당 월 요금 정보가 없습니다")
		}
		ids = append(ids, d.RequestID)
		time.Sleep(5 * time.Millisecond) // distinct request times
	}
	if a := te.inquire(t, tok2, "010-8765-4321", ""); !a.Success {
		t.Fatalf("user02 inquiry = %+v", a)
	}

	a, p := te.history(t, tok1, "")
	if a.Status != 200 || !a.Success || a.Message != MsgHistoryOK {
		t.Fatalf("history = %d %+v", a.Status, a)
	}
	if p.Pagination != (Pagination{CurrentPage: 1, TotalPages: 1, TotalItems: 3, PageSize: 20}) || len(p.Items) != 3 {
		t.Fatalf("own history = %+v", p)
	}
	// Newest first.
	for i, it := range p.Items {
		if it.RequestID != ids[2-i] || it.LineNumber != "01012345678" {
			t.Fatalf("item %d = %+v, want %s", i, it, ids[2-i])
		}
	}
	fail, hit, first := p.Items[0], p.Items[1], p.Items[2]
	if fail.Status != StatusFailed || fail.ResultCode != "1003" || fail.InquiryMonth != month(12) || fail.ProcessTime == nil {
		t.Fatalf("failed item = %+v", fail)
	}
	if !hit.CacheHit || hit.Status != StatusCompleted || first.CacheHit ||
		first.ResultSummary != "5G 스탠다드 플랜 "+month(0)+" 총 76,500원" {
		t.Fatalf("items = %+v / %+v", hit, first)
	}
	// Timestamps as the client parses them.
	var raw struct {
		Data struct {
			Items []map[string]any `json:"items"`
		} `json:"data"`
	}
	b, _ := json.Marshal(a.raw)
	_ = json.Unmarshal(b, &raw)
	rt, _ := raw.Data.Items[0]["requestTime"].(string)
	if _, err := time.ParseInLocation("2006-01-02T15:04:05", rt, seoul); err != nil {
		t.Fatalf("requestTime %q: %v", rt, err)
	}

	// Status filter, and the caller's line named in either spelling.
	if _, p := te.history(t, tok1, "?status=FAILED&lineNumber=010-1234-5678"); p.Pagination.TotalItems != 1 || p.Items[0].RequestID != ids[2] {
		t.Fatalf("FAILED filter = %+v", p)
	}
	if _, p := te.history(t, tok1, "?status=COMPLETED&lineNumber=01012345678"); p.Pagination.TotalItems != 2 {
		t.Fatalf("COMPLETED filter = %+v", p)
	}
	// Pagination.
	_, p = te.history(t, tok1, "?size=2")
	if p.Pagination != (Pagination{CurrentPage: 1, TotalPages: 2, TotalItems: 3, PageSize: 2, HasNext: true}) || len(p.Items) != 2 {
		t.Fatalf("page 1 = %+v", p.Pagination)
	}
	_, p = te.history(t, tok1, "?size=2&page=2")
	if p.Pagination != (Pagination{CurrentPage: 2, TotalPages: 2, TotalItems: 3, PageSize: 2, HasPrevious: true}) ||
		len(p.Items) != 1 || p.Items[0].RequestID != ids[0] {
		t.Fatalf("page 2 = %+v", p)
	}
	if _, p := te.history(t, tok1, "?size=2&page=5"); len(p.Items) != 0 || p.Pagination.TotalItems != 3 {
		t.Fatalf("page past the end = %+v", p)
	}
	if _, ok := te.do(t, "GET", "/api/v1/bills/history?page=9", tok1, nil).raw["data"].(map[string]any)["items"].([]any); !ok {
		t.Fatal("an empty page must send items: []")
	}

	// Ownership: another line is refused; admins see any line, or all.
	if a, _ := te.history(t, tok1, "?lineNumber=010-8765-4321"); a.Status != 403 || a.ResultCode != "UNAUTHORIZED_LINE_NUMBER" {
		t.Fatalf("other line = %d %+v", a.Status, a)
	}
	if _, p := te.history(t, tok2, ""); p.Pagination.TotalItems != 1 || p.Items[0].LineNumber != "01087654321" {
		t.Fatalf("user02's own history = %+v", p)
	}
	adm := te.token(t, admin, "ADMIN", "USER_MANAGEMENT", "BILL_INQUIRY")
	if _, p := te.history(t, adm, ""); p.Pagination.TotalItems != 4 {
		t.Fatalf("admin's history = %+v", p.Pagination)
	}
	if _, p := te.history(t, adm, "?lineNumber=01087654321"); p.Pagination.TotalItems != 1 {
		t.Fatalf("admin on user02's line = %+v", p.Pagination)
	}
}

func TestHistoryDateFilterAndValidation(t *testing.T) {
	t.Parallel()
	te := setup(t, setupOpts{})
	tok := te.token(t, user01)
	// Rows at the edges of Seoul days.
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04:05", s, seoul)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	te.insertHistory(t, "REQ_A", "testuser01", "01012345678", "202508", StatusCompleted, at("2025-08-31 23:59:59"))
	te.insertHistory(t, "REQ_B", "testuser01", "01012345678", "202509", StatusCompleted, at("2025-09-01 00:00:00"))
	te.insertHistory(t, "REQ_C", "testuser01", "01012345678", "202509", StatusFailed, at("2025-09-30 23:59:59"))
	te.insertHistory(t, "REQ_D", "testuser01", "01012345678", "202510", StatusProcessing, at("2025-10-01 00:00:00"))

	cases := map[string][]string{
		"?startDate=2025-09-01&endDate=2025-09-30": {"REQ_C", "REQ_B"},
		"?startDate=2025-09-01":                    {"REQ_D", "REQ_C", "REQ_B"},
		"?endDate=2025-08-31":                      {"REQ_A"},
		"?status=PROCESSING":                       {"REQ_D"},
	}
	for q, want := range cases {
		_, p := te.history(t, tok, q)
		var got []string
		for _, it := range p.Items {
			got = append(got, it.RequestID)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", q, got, want)
		}
	}
	if _, p := te.history(t, tok, "?status=PROCESSING"); p.Items[0].ProcessTime == nil || p.Items[0].RequestTime.Time().Format("2006-01-02T15:04:05") != "2025-10-01T00:00:00" {
		t.Errorf("PROCESSING item = %+v", p.Items[0])
	}

	bad := map[string]string{
		"?startDate=2025-9-1":                      MsgBadDate,
		"?endDate=20250930":                        MsgBadDate,
		"?startDate=2025-09-31":                    MsgBadDate,
		"?startDate=2025-10-01&endDate=2025-09-01": MsgBadRange,
		"?status=DONE":                             MsgBadStatus,
		"?lineNumber=0101234":                      MsgBadLine,
		"?page=0":                                  "page는 1 이상 1000000 이하의 숫자여야 합니다",
		"?page=abc":                                "page는 1 이상 1000000 이하의 숫자여야 합니다",
		"?size=101":                                "size는 1 이상 100 이하의 숫자여야 합니다",
		"?size=-1":                                 "size는 1 이상 100 이하의 숫자여야 합니다",
		"?page=%20":                                "page는 1 이상 1000000 이하의 숫자여야 합니다",
		"?size=":                                   "size는 1 이상 100 이하의 숫자여야 합니다",
		"?page=1&page=2":                           "page는 한 번만 지정할 수 있습니다",
		"?status=COMPLETED&status=FAILED":          "status는 한 번만 지정할 수 있습니다",
		"?status=%27;drop":                         "쿼리 문자열 형식이 올바르지 않습니다",
		"?status=%zz":                              "쿼리 문자열 형식이 올바르지 않습니다",
		"?lineNumber=%00":                          httpx.TextFault("\x00"),
		"?startDate=%ff":                           httpx.TextFault("\xff"),
	}
	for q, msg := range bad {
		if a, _ := te.history(t, tok, q); a.Status != 400 || a.ResultCode != "INVALID_REQUEST" || a.Message != msg {
			t.Errorf("%s = %d %+v; want 400 %q", q, a.Status, a, msg)
		}
	}
}
