package product

import (
	"errors"
	"testing"
	"time"

	"phonebill/shared/auth"
	"phonebill/shared/httpx"
)

// FuzzDecodeChangeRequest: any body decodes to a valid request or a 400,
// never a panic or another error.
func FuzzDecodeChangeRequest(f *testing.F) {
	for _, s := range []string{
		`{"lineNumber":"01012345678","currentProductCode":"5G-STANDARD-001","targetProductCode":"5G-PREMIUM-001"}`,
		`{"lineNumber":"010-1234-5678","currentProductCode":" A ","targetProductCode":"B"}`,
		`{"lineNumber":1}`, `[]`, `null`, ``, `{"lineNumber":"010-`, "\xff\xfe", `{"targetProductCode":"키"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeChangeRequest(body)
		if err != nil {
			var he *httpx.Error
			if !errors.As(err, &he) || he.Status() != 400 || he.Message == "" {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		if l, ok := auth.NormalizeLine(req.LineNumber); !ok || l != req.LineNumber {
			t.Fatalf("accepted line %q", req.LineNumber)
		}
		if !validCode(req.CurrentProductCode) || !validCode(req.TargetProductCode) {
			t.Fatalf("accepted codes %q %q", req.CurrentProductCode, req.TargetProductCode)
		}
	})
}

// FuzzDecodeRequested: any event data yields a request id or a poison
// error, never a panic.
func FuzzDecodeRequested(f *testing.F) {
	for _, s := range []string{
		`{"requestId":"7d8e2a34-5b1c-4f0e-9a51-2f6a3c1d9e10","lineNumber":"01012345678"}`,
		`{"requestId":"  "}`, `{"requestId":7}`, `"text"`, ``, `{"requestId":"` + string(make([]byte, 80)) + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := decodeRequested(data)
		if err == nil && (d.RequestID == "" || len(d.RequestID) > 64) {
			t.Fatalf("accepted request id %q", d.RequestID)
		}
	})
}

// FuzzHistoryPeriod: any pair of dates gives a period or a 400.
func FuzzHistoryPeriod(f *testing.F) {
	f.Add("2025-09-01", "2025-09-30")
	f.Add("", "")
	f.Add("2025-02-30", "x")
	f.Add("0001-01-01", "9999-12-31")
	f.Fuzz(func(t *testing.T, start, end string) {
		from, before, err := historyPeriod(start, end, testToday, httpx.Seoul())
		if err != nil {
			var he *httpx.Error
			if !errors.As(err, &he) || he.Status() != 400 {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		if !from.Before(before) {
			t.Fatalf("empty period [%s, %s)", from, before)
		}
	})
}

var testToday = time.Date(2025, 9, 8, 14, 30, 0, 0, httpx.Seoul())

func TestHistoryPeriod(t *testing.T) {
	t.Parallel()
	day := func(s string) time.Time {
		d, _ := time.ParseInLocation("2006-01-02", s, httpx.Seoul())
		return d
	}
	for _, c := range []struct{ start, end, from, before string }{
		{"", "", "2025-08-08", "2025-09-09"},
		{"2025-09-01", "", "2025-09-01", "2025-09-09"},
		{"", "2025-07-31", "2025-06-30", "2025-08-01"},
		{"2025-09-08", "2025-09-08", "2025-09-08", "2025-09-09"},
		{"2023-09-08", "2023-09-09", "2023-09-08", "2023-09-10"},
	} {
		from, before, err := historyPeriod(c.start, c.end, testToday, httpx.Seoul())
		if err != nil || !from.Equal(day(c.from)) || !before.Equal(day(c.before)) {
			t.Errorf("%q..%q: [%s, %s) %v, want [%s, %s)", c.start, c.end, from, before, err, c.from, c.before)
		}
	}
	if _, _, err := historyPeriod("2023-09-07", "", testToday, httpx.Seoul()); err == nil {
		t.Error("a start older than two years was accepted")
	}
}
