package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"phonebill/shared/auth"
	"phonebill/shared/config"
	"phonebill/shared/db"
	"phonebill/shared/httpx"
)

// webClientRegistration is exactly what the RegisterPage sends (SPEC §7 step 0).
func webClientRegistration() map[string]any {
	return map[string]any{"userId": "newuser1", "customerId": "123456AbCdEfGhIjKlMn", "lineNumber": "010-5555-6666",
		"userName": "김철수", "password": "Passw0rd!", "permissions": []string{"BILL_INQUIRY", "PRODUCT_CHANGE"}}
}

func TestRegister(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.call("POST", "/api/v1/auth/register", "", webClientRegistration())
	if r.Status != 200 || r.Body["success"] != true || r.str("message") != msgRegistered {
		t.Fatalf("register: %d %s", r.Status, r.Raw)
	}
	d := r.obj("data")
	want := map[string]any{"user_id": "newuser1", "customer_id": "123456AbCdEfGhIjKlMn", "line_number": "010-5555-6666",
		"user_name": "김철수", "account_status": "ACTIVE", "created_at": httpx.FormatLocal(e.clock.Now()),
		"permissions": []any{"BILL_INQUIRY", "PRODUCT_CHANGE"}}
	if fmt.Sprint(d) != fmt.Sprint(want) {
		t.Fatalf("data %v\nwant %v", d, want)
	}
	var hash, status, digits string
	_ = e.h.Pool.QueryRow(context.Background(), `SELECT password_hash, account_status, line_number_digits
		FROM auth.auth_users WHERE user_id = 'newuser1'`).Scan(&hash, &status, &digits)
	if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost != testCost || status != "ACTIVE" || digits != "01055556666" ||
		bcrypt.CompareHashAndPassword([]byte(hash), []byte("Passw0rd!")) != nil {
		t.Fatalf("stored user: %q %q %q", hash, status, digits)
	}
	if n := e.queryInt(`SELECT count(*) FROM auth.auth_user_permissions WHERE user_id = 'newuser1' AND granted
		AND granted_by = 'SYSTEM'`); n != 2 {
		t.Fatalf("%d permission rows granted by SYSTEM", n)
	}
	// The new account logs in with its permissions.
	access, _ := e.mustLogin("newuser1", "Passw0rd!")
	if c := e.claimsOf(access, auth.TypeAccess); !slices.Equal(c.Permissions, []string{"BILL_INQUIRY", "PRODUCT_CHANGE"}) ||
		c.CustomerID != "123456AbCdEfGhIjKlMn" || c.LineNumber != "010-5555-6666" {
		t.Fatalf("claims %+v", c)
	}

	// Duplicates: 409 with the SPEC's codes and messages.
	dup := func(change map[string]any, code, msg string) {
		t.Helper()
		body := webClientRegistration()
		body["userId"], body["customerId"], body["lineNumber"] = "another1", "CUSTX1", "010-7777-8888"
		for k, v := range change {
			body[k] = v
		}
		wantError(t, e.call("POST", "/api/v1/auth/register", "", body), 409, code, msg)
	}
	dup(map[string]any{"userId": "newuser1"}, "USER_ALREADY_EXISTS", msgUserExists)
	dup(map[string]any{"userId": "testuser01"}, "USER_ALREADY_EXISTS", msgUserExists)
	dup(map[string]any{"customerId": "CUST001"}, "CUSTOMER_ALREADY_EXISTS", "이미 존재하는 고객 ID입니다: CUST001")
	dup(map[string]any{"lineNumber": "010-1234-5678"}, "LINE_ALREADY_EXISTS", "이미 존재하는 회선번호입니다: 010-1234-5678")
	if n := e.queryInt(`SELECT count(*) FROM auth.auth_users WHERE user_id = 'another1'`); n != 0 {
		t.Fatal("a conflicting registration left a row")
	}

	// An anonymous caller may not ask for ADMIN; an admin token may.
	body := webClientRegistration()
	body["userId"], body["customerId"], body["lineNumber"] = "boss1", "CUSTB1", "010-2222-3333"
	body["permissions"] = []string{"BILL_INQUIRY", "ADMIN"}
	r = e.call("POST", "/api/v1/auth/register", "", body)
	wantFields(t, r, "유효하지 않은 권한 코드입니다: ADMIN", map[string]string{"permissions": "유효하지 않은 권한 코드입니다: ADMIN"})
	user := e.h.AccessToken(t, "testuser01", "CUST001", "010-1234-5678", auth.PermBillInquiry)
	if r := e.call("POST", "/api/v1/auth/register", user, body); r.Status != 400 {
		t.Fatalf("non-admin token granting ADMIN: %d %s", r.Status, r.Raw)
	}
	admin := e.adminToken()
	r = e.call("POST", "/api/v1/auth/register", admin, body)
	if r.Status != 200 || fmt.Sprint(r.obj("data")["permissions"]) != "[ADMIN BILL_INQUIRY]" {
		t.Fatalf("admin registration: %d %s", r.Status, r.Raw)
	}
	if n := e.queryInt(`SELECT count(*) FROM auth.auth_user_permissions WHERE user_id = 'boss1' AND granted_by = 'admin'`); n != 2 {
		t.Fatalf("%d permissions granted by admin", n)
	}
	// A stale token on the public route is ignored (SPEC §1.4).
	body = webClientRegistration()
	body["userId"], body["customer_id"], body["line_number"] = "snake1", "CUSTS1", "010-4444-5555"
	delete(body, "customerId")
	delete(body, "lineNumber")
	if r := e.call("POST", "/api/v1/auth/register", "stale.token.x", body); r.Status != 200 {
		t.Fatalf("snake_case aliases with stale token: %d %s", r.Status, r.Raw)
	}
}

func TestRegisterValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	with := func(k string, v any) map[string]any {
		b := webClientRegistration()
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return b
	}
	g := httpx.MsgValidation
	cases := []struct {
		name    string
		body    any
		message string
		fields  map[string]string
	}{
		{"empty", map[string]any{}, msgCustomerIDRequired, map[string]string{"userId": msgUserIDRequired,
			"customerId": msgCustomerIDRequired, "lineNumber": msgLineRequired, "userName": msgUserNameRequired,
			"password": msgPasswordRequired, "permissions": msgPermissionsEmpty}},
		{"short id", with("userId", "ab"), g, map[string]string{"userId": msgUserIDLength}},
		{"id alphabet", with("userId", "new user"), g, map[string]string{"userId": msgUserIDPattern}},
		{"id korean", with("userId", "사용자아이디"), g, map[string]string{"userId": msgUserIDPattern}},
		{"customer long", with("customerId", "123456789012345678901"), msgCustomerIDLength,
			map[string]string{"customerId": msgCustomerIDLength}},
		{"customer alphabet", with("customerId", "CUST?~"), msgCustomerIDPattern,
			map[string]string{"customerId": msgCustomerIDPattern}},
		{"line digits", with("lineNumber", "01055556666"), g, map[string]string{"lineNumber": msgLineFormat}},
		{"line prefix", with("lineNumber", "011-5555-6666"), g, map[string]string{"lineNumber": msgLineFormat}},
		{"name blank", with("userName", "   "), g, map[string]string{"userName": msgUserNameRequired}},
		{"name long", with("userName", strings.Repeat("김", 51)), g, map[string]string{"userName": msgUserNameLength}},
		{"password short", with("password", "Pa0!"), g, map[string]string{"password": msgPasswordLength}},
		{"password no upper", with("password", "passw0rd!"), g, map[string]string{"password": msgPasswordPolicy}},
		{"password no special", with("password", "Passw0rdX"), g, map[string]string{"password": msgPasswordPolicy}},
		{"password other special", with("password", "Passw0rd!#"), g, map[string]string{"password": msgPasswordPolicy}},
		{"permissions empty", with("permissions", []string{}), msgPermissionsEmpty,
			map[string]string{"permissions": msgPermissionsEmpty}},
		{"permissions missing", with("permissions", nil), msgPermissionsEmpty,
			map[string]string{"permissions": msgPermissionsEmpty}},
		{"permission unknown", with("permissions", []string{"BILL_INQUIRY", "SUPERUSER"}), "유효하지 않은 권한 코드입니다: SUPERUSER",
			map[string]string{"permissions": "유효하지 않은 권한 코드입니다: SUPERUSER"}},
		// customerId's message wins over permissions' (SPEC §10.7).
		{"customer and permissions", func() map[string]any {
			b := with("customerId", "")
			b["permissions"] = []string{"X"}
			return b
		}(), msgCustomerIDRequired, map[string]string{"customerId": msgCustomerIDRequired,
			"permissions": "유효하지 않은 권한 코드입니다: X"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantFields(t, e.call("POST", "/api/v1/auth/register", "", c.body), c.message, c.fields)
		})
	}
	r := e.call("POST", "/api/v1/auth/register", "", `{"permissions": "BILL_INQUIRY"}`)
	wantError(t, r, 400, "INVALID_REQUEST", "")
	if n := e.queryInt(`SELECT count(*) FROM auth.auth_users`); n != 6 {
		t.Fatalf("%d users after invalid registrations, want the 6 seeded", n)
	}
	// Lower-case codes are accepted and stored canonically.
	b := webClientRegistration()
	b["permissions"] = []string{"bill_inquiry"}
	if r := e.call("POST", "/api/v1/auth/register", "", b); r.Status != 200 ||
		fmt.Sprint(r.obj("data")["permissions"]) != "[BILL_INQUIRY]" {
		t.Fatalf("lower-case code: %d %s", r.Status, r.Raw)
	}
}

// Racing registrations of one id: the unique constraint lets exactly one in.
func TestRegisterRace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Go(func() {
			b := webClientRegistration()
			b["customerId"] = fmt.Sprintf("RACE%d", i)
			b["lineNumber"] = fmt.Sprintf("010-6000-000%d", i)
			statuses[i] = e.call("POST", "/api/v1/auth/register", "", b).Status
		})
	}
	wg.Wait()
	slices.Sort(statuses)
	if statuses[0] != 200 || statuses[1] != 409 || statuses[len(statuses)-1] != 409 {
		t.Fatalf("statuses %v, want one 200 and the rest 409", statuses)
	}
}

func TestUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	own, _ := e.mustLogin("testuser01", "test1234")
	admin := e.adminToken()
	r := e.call("GET", "/api/v1/users/testuser01", own, nil)
	if r.Status != 200 || r.str("user_id") != "testuser01" || r.str("customer_id") != "CUST001" ||
		r.str("line_number") != "010-1234-5678" || r.str("user_name") != "홍길동" || r.str("account_status") != "ACTIVE" ||
		r.str("last_login_at") != httpx.FormatLocal(e.clock.Now()) || r.Body["last_password_changed_at"] != nil ||
		fmt.Sprint(r.Body["permissions"]) != "[BILL_INQUIRY PRODUCT_CHANGE]" {
		t.Fatalf("self: %d %s", r.Status, r.Raw)
	}
	wantError(t, e.call("GET", "/api/v1/users/testuser02", own, nil), 403, "ACCESS_DENIED", httpx.MsgAccessDenied)
	if r := e.call("GET", "/api/v1/users/testuser02", admin, nil); r.Status != 200 || r.str("user_id") != "testuser02" {
		t.Fatalf("admin on other: %d %s", r.Status, r.Raw)
	}
	wantError(t, e.call("GET", "/api/v1/users/ghost01", admin, nil), 404, "USER_NOT_FOUND",
		"사용자를 찾을 수 없습니다. userId: ghost01")
	wantError(t, e.call("GET", "/api/v1/users/testuser01", "", nil), 401, "UNAUTHORIZED", httpx.MsgUnauthorized)

	// List: admin only, ordered by id, same objects.
	r = e.call("GET", "/api/v1/users", admin, nil)
	var list []UserInfo
	if r.Status != 200 || json.Unmarshal(r.Raw, &list) != nil || len(list) != 6 {
		t.Fatalf("list: %d %s", r.Status, r.Raw)
	}
	ids := make([]string, len(list))
	for i, u := range list {
		ids[i] = u.UserID
	}
	if !slices.IsSorted(ids) || list[0].UserID != "admin" || len(list[0].Permissions) != 4 {
		t.Fatalf("list order %v", ids)
	}
	wantError(t, e.call("GET", "/api/v1/users", own, nil), 403, "ACCESS_DENIED", httpx.MsgAccessDenied)

	// By line: either spelling, own line or admin.
	for _, line := range []string{"010-1234-5678", "01012345678"} {
		if r := e.call("GET", "/api/v1/users/by-line/"+line, own, nil); r.Status != 200 || r.str("user_id") != "testuser01" {
			t.Fatalf("by-line %s: %d %s", line, r.Status, r.Raw)
		}
	}
	wantError(t, e.call("GET", "/api/v1/users/by-line/01087654321", own, nil), 403, "ACCESS_DENIED", "")
	wantFields(t, e.call("GET", "/api/v1/users/by-line/0101234", own, nil), msgLineDigits,
		map[string]string{"lineNumber": msgLineDigits})
	wantError(t, e.call("GET", "/api/v1/users/by-line/010-0000-0000", admin, nil), 404, "USER_NOT_FOUND",
		"사용자를 찾을 수 없습니다. lineNumber: 010-0000-0000")
	// By customer.
	if r := e.call("GET", "/api/v1/users/by-customer/CUST001", own, nil); r.Status != 200 || r.str("user_id") != "testuser01" {
		t.Fatalf("by-customer: %d %s", r.Status, r.Raw)
	}
	wantError(t, e.call("GET", "/api/v1/users/by-customer/CUST002", own, nil), 403, "ACCESS_DENIED", "")
	if r := e.call("GET", "/api/v1/users/by-customer/CUST002", admin, nil); r.Status != 200 || r.str("user_id") != "testuser02" {
		t.Fatalf("admin by-customer: %d %s", r.Status, r.Raw)
	}
	wantError(t, e.call("GET", "/api/v1/users/by-customer/NOPE", admin, nil), 404, "USER_NOT_FOUND",
		"사용자를 찾을 수 없습니다. customerId: NOPE")
}

func TestPermissions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.adminToken()
	user, _ := e.mustLogin("testuser02", "test1234")
	base := "/api/v1/users/testuser02/permissions/"
	r := e.call("POST", base+"product_change/grant?grantedBy=ops-team", admin, nil)
	if r.Status != 200 || r.Body["success"] != true || r.str("message") != msgGranted {
		t.Fatalf("grant: %d %s", r.Status, r.Raw)
	}
	if n := e.queryInt(`SELECT count(*) FROM auth.auth_user_permissions up JOIN auth.auth_permissions p USING (permission_id)
		WHERE up.user_id = 'testuser02' AND p.permission_code = 'PRODUCT_CHANGE' AND up.granted
		AND up.granted_by = 'ops-team'`); n != 1 {
		t.Fatal("grant row missing")
	}
	if r := e.call("GET", "/api/v1/users/testuser02", admin, nil); fmt.Sprint(r.Body["permissions"]) != "[BILL_INQUIRY PRODUCT_CHANGE]" {
		t.Fatalf("after grant: %s", r.Raw)
	}
	// The token changes at the next login (SPEC §2.6).
	if c := e.claimsOf(user, auth.TypeAccess); slices.Contains(c.Permissions, "PRODUCT_CHANGE") {
		t.Fatal("old token gained the permission")
	}
	fresh, _ := e.mustLogin("testuser02", "test1234")
	if c := e.claimsOf(fresh, auth.TypeAccess); !slices.Contains(c.Permissions, "PRODUCT_CHANGE") {
		t.Fatalf("new token lacks the grant: %v", c.Permissions)
	}
	// grantedBy defaults to the caller.
	if r := e.call("POST", "/api/v1/users/testuser02/permissions/ADMIN/grant", admin, nil); r.Status != 200 {
		t.Fatal(r.Status)
	}
	if n := e.queryInt(`SELECT count(*) FROM auth.auth_user_permissions up JOIN auth.auth_permissions p USING (permission_id)
		WHERE up.user_id = 'testuser02' AND p.permission_code = 'ADMIN' AND up.granted_by = 'admin'`); n != 1 {
		t.Fatal("grantedBy did not default to the caller")
	}
	r = e.call("DELETE", base+"Product_Change", admin, nil)
	if r.Status != 200 || r.str("message") != msgRevoked {
		t.Fatalf("revoke: %d %s", r.Status, r.Raw)
	}
	if r := e.call("GET", "/api/v1/users/testuser02", admin, nil); fmt.Sprint(r.Body["permissions"]) != "[ADMIN BILL_INQUIRY]" {
		t.Fatalf("after revoke: %s", r.Raw)
	}
	wantFields(t, e.call("POST", base+"SUPERUSER/grant", admin, nil), "유효하지 않은 권한 코드입니다: SUPERUSER",
		map[string]string{"permissionCode": "유효하지 않은 권한 코드입니다: SUPERUSER"})
	wantError(t, e.call("DELETE", base+"nope", admin, nil), 400, "INVALID_REQUEST", "유효하지 않은 권한 코드입니다: nope")
	wantError(t, e.call("POST", "/api/v1/users/ghost01/permissions/ADMIN/grant", admin, nil), 404, "USER_NOT_FOUND",
		"사용자를 찾을 수 없습니다. userId: ghost01")
	wantError(t, e.call("DELETE", "/api/v1/users/ghost01/permissions/ADMIN", admin, nil), 404, "USER_NOT_FOUND", "")
	for _, m := range []string{"POST", "DELETE"} {
		path := base + "ADMIN"
		if m == "POST" {
			path += "/grant"
		}
		wantError(t, e.call(m, path, user, nil), 403, "ACCESS_DENIED", httpx.MsgAccessDenied)
	}
}

func TestUnlock(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.adminToken()
	for range 5 {
		e.login("testuser02", "wrong-pass")
	}
	e.exec(`UPDATE auth.auth_users SET account_status = 'LOCKED' WHERE user_id = 'testuser02'`)
	if r := e.login("testuser02", "test1234"); r.Status != 423 {
		t.Fatalf("before unlock: %d", r.Status)
	}
	user := e.h.AccessToken(t, "testuser01", "CUST001", "010-1234-5678", auth.PermBillInquiry)
	wantError(t, e.call("POST", "/api/v1/auth/unlock/testuser02", user, nil), 403, "ACCESS_DENIED", httpx.MsgAccessDenied)
	r := e.call("POST", "/api/v1/auth/unlock/testuser02", admin, nil)
	if r.Status != 200 || r.Body["success"] != true || r.str("message") != msgUnlocked {
		t.Fatalf("unlock: %d %s", r.Status, r.Raw)
	}
	if n := e.queryInt(`SELECT count(*) FROM auth.auth_login_attempts WHERE user_id = 'testuser02'`); n != 0 {
		t.Fatal("attempts row survived the unlock")
	}
	if r := e.call("GET", "/api/v1/users/testuser02", admin, nil); r.str("account_status") != "ACTIVE" {
		t.Fatalf("status after unlock: %s", r.Raw)
	}
	if r := e.login("testuser02", "test1234"); r.Status != 200 {
		t.Fatalf("login after unlock: %d %s", r.Status, r.Raw)
	}
	wantError(t, e.call("POST", "/api/v1/auth/unlock/ghost01", admin, nil), 404, "USER_NOT_FOUND",
		"사용자를 찾을 수 없습니다. userId: ghost01")
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a1, r1 := e.mustLogin("testuser01", "test1234")
	a2, _ := e.mustLogin("testuser01", "test1234")
	path := func(q url.Values) string { return "/api/v1/auth/change-password?" + q.Encode() }
	q := url.Values{"userId": {"testuser01"}, "currentPassword": {"wrong-pass"}, "newPassword": {"NewPassw0rd!"}}
	wantError(t, e.call("POST", path(q), a1, nil), 401, "INVALID_CREDENTIALS", msgWrongCurrent)
	q.Del("currentPassword")
	wantFields(t, e.call("POST", path(q), a1, nil), httpx.MsgValidation, map[string]string{"currentPassword": msgCurrentRequired})
	q.Set("currentPassword", "test1234")
	q.Set("newPassword", "weakpass")
	wantFields(t, e.call("POST", path(q), a1, nil), httpx.MsgValidation, map[string]string{"newPassword": msgPasswordPolicy})
	q.Set("userId", "testuser02")
	wantError(t, e.call("POST", path(q), a1, nil), 403, "ACCESS_DENIED", httpx.MsgAccessDenied)
	// Nothing changed so far.
	if r := e.call("GET", "/api/v1/users/testuser01", a2, nil); r.Status != 200 {
		t.Fatal("a refused change ended the sessions")
	}

	e.clock.Advance(time.Minute)
	q = url.Values{"userId": {"testuser01"}, "currentPassword": {"test1234"}, "newPassword": {"NewPassw0rd!"}}
	r := e.call("POST", path(q), a1, nil)
	if r.Status != 200 || r.Body["success"] != true || r.str("message") != msgPasswordChanged {
		t.Fatalf("change: %d %s", r.Status, r.Raw)
	}
	// Every session and token of the user, the caller's included, is gone.
	for _, tok := range []string{a1, a2} {
		wantError(t, e.call("GET", "/api/v1/users/testuser01", tok, nil), 401, "UNAUTHORIZED", "")
	}
	wantError(t, e.call("POST", "/api/v1/auth/refresh", "", map[string]string{"refreshToken": r1}), 401, "INVALID_TOKEN", "")
	if got := e.revokedReason(e.claimsOf(r1, auth.TypeRefresh).ID); got != "PASSWORD_CHANGED" {
		t.Fatalf("refresh revoked as %q", got)
	}
	wantError(t, e.login("testuser01", "test1234"), 401, "INVALID_CREDENTIALS", "")
	a3, _ := e.mustLogin("testuser01", "NewPassw0rd!")
	if r := e.call("GET", "/api/v1/users/testuser01", a3, nil); r.str("last_password_changed_at") != httpx.FormatLocal(e.clock.Now()) {
		t.Fatalf("last_password_changed_at: %s", r.Raw)
	}
	// JSON body form, own change with a stray token of the same user.
	stray := e.h.AccessToken(t, "testuser01", "CUST001", "010-1234-5678")
	r = e.call("POST", "/api/v1/auth/change-password", stray, map[string]string{"currentPassword": "NewPassw0rd!",
		"newPassword": "Other0ne!x"})
	if r.Status != 200 {
		t.Fatalf("JSON body change: %d %s", r.Status, r.Raw)
	}
	wantError(t, e.call("GET", "/api/v1/users/testuser01", stray, nil), 401, "UNAUTHORIZED", "")
	// An admin changes another user's password without the current one; the
	// admin's own token survives.
	admin := e.adminToken()
	r = e.call("POST", "/api/v1/auth/change-password", admin, map[string]string{"user_id": "testuser02",
		"new_password": "Admin5et!pw"})
	if r.Status != 200 {
		t.Fatalf("admin change: %d %s", r.Status, r.Raw)
	}
	e.mustLogin("testuser02", "Admin5et!pw")
	if r := e.call("GET", "/api/v1/users/testuser02", admin, nil); r.Status != 200 {
		t.Fatal("admin token revoked by changing another user's password")
	}
	wantError(t, e.call("POST", path(url.Values{"userId": {"ghost01"}, "newPassword": {"Admin5et!pw"}}), admin, nil),
		404, "USER_NOT_FOUND", "사용자를 찾을 수 없습니다. userId: ghost01")
}

// SQL metacharacters never reach SQL as code: 400, 401 or 404, never 500.
func TestSQLMetacharacters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.adminToken()
	evil := "' OR 1=1 --"
	esc := url.PathEscape(evil)
	cases := []struct {
		method, path, token string
		body                any
	}{
		{"POST", "/api/v1/auth/login", "", map[string]string{"userId": evil, "password": "x' OR '1'='1"}},
		{"POST", "/api/v1/auth/login", "", map[string]string{"userId": "admin'--", "password": "anything1"}},
		{"POST", "/api/v1/auth/register", "", map[string]any{"userId": evil, "customerId": evil, "lineNumber": evil,
			"userName": evil, "password": evil, "permissions": []string{evil}}},
		{"GET", "/api/v1/users/" + esc, admin, nil},
		{"GET", "/api/v1/users/by-line/" + esc, admin, nil},
		{"GET", "/api/v1/users/by-customer/" + esc, admin, nil},
		{"POST", "/api/v1/auth/unlock/" + esc, admin, nil},
		{"POST", "/api/v1/users/" + esc + "/permissions/" + esc + "/grant?grantedBy=" + url.QueryEscape(evil), admin, nil},
		{"DELETE", "/api/v1/users/testuser01/permissions/" + esc, admin, nil},
		{"POST", "/api/v1/auth/refresh", "", map[string]string{"refreshToken": evil}},
		{"GET", "/api/v1/auth/verify?token=" + url.QueryEscape(evil), "", nil},
		{"POST", "/api/v1/auth/change-password?userId=" + url.QueryEscape(evil) + "&newPassword=Passw0rd!", admin, nil},
		{"GET", "/api/v1/users/testuser01", evil, nil},
	}
	for _, c := range cases {
		r := e.call(c.method, c.path, c.token, c.body)
		if r.Status >= 500 || (r.Status != 400 && r.Status != 401 && r.Status != 404 && !(r.Status == 200 &&
			r.Body["valid"] == false)) {
			t.Fatalf("%s %s: %d %s", c.method, c.path, r.Status, r.Raw)
		}
	}
	if n := e.queryInt(`SELECT count(*) FROM auth.auth_users`); n != 6 {
		t.Fatalf("%d users", n)
	}
}

func TestDatabaseDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	token := e.h.AccessToken(t, "testuser01", "CUST001", "010-1234-5678")
	deadPool, err := db.Open(context.Background(), config.DB{
		URL: "postgres://postgres@127.0.0.1:" + itoa(freePort(t)) + "/x?sslmode=disable", MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(deadPool.Close)
	srv := e.serveWith(t, deadPool, e.h.Cache)
	wantError(t, call(t, srv.URL, "POST", "/api/v1/auth/login", "", map[string]string{"userId": "testuser01",
		"password": "test1234"}), 503, "SERVICE_UNAVAILABLE", httpx.MsgUnavailable)
	wantError(t, call(t, srv.URL, "POST", "/api/v1/auth/register", "", webClientRegistration()), 503,
		"SERVICE_UNAVAILABLE", httpx.MsgUnavailable)
	// With the mirror missing and PostgreSQL down, a token cannot be cleared.
	wantError(t, call(t, srv.URL, "GET", "/api/v1/users/testuser01", token, nil), 503, "SERVICE_UNAVAILABLE", "")
}

func TestRoutingShapes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.call("GET", "/api/v1/auth/health", "", nil)
	if r.Status != 200 || string(r.Raw) != "Auth Service is running" {
		t.Fatalf("health: %d %q", r.Status, r.Raw)
	}
	wantError(t, e.call("GET", "/api/v1/auth/nope", "", nil), 404, "NOT_FOUND", "")
	wantError(t, e.call("GET", "/api/v1/auth/login", "", nil), 405, "METHOD_NOT_ALLOWED", "")
}

// Issued payload segments never contain '-' or '_', which the client's atob()
// rejects (SPEC §2.6): ids of the whole allowed alphabet, over many tokens.
func TestTokenPayloadAlphabet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	check := func(tok string) {
		t.Helper()
		payload := strings.Split(tok, ".")[1]
		if strings.ContainsAny(payload, "-_") {
			t.Fatalf("payload %q has base64url-only characters", payload)
		}
		// What atob() does: standard base64 (padding added).
		if _, err := base64.StdEncoding.DecodeString(payload + strings.Repeat("=", (4-len(payload)%4)%4)); err != nil {
			t.Fatalf("payload %q: %v", payload, err)
		}
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
	rnd := rand.New(rand.NewPCG(1, 2))
	id := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		return string(b)
	}
	admin := e.adminToken()
	for i := range 8 {
		user, cust := id(3+rnd.IntN(18)), id(1+rnd.IntN(20))
		b := map[string]any{"userId": user, "customerId": cust, "lineNumber": fmt.Sprintf("010-3%03d-%04d", i, rnd.IntN(10000)),
			"userName": "이름", "password": "Passw0rd!", "permissions": auth.Permissions}
		if r := e.call("POST", "/api/v1/auth/register", admin, b); r.Status != 200 {
			t.Fatalf("register %s: %d %s", user, r.Status, r.Raw)
		}
		access, refresh := e.mustLogin(user, "Passw0rd!")
		check(access)
		check(refresh)
		r := e.call("POST", "/api/v1/auth/refresh", "", map[string]string{"refreshToken": refresh})
		check(r.str("access_token"))
		check(r.str("refresh_token"))
	}
	for range 2000 {
		tok, _, err := e.h.Tokens.Issue(auth.Claims{UserID: id(3 + rnd.IntN(18)), CustomerID: id(1 + rnd.IntN(20)),
			LineNumber: fmt.Sprintf("010-%04d-%04d", rnd.IntN(10000), rnd.IntN(10000)), Permissions: auth.Permissions},
			auth.TypeAccess)
		if err != nil {
			t.Fatal(err)
		}
		check(tok)
	}
}

// TestQueryParametersAreValidated: query values get the rules bodies get —
// a NUL or non-UTF-8 byte, a parameter given twice — as a 400 with the
// field's error, never a 500 or a silently chosen value.
func TestQueryParametersAreValidated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.adminToken()
	grant := "/api/v1/users/testuser02/permissions/PRODUCT_CHANGE/grant?"
	for q, field := range map[string]string{
		grant + "grantedBy=%00":                        "grantedBy",
		grant + "grantedBy=ops%ff":                     "grantedBy",
		grant + "grantedBy=a&grantedBy=b":              "grantedBy",
		"/api/v1/auth/verify?token=a&token=b":          "token",
		"/api/v1/auth/verify?token=%00":                "token",
		"/api/v1/auth/change-password?userId=admin%01": "userId",
	} {
		method := "POST"
		if strings.Contains(q, "verify") {
			method = "GET"
		}
		r := e.call(method, q, admin, nil)
		got, _ := r.Body["fieldErrors"].(map[string]any)
		if r.Status != 400 || r.str("code") != "INVALID_REQUEST" || got[field] == nil {
			t.Errorf("%s %s: %d %s", method, q, r.Status, r.Raw)
		}
	}
	if n := e.queryInt(`SELECT count(*) FROM auth.auth_user_permissions up JOIN auth.auth_permissions p
		USING (permission_id) WHERE up.user_id = 'testuser02' AND p.permission_code = 'PRODUCT_CHANGE'`); n != 0 {
		t.Fatal("a refused grant wrote a row")
	}
}

// TestOneIdentityPerUserID: an id taken in one case cannot be registered in
// another, login accepts any case and answers with the stored id, and wrong
// passwords in mixed spellings all count against the one account.
func TestOneIdentityPerUserID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg := func(id, cust, line string) reply {
		return e.call("POST", "/api/v1/auth/register", "", map[string]any{"userId": id, "customerId": cust,
			"lineNumber": line, "userName": "홍길동", "password": "Passw0rd!", "permissions": []string{"BILL_INQUIRY"}})
	}
	wantError(t, reg("ADMIN", "CX1", "010-7777-0001"), 409, "USER_ALREADY_EXISTS", msgUserExists)
	if r := reg("NewUser7", "CX2", "010-7777-0002"); r.Status != 200 {
		t.Fatalf("register NewUser7: %d %s", r.Status, r.Raw)
	}
	wantError(t, reg("newuser7", "CX3", "010-7777-0003"), 409, "USER_ALREADY_EXISTS", msgUserExists)
	if n := e.queryInt(`SELECT count(*) FROM auth.auth_users WHERE lower(user_id) IN ('admin', 'newuser7')`); n != 2 {
		t.Fatalf("%d accounts for admin and newuser7, want 2", n)
	}
	r := e.login("ADMIN", "Admin1234!")
	if r.Status != 200 || r.str("user_id") != "admin" || e.claimsOf(r.str("access_token"), auth.TypeAccess).UserID != "admin" {
		t.Fatalf("login as ADMIN: %d %s", r.Status, r.Raw)
	}
	for i, id := range []string{"TESTUSER01", "TestUser01", "testUSER01", "Testuser01"} {
		wantError(t, e.login(id, "wrong-pass"), 401, "INVALID_CREDENTIALS", msgInvalidCredentials)
		if n := e.queryInt(`SELECT failed_count FROM auth.auth_login_attempts WHERE user_id = 'testuser01'`); n != i+1 {
			t.Fatalf("after %s the count of testuser01 is %d", id, n)
		}
	}
	if r := e.login("TESTuser01", "wrong-pass"); r.Status != 423 {
		t.Fatalf("5th failure in another case: %d %s", r.Status, r.Raw)
	}
}
