package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// No alert reads a metric that does not exist: after a short journey and
// one scheduled run (relay and purge), the all-in-one's /metrics exports
// every phonebill_* family that knative/ops/alerts.yaml names.
func TestAlertsReadExportedMetrics(t *testing.T) {
	h, base := serveAllInOne(t)
	j := &journey{t: t, base: base}
	login := j.must(200, "POST", "/auth/login", `{"userId":"testuser01","password":"test1234"}`)
	tok, _ := login["access_token"].(string)
	if tok == "" {
		t.Fatalf("login: %v", login)
	}
	j.must(401, "POST", "/auth/login", `{"userId":"testuser01","password":"wrong-password"}`)
	j.must(200, "GET", "/products/customer?lineNumber=01012345678", "", "Authorization", "Bearer "+tok)
	h.Broker.Interval = 20 * time.Millisecond
	stop := h.Broker.StartSchedules(t.Context())
	time.Sleep(300 * time.Millisecond)
	stop()

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	exported := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if name, ok := strings.CutPrefix(sc.Text(), "# TYPE "); ok {
			exported[strings.Fields(name)[0]] = true
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)

	b, err := os.ReadFile("../../knative/ops/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`phonebill_[a-z_]+`).FindAllString(string(b), -1)
	if len(names) == 0 {
		t.Fatal("no phonebill_* metric in the alerts")
	}
	for _, n := range names {
		family := n
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if f, ok := strings.CutSuffix(n, suffix); ok && exported[f] {
				family = f
			}
		}
		if !exported[family] {
			t.Errorf("the alerts read %s, which the functions do not export", n)
		}
	}
}
