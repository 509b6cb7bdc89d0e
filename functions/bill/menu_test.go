package bill

import (
	"context"
	"encoding/json"
	"net"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// metricValue sums the series of name whose labels include want.
func metricValue(t *testing.T, te *testEnv, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := te.h.Env.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !hasLabels(m, want) {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == k && l.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func TestMenu(t *testing.T) {
	t.Parallel()
	te := setup(t, setupOpts{})
	tok := te.token(t, user01)
	a := te.do(t, "GET", "/api/v1/bills/menu", tok, nil)
	if a.Status != 200 || !a.Success || a.ResultCode != "0000" || a.Message != MsgMenuOK {
		t.Fatalf("menu = %d %+v", a.Status, a)
	}
	var d MenuData
	if err := json.Unmarshal(a.Data, &d); err != nil {
		t.Fatal(err)
	}
	current := time.Now().In(seoul).Format("2006-01")
	want := []string{dashedMonth(month(0)), dashedMonth(month(1)), dashedMonth(month(2)),
		dashedMonth(month(3)), dashedMonth(month(4)), dashedMonth(month(5))}
	if d.CustomerInfo != (MenuCustomer{CustomerID: "CUST001", LineNumber: "010-1234-5678"}) ||
		d.CurrentMonth != current || !slices.Equal(d.AvailableMonths, want) {
		t.Fatalf("menu data = %+v, want months %v", d, want)
	}
	if n := te.calls.count(monthsPath); n != 1 {
		t.Fatalf("KOS months calls = %d, want 1", n)
	}
	// Cached for an hour under bill:months:<line11>.
	ttl := te.h.Cache.Client().TTL(context.Background(), te.h.Cache.Key("bill:months:01012345678")).Val()
	if ttl < 59*time.Minute || ttl > time.Hour {
		t.Fatalf("months TTL = %v, want 1 h", ttl)
	}
	a = te.do(t, "GET", "/api/v1/bills/menu", tok, nil)
	var d2 MenuData
	_ = json.Unmarshal(a.Data, &d2)
	if !slices.Equal(d2.AvailableMonths, want) || te.calls.count(monthsPath) != 1 {
		t.Fatalf("second menu = %+v, KOS months calls %d (want the cache)", d2, te.calls.count(monthsPath))
	}
	// The menu writes no history.
	if n := te.countRows(t, `SELECT count(*) FROM bill_inquiry.bill_inquiry_history`); n != 0 {
		t.Fatalf("menu wrote %d history rows", n)
	}
	// Permission and token are required.
	if a := te.do(t, "GET", "/api/v1/bills/menu", te.token(t, user01, "PRODUCT_CHANGE"), nil); a.Status != 403 || a.ResultCode != "ACCESS_DENIED" {
		t.Fatalf("menu without BILL_INQUIRY = %d %+v", a.Status, a)
	}
	if a := te.do(t, "GET", "/api/v1/bills/menu", "", nil); a.Status != 401 {
		t.Fatalf("menu without token = %d", a.Status)
	}
}

func TestMenuFallsBackWhenKOSIsDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens: every KOS call is a transport error
	te := setup(t, setupOpts{kosURL: dead})
	a := te.do(t, "GET", "/api/v1/bills/menu", te.token(t, user02, "BILL_INQUIRY"), nil)
	var d MenuData
	_ = json.Unmarshal(a.Data, &d)
	want := recentMonths(time.Now(), seoul, 6)
	if a.Status != 200 || !a.Success || !slices.Equal(d.AvailableMonths, want) || d.CustomerInfo.LineNumber != "010-8765-4321" {
		t.Fatalf("menu with KOS down = %d %+v, want months %v", a.Status, d, want)
	}
	if _, ok := te.h.Cache.GetBytes(context.Background(), "bill:months:01087654321"); ok {
		t.Fatal("the fallback months were cached")
	}
	// And the inquiry's answer is the KOS failure, not an error status.
	assertFailure(t, te.inquire(t, te.token(t, user02, "BILL_INQUIRY"), "01087654321", ""), CodeKOSError, MsgKOSError)
}
