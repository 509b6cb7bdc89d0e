package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"phonebill/functions/routes"
	"phonebill/shared/fn/fntest"
)

// specServe serves every route of the all-in-one (this document's route
// included) in-process, KOS-Mock at the same address and deterministic.
func specServe(t *testing.T) (*fntest.Harness, *specClient) {
	t.Helper()
	h := fntest.New(t, nil)
	kosURL := h.Listen(t)
	t.Setenv("KOS_BASE_URL", kosURL)
	t.Setenv("KOS_MOCK_ERROR_RATE", "0")
	t.Setenv("KOS_MOCK_DELAY_RATE", "0")
	t.Setenv("KOS_MOCK_LATENCY_SCALE", "0.01")
	t.Setenv("JWT_SECRET", fntest.Secret)
	t.Setenv("BCRYPT_COST", "4")
	srv := h.Serve(t, append(routes.All(), apiDocs())...)
	return h, &specClient{t: t, base: srv.URL}
}

// TestOpenAPIRouteSamples calls every documented operation at least once
// with a request that succeeds and validates the answers, so no route's
// description goes unchecked against a real answer (the client journey
// covers only the routes the web client uses).
func TestOpenAPIRouteSamples(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	exs := collectRouteSamples(t)
	validateExchanges(t, exs)

	// Which documented operation did each exchange reach?
	mux := http.NewServeMux()
	for key := range servedRoutes() {
		mux.Handle(key, http.NotFoundHandler())
	}
	reached := map[string]bool{}
	for _, ex := range exs {
		if _, pattern := mux.Handler(exchangeRequest(t, ex)); pattern != "" {
			reached[pattern] = true
		}
	}
	for key := range servedRoutes() {
		if !reached[key] {
			t.Errorf("%s: no sample exercised it", key)
		}
	}
}

// collectRouteSamples walks the SPEC §7 journey (sign-up, login, main page,
// bill menu and inquiry, product screens, change, logout), the KOS calls of
// both path families, the admin routes and the operational endpoints, and
// returns the exchanges. It fails the test when a step does not answer the
// expected status.
func collectRouteSamples(t *testing.T) []exchange {
	t.Helper()
	_, c := specServe(t)
	var exs []exchange
	step := func(method, path, token, body string, want int) exchange {
		t.Helper()
		ex := c.do(method, path, token, body)
		if ex.Status != want {
			t.Fatalf("%s %s: status %d, want %d; body %s", method, path, ex.Status, want, specTruncate(ex.Body))
		}
		exs = append(exs, ex)
		return ex
	}

	// 0. Sign-up and the mock-data button.
	step("POST", "/api/v1/auth/register", "", `{"userId":"newuser1","customerId":"123456AbCdEfGhIjKlMn","lineNumber":"010-5555-6666","userName":"김철수","password":"Passw0rd!","permissions":["BILL_INQUIRY","PRODUCT_CHANGE"]}`, 200)
	step("POST", "/api/v1/kos/mock-datas", "", `{"customerId":"123456AbCdEfGhIjKlMn","lineNumber":"01055556666"}`, 200)
	step("POST", "/api/v1/mock-datas", "", `{"customerId":"123456AbCdEfGhIjKlMn","lineNumber":"010-5555-6666"}`, 200)
	step("GET", "/api/v1/kos/mock-datas/customer/product?customerId=123456AbCdEfGhIjKlMn&lineNumber=01055556666", "", "", 200)
	step("GET", "/api/v1/kos/mock-datas/customer/bill?customerId=123456AbCdEfGhIjKlMn&lineNumber=01055556666", "", "", 200)
	step("GET", "/api/v1/mock-datas/customer/product?customerId=123456AbCdEfGhIjKlMn&lineNumber=010-5555-6666", "", "", 200)
	step("GET", "/api/v1/mock-datas/customer/bill?customerId=123456AbCdEfGhIjKlMn&lineNumber=01055556666", "", "", 200)

	// 1. Login.
	login := step("POST", "/api/v1/auth/login", "", `{"userId":"testuser01","password":"test1234","autoLogin":false}`, 200)
	tok := specToken(t, login)
	step("GET", "/api/v1/auth/verify?token="+tok, "", "", 200)

	// 2. Main page.
	step("GET", "/api/v1/users/testuser01", tok, "", 200)
	step("GET", "/api/v1/products/customer?lineNumber=01012345678", tok, "", 200)

	// 3-4. Bill menu and inquiry of the previous month (dashed line, YYYYMM).
	menu := step("GET", "/api/v1/bills/menu", tok, "", 200)
	var m struct {
		Data struct {
			AvailableMonths []string `json:"availableMonths"`
		} `json:"data"`
	}
	_ = json.Unmarshal(menu.Body, &m)
	month := specMonthsAgo(1)
	if len(m.Data.AvailableMonths) > 1 {
		month = strings.ReplaceAll(m.Data.AvailableMonths[1], "-", "")
	}
	step("POST", "/api/v1/bills/inquiry", tok, `{"lineNumber":"010-1234-5678","inquiryMonth":"`+month+`"}`, 200)
	step("POST", "/api/v1/bills/inquiry", tok, `{"lineNumber":"010-1234-5678","inquiryMonth":"`+month+`"}`, 200) // cache hit
	step("GET", "/api/v1/bills/history", tok, "", 200)

	// 5-9. Product menu, selection, pre-check, change, result page.
	step("GET", "/api/v1/products/customer?lineNumber=010-1234-5678", tok, "", 200)
	step("GET", "/api/v1/products/available?currentProductCode=5G-STANDARD-001", tok, "", 200)
	change := `{"lineNumber":"01012345678","currentProductCode":"5G-STANDARD-001","targetProductCode":"5G-PREMIUM-001"}`
	step("POST", "/api/v1/products/change/validation", tok, change, 200)
	changed := step("POST", "/api/v1/products/change", tok, change, 200)
	step("GET", "/api/v1/products/customer?lineNumber=010-1234-5678", tok, "", 200)
	if id := specField(changed.Body, "data.requestId"); id != "" {
		step("GET", "/api/v1/products/change/"+id, tok, "", 200)
	}
	step("GET", "/api/v1/products/history", tok, "", 200)

	// KOS-Mock as the services and the client call it.
	step("GET", "/api/v1/kos/bill/available-months/01012345678", "", "", 200)
	step("POST", "/api/v1/kos/bill/inquiry", "", `{"lineNumber":"01012345678","billingMonth":"`+month+`"}`, 200)
	step("POST", "/api/v1/bill-inquiry", "", `{"lineNumber":"01087654321"}`, 200)
	step("POST", "/api/v1/kos/product/inquiry", "", `{"lineNumber":"01087654321"}`, 200)
	step("GET", "/api/v1/customer-info?lineNumber=01087654321", "", "", 200)
	step("GET", "/api/v1/kos/customer-info?lineNumber=010-8765-4321", "", "", 200)
	step("GET", "/api/v1/kos/product/list", "", "", 200)
	step("POST", "/api/v1/kos/product/change", "", `{"lineNumber":"01087654321","currentProductCode":"LTE-BASIC-001","targetProductCode":"LTE-PREMIUM-001","requestId":"journey-kos-change-1"}`, 200)
	step("POST", "/api/v1/product-change", "", `{"lineNumber":"01087654321","currentProductCode":"LTE-PREMIUM-001","targetProductCode":"5G-PREMIUM-001","requestId":"journey-kos-change-2"}`, 200)

	// Health endpoints.
	for _, p := range []string{"/health", "/health/readiness", "/health/liveness", "/api/v1/auth/health",
		"/api/v1/bills/health", "/api/v1/products/health", "/api/v1/kos/health"} {
		step("GET", p, "", "", 200)
	}

	// Administration, as admin; the password change as the new user.
	admin := specToken(t, step("POST", "/api/v1/auth/login", "", `{"userId":"admin","password":"Admin1234!"}`, 200))
	step("GET", "/api/v1/users", admin, "", 200)
	step("GET", "/api/v1/users/by-line/01012345678", admin, "", 200)
	step("GET", "/api/v1/users/by-customer/CUST001", admin, "", 200)
	step("POST", "/api/v1/users/newuser1/permissions/user_management/grant?grantedBy=admin", admin, "", 200)
	step("DELETE", "/api/v1/users/newuser1/permissions/USER_MANAGEMENT", admin, "", 200)
	step("POST", "/api/v1/auth/unlock/tester", admin, "", 200)
	newUser := specToken(t, step("POST", "/api/v1/auth/login", "", `{"userId":"newuser1","password":"Passw0rd!"}`, 200))
	step("GET", "/api/v1/users/newuser1", newUser, "", 200)
	step("POST", "/api/v1/auth/change-password", newUser,
		`{"userId":"newuser1","currentPassword":"Passw0rd!","newPassword":"NewPassw0rd!"}`, 200)
	step("GET", "/metrics", "", "", 200)
	step("GET", "/api/v1/openapi.yaml", "", "", 200)

	// A bad request, logout and the 401 after it, then a refresh.
	step("POST", "/api/v1/bills/inquiry", tok, `{"lineNumber":"0101234"}`, 400)
	step("POST", "/api/v1/auth/logout", tok, "", 200)
	step("GET", "/api/v1/bills/menu", tok, "", 401)
	dev := step("POST", "/api/v1/auth/login", "", `{"userId":"developer","password":"Dev12345!","autoLogin":true}`, 200)
	step("POST", "/api/v1/auth/refresh", "", `{"refreshToken":"`+specField(dev.Body, "refresh_token")+`"}`, 200)
	return exs
}

// specToken is the access token of a login answer.
func specToken(t *testing.T, login exchange) string {
	t.Helper()
	var b struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(login.Body, &b); err != nil || b.AccessToken == "" {
		t.Fatalf("login answered %s", specTruncate(login.Body))
	}
	return b.AccessToken
}
