package main

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The all-in-one behaves like the cluster, where every function is its own
// process: a plan change that meets a KOS error opens product-change's
// breaker and goes PENDING, the worker (its own breaker) completes it, and
// the result page's customer read (product-customer, its own breaker again)
// answers at once although product-change's breaker is still open.
func TestAllInOneFunctionsKeepTheirOwnBreakers(t *testing.T) {
	t.Setenv("KOS_BREAKER_OPEN_SECONDS", "60") // stays open for the whole test
	_, base := serveAllInOne(t)
	j := &journey{t: t, base: base}
	login := j.must(200, "POST", "/auth/login", `{"userId":"testuser01","password":"test1234","autoLogin":false}`)
	j.token, _ = login["access_token"].(string)
	j.must(200, "GET", "/products/customer?lineNumber=01012345678", "")

	change := `{"lineNumber":"01012345678","currentProductCode":"5G-STANDARD-001","targetProductCode":"5G-PREMIUM-001"}`
	chg := j.must(200, "POST", "/products/change", change, "X-Mock-Scenario", "error")
	j.expect(chg, map[string]any{"success": true, "data.processStatus": "PENDING", "data.resultCode": "KOS_PENDING"})
	id, _ := field(chg, "data.requestId").(string)
	deadline := time.Now().Add(15 * time.Second)
	for field(j.must(200, "GET", "/products/change/"+id, ""), "data.processStatus") != "COMPLETED" {
		if time.Now().After(deadline) {
			t.Fatal("the worker did not complete the PENDING change within 15 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := breakerStates(t, base); st["product-change"] != "2" || st["product-change-worker"] == "2" {
		t.Fatalf("breakers after the worker completed the change: %v, want product-change's open and the worker's not", st)
	}

	cust := j.must(200, "GET", "/products/customer?lineNumber=01012345678", "")
	j.expect(cust, map[string]any{"success": true, "data.currentProduct.productCode": "5G-PREMIUM-001"})
	if st := breakerStates(t, base); st["product-change"] != "2" || st["product-customer"] == "2" {
		t.Fatalf("breakers after the customer read: %v", st)
	}
}

// breakerStates reads phonebill_kos_breaker_state from /metrics by function
// (a function whose breaker never moved has no sample yet).
func breakerStates(t *testing.T, base string) map[string]string {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		labels, val, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "phonebill_kos_breaker_state{"), "} ")
		if !ok || !strings.HasPrefix(sc.Text(), "phonebill_kos_breaker_state{") {
			continue
		}
		for _, l := range strings.Split(labels, ",") {
			if v, ok := strings.CutPrefix(l, `function="`); ok {
				out[strings.TrimSuffix(v, `"`)] = val
			}
		}
	}
	return out
}
