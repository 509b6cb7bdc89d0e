package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"phonebill/functions/internal/kostest"
	"phonebill/functions/routes"
	"phonebill/shared/auth"
	"phonebill/shared/fn/fntest"
)

// TestEveryKOSRouteAnswersWithinTheDeadline: with KOS accepting connections
// and never answering (so every try waits its whole timeout and retries
// follow), each route that calls KOS answers within the request deadline
// plus a margin, in its own error envelope — not after the 3 × 5 s of its
// tries. The deadline is 1.5 s here to keep the test short; production's is
// 8 s (REQUEST_DEADLINE_MS).
func TestEveryKOSRouteAnswersWithinTheDeadline(t *testing.T) {
	const budget = 1500 * time.Millisecond
	h := fntest.New(t, nil)
	h.Env.Settings.HTTP.RequestDeadlineMS = int(budget / time.Millisecond)
	t.Setenv("KOS_BASE_URL", kostest.BlackHole(t))
	t.Setenv("KOS_TIMEOUT_MS", "5000")
	t.Setenv("JWT_SECRET", fntest.Secret)
	t.Setenv("BCRYPT_COST", "4")
	base := h.Serve(t, routes.All()...).URL
	tok := h.AccessToken(t, "testuser01", "CUST001", "010-1234-5678", auth.PermBillInquiry, auth.PermProductChange)
	change := `{"lineNumber":"01012345678","currentProductCode":"5G-STANDARD-001","targetProductCode":"5G-PREMIUM-001"}`
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/v1/products/customer?lineNumber=01012345678", ""},
		{"GET", "/api/v1/products/available?currentProductCode=5G-STANDARD-001", ""},
		{"GET", "/api/v1/products/available", ""},
		{"POST", "/api/v1/products/change/validation", change},
		{"POST", "/api/v1/products/change", change},
		{"GET", "/api/v1/bills/menu", ""},
		{"POST", "/api/v1/bills/inquiry", `{"lineNumber":"010-1234-5678","inquiryMonth":"202509"}`},
	} {
		req, _ := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+tok)
		if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		start := time.Now()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		took := time.Since(start)
		var env map[string]any
		if err := json.Unmarshal(raw, &env); err != nil || env["success"] != false && env["data"] == nil {
			t.Errorf("%s %s: not an envelope: %d %s", c.method, c.path, res.StatusCode, raw)
		}
		if took > 2*budget {
			t.Errorf("%s %s answered after %v (deadline %v): %d %s", c.method, c.path, took.Round(time.Millisecond),
				budget, res.StatusCode, raw)
		}
		t.Logf("%s %s: %d in %v", c.method, c.path, res.StatusCode, took.Round(time.Millisecond))
	}
}
