package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"phonebill/functions/routes"
	"phonebill/shared/auth"
	"phonebill/shared/config"
	"phonebill/shared/fn/fntest"
)

// who makes a request in the authorization matrix. The object of every
// object-bearing route belongs to testuser01 (line 010-1234-5678, CUST001).
type who int

const (
	owner   who = iota // testuser01
	other              // testuser03: same permissions, another line and customer
	none               // no token
	expired            // testuser01's token, expired 90 minutes ago
	admin              // ADMIN + USER_MANAGEMENT + both service permissions
)

var whoNames = []string{"owner", "other user", "no token", "expired token", "admin"}

// pass means the request got past authentication and authorization (any
// answer but 401 UNAUTHORIZED and 403 ACCESS_DENIED/UNAUTHORIZED_LINE_NUMBER);
// refuse means it did not.
type verdict int

const (
	pass verdict = iota
	refuse
)

// bolaRow is one route of the matrix: the request it sends (on testuser01's
// object) and what each caller must get. Public routes list only the
// tokenless caller.
type bolaRow struct {
	method, path, body string
	want               map[who]verdict
}

// authorized: owner and admin pass, another user is refused (object-level
// check), no token or an expired one is refused.
var ownerOrAdmin = map[who]verdict{owner: pass, other: refuse, none: refuse, expired: refuse, admin: pass}

// adminOnly: only admins pass.
var adminOnly = map[who]verdict{owner: refuse, other: refuse, none: refuse, expired: refuse, admin: pass}

// anyToken: the route names no object (it acts on the caller's own data or
// on public data): any valid token passes.
var anyToken = map[who]verdict{owner: pass, other: pass, none: refuse, expired: refuse, admin: pass}

// public: no token needed.
var public = map[who]verdict{none: pass}

// bolaMatrix has a row for every HTTP route of the route table; the test
// fails when a route has none (a new route must say who may call it).
var bolaMatrix = map[string]bolaRow{
	"auth-login":             {"POST", "/api/v1/auth/login", `{"userId":"testuser01","password":"wrong-password"}`, public},
	"auth-refresh":           {"POST", "/api/v1/auth/refresh", `{"refreshToken":"not.a.token"}`, public},
	"auth-register":          {"POST", "/api/v1/auth/register", `{}`, public},
	"auth-verify":            {"GET", "/api/v1/auth/verify?token=not.a.token", "", public},
	"auth-logout":            {"POST", "/api/v1/auth/logout", "", anyToken},
	"auth-change-password":   {"POST", "/api/v1/auth/change-password", `{"userId":"testuser01","currentPassword":"wrong-password","newPassword":"NewPassw0rd!"}`, ownerOrAdmin},
	"auth-unlock":            {"POST", "/api/v1/auth/unlock/testuser01", "", adminOnly},
	"user-get":               {"GET", "/api/v1/users/testuser01", "", ownerOrAdmin},
	"user-list":              {"GET", "/api/v1/users", "", adminOnly},
	"user-by-line":           {"GET", "/api/v1/users/by-line/010-1234-5678", "", ownerOrAdmin},
	"user-by-customer":       {"GET", "/api/v1/users/by-customer/CUST001", "", ownerOrAdmin},
	"user-permission-grant":  {"POST", "/api/v1/users/testuser01/permissions/BILL_INQUIRY/grant?grantedBy=admin", "", adminOnly},
	"user-permission-revoke": {"DELETE", "/api/v1/users/testuser01/permissions/USER_MANAGEMENT", "", adminOnly},
	"bill-menu":              {"GET", "/api/v1/bills/menu", "", anyToken},
	"bill-inquiry":           {"POST", "/api/v1/bills/inquiry", `{"lineNumber":"010-1234-5678"}`, ownerOrAdmin},
	"bill-history":           {"GET", "/api/v1/bills/history?lineNumber=01012345678", "", ownerOrAdmin},
	"product-customer":       {"GET", "/api/v1/products/customer?lineNumber=01012345678", "", ownerOrAdmin},
	"product-available":      {"GET", "/api/v1/products/available?currentProductCode=5G-STANDARD-001", "", anyToken},
	"product-validation": {"POST", "/api/v1/products/change/validation",
		`{"lineNumber":"01012345678","currentProductCode":"5G-STANDARD-001","targetProductCode":"5G-PREMIUM-001"}`, ownerOrAdmin},
	"product-change": {"POST", "/api/v1/products/change",
		`{"lineNumber":"01012345678","currentProductCode":"5G-STANDARD-001","targetProductCode":"5G-PREMIUM-001"}`, ownerOrAdmin},
	// {requestId} is replaced by a change testuser01 made (product-change runs first).
	"product-change-status": {"GET", "/api/v1/products/change/{requestId}", "", ownerOrAdmin},
	"product-history":       {"GET", "/api/v1/products/history?lineNumber=01012345678", "", ownerOrAdmin},
}

// TestAuthorizationMatrix is checklist #18/#19 (BOLA) over the whole route
// table: every HTTP route × {owner, another user with the same permissions,
// no token, expired token, admin}. A refusal is 401 UNAUTHORIZED or 403
// ACCESS_DENIED / UNAUTHORIZED_LINE_NUMBER and carries none of the owner's
// data; a new route without a row fails the test.
func TestAuthorizationMatrix(t *testing.T) {
	h, base := serveAllInOne(t)
	pastClock := func() time.Time { return time.Now().Add(-90 * time.Minute) }
	old, err := auth.NewTokens(config.JWT{Secret: fntest.Secret, AccessValiditySeconds: 1800, RefreshValiditySeconds: 86400,
		LeewaySeconds: 30}, pastClock)
	if err != nil {
		t.Fatal(err)
	}
	token := func(w who) string {
		switch w {
		case owner:
			return h.AccessToken(t, "testuser01", "CUST001", "010-1234-5678", "BILL_INQUIRY", "PRODUCT_CHANGE")
		case other:
			return h.AccessToken(t, "testuser03", "CUST003", "010-3333-4444", "BILL_INQUIRY", "PRODUCT_CHANGE")
		case expired:
			tok, _, err := old.Issue(auth.Claims{UserID: "testuser01", CustomerID: "CUST001", LineNumber: "010-1234-5678",
				Permissions: []string{"BILL_INQUIRY", "PRODUCT_CHANGE"}}, auth.TypeAccess)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		case admin:
			return h.AccessToken(t, "admin", "CUST900", "010-9000-0001", "ADMIN", "USER_MANAGEMENT", "BILL_INQUIRY", "PRODUCT_CHANGE")
		}
		return ""
	}

	// Every route of the table has a row (or is KOS-Mock's, or an event
	// function that only the Broker reaches). KOS-Mock's routes answer
	// without authentication by SPEC §3.4 (the carrier core's stand-in; in
	// the cluster only the functions reach it, by NetworkPolicy): the matrix
	// checks that they are public, nothing more.
	var order []string
	kosMockRoutes := map[string]string{}
	for _, svc := range routes.All() {
		for _, rt := range svc.Routes {
			switch {
			case rt.IsEvent():
				continue
			case svc.Name == "kos-mock":
				kosMockRoutes[rt.Name] = rt.Method + " " + rt.Path
				continue
			}
			if _, ok := bolaMatrix[rt.Name]; !ok {
				t.Errorf("route %s (%s %s) has no row in the authorization matrix", rt.Name, rt.Method, rt.Path)
				continue
			}
			order = append(order, rt.Name)
		}
	}
	for name := range bolaMatrix {
		if !slices.Contains(order, name) {
			t.Errorf("matrix row %s names no route of the table", name)
		}
	}
	// The status route needs a change of the owner's: run it last.
	slices.SortStableFunc(order, func(a, b string) int {
		return boolInt(a == "product-change-status") - boolInt(b == "product-change-status")
	})

	for _, name := range order {
		row := bolaMatrix[name]
		path := row.path
		if strings.Contains(path, "{requestId}") {
			var id string
			if err := h.Pool.QueryRow(context.Background(), `SELECT request_id FROM product_change.pc_product_change_history
				WHERE user_id = 'testuser01' ORDER BY id LIMIT 1`).Scan(&id); err != nil {
				t.Fatalf("no change of testuser01 for %s: %v", name, err)
			}
			path = strings.Replace(path, "{requestId}", id, 1)
		}
		// Owner first, so that the others' cells meet a warm cache (a
		// cached bill must not bypass the ownership check, checklist #20).
		for _, w := range []who{owner, other, none, expired, admin} {
			want, ok := row.want[w]
			if !ok {
				continue
			}
			status, code, raw := send(t, base, row.method, path, row.body, token(w))
			refused := (status == 401 && code == "UNAUTHORIZED") ||
				(status == 403 && (code == "ACCESS_DENIED" || code == "UNAUTHORIZED_LINE_NUMBER"))
			switch {
			case want == pass && refused:
				t.Errorf("%s, %s: refused (%d %s), want it past authorization", name, whoNames[w], status, code)
			case want == refuse && !refused:
				t.Errorf("%s, %s: %d %s, want 401 UNAUTHORIZED or 403", name, whoNames[w], status, code)
			case want == refuse && (w == none || w == expired) && status != 401:
				t.Errorf("%s, %s: %d, want 401", name, whoNames[w], status)
			case want == refuse && strings.Contains(raw, "홍길동"):
				t.Errorf("%s, %s: the refusal carries the owner's data: %s", name, whoNames[w], raw)
			}
			if status >= 500 {
				t.Errorf("%s, %s: %d %s", name, whoNames[w], status, raw)
			}
		}
	}
	// Refused changes left nothing behind (checklist #21): no change row of
	// the other user, and KOS saw only the owner's and the admin's.
	var others, kosChanges, allowed int
	if err := h.Pool.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM product_change.pc_product_change_history WHERE user_id <> 'testuser01' AND user_id <> 'admin'),
		(SELECT count(*) FROM kos_mock.processing_results WHERE line_number = '01012345678'),
		(SELECT count(*) FROM product_change.pc_product_change_history WHERE process_status IN ('COMPLETED', 'FAILED', 'PENDING')
		   AND kos_request_data IS NOT NULL)`).Scan(&others, &kosChanges, &allowed); err != nil {
		t.Fatal(err)
	}
	if others != 0 || kosChanges > allowed {
		t.Errorf("refused callers left %d change rows; KOS saw %d changes for %d that passed", others, kosChanges, allowed)
	}
	// KOS-Mock's routes need no token (SPEC §3.4).
	for name, route := range kosMockRoutes {
		method, path, _ := strings.Cut(route, " ")
		path = strings.NewReplacer("{lineNumber}", "01012345678").Replace(path)
		status, code, _ := send(t, base, method, path+"?lineNumber=01012345678&customerId=CUST001", "{}", "")
		if status == 401 || status == 403 || status >= 500 {
			t.Errorf("KOS-Mock %s without a token: %d %s", name, status, code)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// send makes one request and returns the status, the error code (shape B
// "code" or shape C "resultCode") and the body.
func send(t *testing.T, base, method, path, body, tok string) (int, string, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	code, _ := m["code"].(string)
	if c, ok := m["resultCode"].(string); ok {
		code = c
	}
	return res.StatusCode, code, string(raw)
}
