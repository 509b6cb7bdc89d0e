package bill

import (
	"net/url"
	"regexp"
	"slices"
	"testing"
	"time"

	"phonebill/shared/httpx"
)

var seoul = httpx.Seoul()

func TestParseMonth(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"202509": "202509", "2025-09": "202509", " 202512 ": "202512", "2025-01": "202501"} {
		if got, ok := parseMonth(in); !ok || got != want {
			t.Errorf("parseMonth(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "2025", "20259", "2025090", "202513", "202500", "2025/09", "2025-9", "abcdef", "2025-1a", "２０２５０９"} {
		if got, ok := parseMonth(in); ok {
			t.Errorf("parseMonth(%q) = %q, accepted", in, got)
		}
	}
}

func TestRecentMonthsCrossesYears(t *testing.T) {
	t.Parallel()
	// 2025-02-28 20:00 UTC is already March 1st in Seoul.
	now := time.Date(2025, 2, 28, 20, 0, 0, 0, time.UTC)
	got := recentMonths(now, seoul, 6)
	want := []string{"2025-03", "2025-02", "2025-01", "2024-12", "2024-11", "2024-10"}
	if !slices.Equal(got, want) {
		t.Fatalf("recentMonths = %v, want %v", got, want)
	}
	if m := monthOf(now, seoul); m != "202503" {
		t.Fatalf("monthOf = %s, want 202503 (Asia/Seoul)", m)
	}
}

func TestNormalizeMonths(t *testing.T) {
	t.Parallel()
	in := []string{"2025-03", "2025-09", "bogus", "202508", "2025-09", "2025-07", "2025-06", "2025-05", "2025-04", "2024-12"}
	got := normalizeMonths(in, 6)
	want := []string{"2025-09", "2025-08", "2025-07", "2025-06", "2025-05", "2025-04"}
	if !slices.Equal(got, want) {
		t.Fatalf("normalizeMonths = %v, want %v", got, want)
	}
	if got := normalizeMonths(nil, 6); len(got) != 0 {
		t.Fatalf("normalizeMonths(nil) = %v", got)
	}
}

func TestSummaryGroupsThousands(t *testing.T) {
	t.Parallel()
	got := summary(BillInfo{ProductName: "5G 스탠다드 플랜", BillingMonth: "202509", TotalFee: 76500})
	if got != "5G 스탠다드 플랜 202509 총 76,500원" {
		t.Fatalf("summary = %q", got)
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := groupThousands(n); got != want {
			t.Errorf("groupThousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestRequestIDFormat(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^REQ_20250301_[0-9A-F]{16}$`)
	now := time.Date(2025, 2, 28, 20, 0, 0, 0, time.UTC)
	a, b := newRequestID(now, seoul), newRequestID(now, seoul)
	if !re.MatchString(a) || a == b {
		t.Fatalf("request ids %q, %q", a, b)
	}
}

func TestParseInquiry(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 9, 8, 14, 30, 0, 0, seoul)
	b := &Bills{now: func() time.Time { return now }, cfg: Config{Location: seoul}}
	ok := []struct{ line, month, wantLine, wantMonth string }{
		{"010-1234-5678", "202508", "01012345678", "202508"},
		{"01012345678", "2025-07", "01012345678", "202507"},
		{"010-1234-5678", "", "01012345678", "202509"},
	}
	for _, c := range ok {
		rq, err := b.ParseInquiry(c.line, c.month)
		if err != nil || rq.Line != c.wantLine || rq.Month != c.wantMonth {
			t.Errorf("ParseInquiry(%q, %q) = %+v, %v", c.line, c.month, rq, err)
		}
	}
	bad := []struct{ line, month, msg, field string }{
		{"", "202509", MsgBadLine, "lineNumber"},
		{"011-1234-5678", "202509", MsgBadLine, "lineNumber"},
		{"0101234567", "", MsgBadLine, "lineNumber"},
		{"010-1234-5678", "2025-13", MsgBadMonth, "inquiryMonth"},
		{"010-1234-5678", "25-09", MsgBadMonth, "inquiryMonth"},
		{"abc", "abc", MsgBadLine, "inquiryMonth"},
	}
	for _, c := range bad {
		_, err := b.ParseInquiry(c.line, c.month)
		e := httpx.AsError(err)
		if err == nil || e.Status() != 400 || e.Message != c.msg || e.Fields[c.field] == "" {
			t.Errorf("ParseInquiry(%q, %q) = %v; want 400 %q with field %s", c.line, c.month, err, c.msg, c.field)
		}
	}
}

func TestParseHistory(t *testing.T) {
	t.Parallel()
	q, err := ParseHistory(url.Values{})
	if err != nil || q != (HistoryQuery{Page: 1, Size: 20}) {
		t.Fatalf("defaults = %+v, %v", q, err)
	}
	q, err = ParseHistory(url.Values{"lineNumber": {"010-1234-5678"}, "startDate": {"2025-09-01"},
		"endDate": {"2025-09-30"}, "status": {"failed"}, "page": {"2"}, "size": {"100"}})
	want := HistoryQuery{Line: "01012345678", Start: "2025-09-01", End: "2025-09-30", Status: "FAILED", Page: 2, Size: 100}
	if err != nil || q != want {
		t.Fatalf("ParseHistory = %+v, %v; want %+v", q, err, want)
	}
	bad := []struct {
		v     url.Values
		field string
		msg   string
	}{
		{url.Values{"startDate": {"2025/09/01"}}, "startDate", MsgBadDate},
		{url.Values{"endDate": {"2025-02-30"}}, "endDate", MsgBadDate},
		{url.Values{"startDate": {"2025-09-30"}, "endDate": {"2025-09-01"}}, "startDate", MsgBadRange},
		{url.Values{"status": {"DONE"}}, "status", MsgBadStatus},
		{url.Values{"page": {"0"}}, "page", ""},
		{url.Values{"page": {"x"}}, "page", ""},
		{url.Values{"size": {"101"}}, "size", ""},
		{url.Values{"size": {"0"}}, "size", ""},
		{url.Values{"lineNumber": {"12345"}}, "lineNumber", MsgBadLine},
	}
	for _, c := range bad {
		_, err := ParseHistory(c.v)
		e := httpx.AsError(err)
		if err == nil || e.Status() != 400 || e.Fields[c.field] == "" || (c.msg != "" && e.Message != c.msg) {
			t.Errorf("ParseHistory(%v) = %v; want 400 on %s %q", c.v, err, c.field, c.msg)
		}
	}
}
