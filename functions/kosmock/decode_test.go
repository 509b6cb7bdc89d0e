package kosmock

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"phonebill/shared/httpx"
)

// FuzzDecodeChange feeds arbitrary bodies to the product change decoder:
// it never panics, rejects with a 4xx, and accepts only complete, valid
// requests.
func FuzzDecodeChange(f *testing.F) {
	for _, seed := range []string{
		`{"lineNumber":"01012345678","currentProductCode":"5G-STANDARD-001","targetProductCode":"5G-PREMIUM-001","requestId":"r1"}`,
		`{"lineNumber":"010-1234-5678","currentProductCode":"A","targetProductCode":"B","requestId":"x"}`,
		`{"lineNumber":123}`, `[]`, `null`, ``, `{`, `{"requestId":"` + strings.Repeat("a", 80) + `"}`,
		`{"lineNumber":"\u0000","currentProductCode":{},"targetProductCode":[],"requestId":1e999}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/kos/product/change", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 65536)
		req, err := DecodeChange(r)
		if err != nil {
			if st := httpx.AsError(err).Status(); st != 400 && st != 413 {
				t.Fatalf("body %q: status %d, want 400/413", body, st)
			}
			return
		}
		if len(req.Line) != 11 || !strings.HasPrefix(req.Line, "010") || req.CurrentProductCode == "" ||
			req.TargetProductCode == "" || req.RequestID == "" || utf8.RuneCountInString(req.RequestID) > 64 ||
			utf8.RuneCountInString(req.CurrentProductCode) > 50 || utf8.RuneCountInString(req.TargetProductCode) > 50 {
			t.Fatalf("body %q accepted as %+v", body, req)
		}
		for _, v := range []string{req.RequestID, req.CurrentProductCode, req.TargetProductCode} {
			if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) || v != strings.TrimSpace(v) {
				t.Fatalf("body %q accepted a control character or padding: %q", body, v)
			}
		}
	})
}

func TestAllowanceNumber(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"무제한": -1, "100GB": 100, "500분": 500, "기본 제공": 0, "": 0, "5GB": 5, " 무제한 ": -1} {
		if got := allowanceNumber(in); got != want {
			t.Errorf("allowanceNumber(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestMonthRules(t *testing.T) {
	t.Parallel()
	seoul := httpx.Seoul()
	got := recentMonths(time.Date(2025, 2, 28, 23, 59, 0, 0, seoul))
	want := []string{"202502", "202501", "202412", "202411", "202410", "202409"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("recentMonths = %v, want %v", got, want)
	}
	for in, want := range map[string]string{"202509": "20251025", "202512": "20260125", "202501": "20250225", "bad": ""} {
		if got := dueDate(in); got != want {
			t.Errorf("dueDate(%s) = %s, want %s", in, got, want)
		}
	}
	for _, tc := range []struct {
		from time.Time
		n    int
		want string
	}{
		{time.Date(2025, 3, 31, 10, 0, 0, 0, seoul), 1, "2025-02-28"},
		{time.Date(2024, 3, 31, 10, 0, 0, 0, seoul), 1, "2024-02-29"},
		{time.Date(2025, 1, 15, 10, 0, 0, 0, seoul), 24, "2023-01-15"},
		{time.Date(2025, 5, 31, 10, 0, 0, 0, seoul), 3, "2025-02-28"},
	} {
		if got := minusMonths(tc.from, tc.n).Format("2006-01-02"); got != tc.want {
			t.Errorf("minusMonths(%s, %d) = %s, want %s", tc.from.Format("2006-01-02"), tc.n, got, tc.want)
		}
	}
	for in, want := range map[string]string{"202509": "202509", "2025-09": "202509", "": "", " 2025-12 ": "202512"} {
		var f httpx.Fields
		if got := checkMonth(&f, "billingMonth", in); got != want || !f.Empty() {
			t.Errorf("checkMonth(%q) = %q (%v), want %q", in, got, f.Map(), want)
		}
	}
	for _, in := range []string{"202513", "202500", "2025-9", "20250", "2025/09", "abcdef", "2025-091"} {
		var f httpx.Fields
		if got := checkMonth(&f, "billingMonth", in); got != "" || f.Empty() {
			t.Errorf("checkMonth(%q) accepted as %q", in, got)
		}
	}
}
