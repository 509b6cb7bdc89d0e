package auth

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"phonebill/shared/auth"
	"phonebill/shared/db"
	"phonebill/shared/httpx"
)

func TestLoginSeededAccounts(t *testing.T) {
	t.Parallel()
	e := newSeededEnv(t)
	cases := []struct {
		user, password, customer, line, name string
		perms                                []string
	}{
		{"testuser01", "test1234", "CUST001", "010-1234-5678", "홍길동", []string{"BILL_INQUIRY", "PRODUCT_CHANGE"}},
		{"admin", "Admin1234!", "CUST900", "010-9000-0001", "관리자",
			[]string{"ADMIN", "BILL_INQUIRY", "PRODUCT_CHANGE", "USER_MANAGEMENT"}},
		{"testuser02", "test1234", "CUST002", "010-8765-4321", "김영희", []string{"BILL_INQUIRY"}},
	}
	// The other seeded accounts log in too.
	for _, u := range []string{"testuser03", "developer", "tester"} {
		if r := e.login(u, seedPasswords[u]); r.Status != 200 || r.str("user_id") != u {
			t.Fatalf("%s: %d %s", u, r.Status, r.Raw)
		}
	}
	for _, c := range cases {
		r := e.login(c.user, c.password)
		if r.Status != 200 {
			t.Fatalf("%s: %d %s", c.user, r.Status, r.Raw)
		}
		if r.str("token_type") != "Bearer" || r.Body["expires_in"] != float64(1800) || r.str("user_id") != c.user ||
			r.str("customer_id") != c.customer || r.str("line_number") != c.line {
			t.Fatalf("%s: body %s", c.user, r.Raw)
		}
		u := r.obj("user")
		if u["user_id"] != c.user || u["user_name"] != c.name || u["phone_number"] != c.line ||
			fmt.Sprint(u["permissions"]) != fmt.Sprint(c.perms) {
			t.Fatalf("%s: user %v", c.user, u)
		}
		ac := e.claimsOf(r.str("access_token"), auth.TypeAccess)
		if ac.UserID != c.user || ac.Subject != c.user || ac.CustomerID != c.customer || ac.LineNumber != c.line ||
			!slices.Equal(ac.Permissions, c.perms) || ac.Issuer != auth.Issuer || ac.Audience[0] != auth.AudienceAPI ||
			!ac.Expiry().Equal(e.clock.Now().Truncate(time.Second).Add(30*time.Minute)) {
			t.Fatalf("%s: access claims %+v", c.user, ac)
		}
		rc := e.claimsOf(r.str("refresh_token"), auth.TypeRefresh)
		if rc.UserID != c.user || rc.CustomerID != "" || rc.Permissions != nil || rc.Audience[0] != auth.AudienceRefresh ||
			!rc.Expiry().Equal(e.clock.Now().Truncate(time.Second).Add(24*time.Hour)) {
			t.Fatalf("%s: refresh claims %+v", c.user, rc)
		}
		// One session holds both tokens; the family starts with itself.
		var sid, family string
		var active, auto bool
		var exp time.Time
		err := e.h.Pool.QueryRow(context.Background(), `SELECT session_id, family_id, is_active, auto_login_enabled,
			expires_at FROM auth.auth_user_sessions WHERE user_id = $1 AND access_jti = $2 AND refresh_jti = $3
			AND session_token = $4 AND refresh_token = $5`, c.user, ac.ID, rc.ID, r.str("access_token"),
			r.str("refresh_token")).Scan(&sid, &family, &active, &auto, &exp)
		if err != nil || sid != family || !active || auto || !db.Local(exp).Equal(rc.Expiry()) {
			t.Fatalf("%s: session %s %s %v %v %v: %v", c.user, sid, family, active, auto, exp, err)
		}
		if n := e.queryInt(`SELECT count(*) FROM auth.auth_login_history WHERE user_id = $1 AND login_type = 'LOGIN'
			AND login_status = 'SUCCESS' AND session_id = $2 AND client_ip = '127.0.0.1'`, c.user, sid); n != 1 {
			t.Fatalf("%s: %d success history rows", c.user, n)
		}
		var last time.Time
		_ = e.h.Pool.QueryRow(context.Background(), `SELECT last_login_at FROM auth.auth_users WHERE user_id = $1`,
			c.user).Scan(&last)
		if got := db.Local(last); got.Sub(e.clock.Now()).Abs() > time.Millisecond {
			t.Fatalf("%s: last_login_at %v, want %v", c.user, got, e.clock.Now())
		}
	}
}

func TestLoginValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	long := "abcdefghijklmnopqrstu" // 21
	cases := []struct {
		name   string
		body   any
		fields map[string]string
	}{
		{"empty body", "", map[string]string{"userId": msgUserIDRequired, "password": msgPasswordRequired}},
		{"empty object", map[string]any{}, map[string]string{"userId": msgUserIDRequired, "password": msgPasswordRequired}},
		{"short id", map[string]any{"userId": "ab", "password": "test1234"}, map[string]string{"userId": msgUserIDLength}},
		{"long id", map[string]any{"userId": long, "password": "test1234"}, map[string]string{"userId": msgUserIDLength}},
		{"bad id", map[string]any{"userId": "test user", "password": "test1234"}, map[string]string{"userId": msgUserIDPattern}},
		{"short password", map[string]any{"userId": "testuser01", "password": "test123"},
			map[string]string{"password": msgPasswordLength}},
		{"long password", map[string]any{"userId": "testuser01", "password": string(make([]byte, 51))},
			map[string]string{"password": msgPasswordLength}},
		{"blank password", map[string]any{"userId": "testuser01", "password": "         "},
			map[string]string{"password": msgPasswordRequired}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.call("POST", "/api/v1/auth/login", "", c.body)
			wantFields(t, r, httpx.MsgValidation, c.fields)
		})
	}
	r := e.call("POST", "/api/v1/auth/login", "", `{"userId":`)
	wantError(t, r, 400, "INVALID_REQUEST", httpx.MsgMalformed)
	r = e.call("POST", "/api/v1/auth/login", "", `{"userId": 12, "password": "test1234"}`)
	wantError(t, r, 400, "INVALID_REQUEST", "")
	// Nothing was counted for invalid requests.
	if n := e.queryInt(`SELECT count(*) FROM auth.auth_login_attempts`); n != 0 {
		t.Fatalf("%d attempts rows after invalid requests", n)
	}
	// snake_case aliases; auto_login is stored on the session.
	r = e.call("POST", "/api/v1/auth/login", "", map[string]any{"user_id": "testuser01", "password": "test1234",
		"auto_login": true})
	if r.Status != 200 {
		t.Fatalf("alias login: %d %s", r.Status, r.Raw)
	}
	jti := e.claimsOf(r.str("access_token"), auth.TypeAccess).ID
	if n := e.queryInt(`SELECT count(*) FROM auth.auth_user_sessions WHERE access_jti = $1 AND auto_login_enabled`, jti); n != 1 {
		t.Fatal("auto_login not stored on the session")
	}
	// A stale token does not stop a login (SPEC §1.4).
	if r := e.call("POST", "/api/v1/auth/login", "garbage.token.here", map[string]any{"userId": "testuser01",
		"password": "test1234"}); r.Status != 200 {
		t.Fatalf("login with stale token: %d %s", r.Status, r.Raw)
	}
}

// lockMessage is the SPEC §4.1 text for an unlock time.
func lockMessage(until time.Time) string {
	return "로그인 5회 실패로 계정이 잠겼습니다. 30분 후 다시 시도해주세요. (잠금 해제 시간: " + httpx.FormatLocal(until) + ")"
}

func wantLocked(t testing.TB, r reply, until time.Time) {
	t.Helper()
	wantError(t, r, 423, "ACCOUNT_LOCKED", lockMessage(until))
	if r.str("lockedUntil") != httpx.FormatLocal(until) {
		t.Fatalf("lockedUntil %q, want %q", r.str("lockedUntil"), httpx.FormatLocal(until))
	}
}

func TestLoginLockout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	start := e.clock.Now()
	for i := 1; i <= 4; i++ {
		wantError(t, e.login("testuser01", "wrong-pass"), 401, "INVALID_CREDENTIALS", msgInvalidCredentials)
		if n := e.queryInt(`SELECT failed_count FROM auth.auth_login_attempts WHERE user_id = 'testuser01'`); n != i {
			t.Fatalf("after %d failures the count is %d", i, n)
		}
		e.clock.Advance(time.Second)
	}
	// The 5th failure locks and already answers 423.
	lockedAt := e.clock.Now()
	until := lockedAt.Add(30 * time.Minute)
	wantLocked(t, e.login("testuser01", "wrong-pass"), until)
	// The right password is refused while locked, without a comparison and
	// without counting.
	before := e.hasher.count()
	wantLocked(t, e.login("testuser01", "test1234"), until)
	if got := e.hasher.since(before); len(got) != 0 {
		t.Fatalf("%d password comparisons while locked", len(got))
	}
	if n := e.queryInt(`SELECT failed_count FROM auth.auth_login_attempts WHERE user_id = 'testuser01'`); n != 5 {
		t.Fatalf("stored count %d, want 5", n)
	}
	// GET /users reports LOCKED while the lock is in force.
	admin := e.h.AccessToken(t, "admin", "CUST900", "010-9000-0001", auth.PermAdmin)
	if r := e.call("GET", "/api/v1/users/testuser01", admin, nil); r.str("account_status") != "LOCKED" {
		t.Fatalf("user while locked: %s", r.Raw)
	}
	e.clock.Advance(29 * time.Minute)
	wantLocked(t, e.login("testuser01", "test1234"), until)
	// Past the lock: the right password logs in and resets the count.
	e.clock.Advance(time.Minute + time.Second)
	if r := e.login("testuser01", "test1234"); r.Status != 200 {
		t.Fatalf("after the lock: %d %s", r.Status, r.Raw)
	}
	if n := e.queryInt(`SELECT count(*) FROM auth.auth_login_attempts WHERE user_id = 'testuser01'`); n != 0 {
		t.Fatal("attempts row not reset by a successful login")
	}
	if r := e.call("GET", "/api/v1/users/testuser01", admin, nil); r.str("account_status") != "ACTIVE" {
		t.Fatalf("user after the lock: %s", r.Raw)
	}
	// Every attempt is in the history.
	rows, err := e.h.Pool.Query(context.Background(), `SELECT login_status, COALESCE(failure_reason, ''), attempted_at
		FROM auth.auth_login_history WHERE user_id = 'testuser01' AND login_type = 'LOGIN' ORDER BY history_id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var st, reason string
		var at time.Time
		if err := rows.Scan(&st, &reason, &at); err != nil {
			t.Fatal(err)
		}
		if db.Local(at).Before(start.Add(-time.Millisecond)) {
			t.Fatalf("history time %v before the test clock %v", db.Local(at), start)
		}
		got = append(got, st+":"+reason)
	}
	want := []string{"FAILURE:INVALID_CREDENTIALS", "FAILURE:INVALID_CREDENTIALS", "FAILURE:INVALID_CREDENTIALS",
		"FAILURE:INVALID_CREDENTIALS", "LOCKED:INVALID_CREDENTIALS", "LOCKED:ACCOUNT_LOCKED", "LOCKED:ACCOUNT_LOCKED",
		"SUCCESS:"}
	if !slices.Equal(got, want) {
		t.Fatalf("history %v, want %v", got, want)
	}
}

func TestLoginExpiredLockRestartsCount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for range 5 {
		e.login("testuser02", "wrong-pass")
	}
	e.clock.Advance(31 * time.Minute)
	// An expired lock is cleared: the next failure counts from 1 again.
	wantError(t, e.login("testuser02", "wrong-pass"), 401, "INVALID_CREDENTIALS", msgInvalidCredentials)
	var n int
	var locked *time.Time
	_ = e.h.Pool.QueryRow(context.Background(), `SELECT failed_count, locked_until FROM auth.auth_login_attempts
		WHERE user_id = 'testuser02'`).Scan(&n, &locked)
	if n != 1 || locked != nil {
		t.Fatalf("after an expired lock: count %d, lock %v", n, locked)
	}
}

// The unknown id answers exactly like a wrong password, runs exactly one
// bcrypt comparison (against a dummy hash of the configured cost), and locks
// the same way.
func TestLoginUnknownIDIndistinguishable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	strip := func(r reply) map[string]any {
		m := maps.Clone(r.Body)
		delete(m, "timestamp")
		return m
	}
	for i := 1; i <= 6; i++ {
		before := e.hasher.count()
		real := e.login("testuser01", "wrong-pass")
		realHashes := e.hasher.since(before)
		before = e.hasher.count()
		ghost := e.login("nobody-here", "wrong-pass")
		ghostHashes := e.hasher.since(before)
		if real.Status != ghost.Status || fmt.Sprint(strip(real)) != fmt.Sprint(strip(ghost)) {
			t.Fatalf("attempt %d differs:\n real  %s\n ghost %s", i, real.Raw, ghost.Raw)
		}
		wantStatus := 401
		if i >= 5 {
			wantStatus = 423
		}
		if real.Status != wantStatus {
			t.Fatalf("attempt %d: %d, want %d", i, real.Status, wantStatus)
		}
		wantCompares := 1
		if i == 6 {
			wantCompares = 0 // locked: no comparison for either
		}
		if len(realHashes) != wantCompares || len(ghostHashes) != wantCompares {
			t.Fatalf("attempt %d: %d real and %d unknown-id comparisons, want %d", i, len(realHashes), len(ghostHashes),
				wantCompares)
		}
		if wantCompares == 1 {
			cost, err := bcrypt.Cost([]byte(ghostHashes[0]))
			if err != nil || cost != testCost {
				t.Fatalf("unknown id compared against %q (cost %d, %v), want a cost-%d bcrypt hash", ghostHashes[0],
					cost, err, testCost)
			}
			if ghostHashes[0] == realHashes[0] {
				t.Fatal("unknown id compared against a real account's hash")
			}
		}
	}
	if n := e.queryInt(`SELECT failed_count FROM auth.auth_login_attempts WHERE user_id = 'nobody-here'`); n != 5 {
		t.Fatalf("unknown id count %d, want 5", n)
	}
	if n := e.queryInt(`SELECT count(*) FROM auth.auth_login_history WHERE user_id = 'nobody-here'`); n != 6 {
		t.Fatalf("unknown id has %d history rows, want 6", n)
	}
}

// 20 parallel wrong attempts on a fresh id: four 401, sixteen 423, count 5
// (SPEC §4.1), for an unknown id and for a real account.
func TestLoginParallelLockout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, id := range []string{"fresh-ghost-1", "testuser03"} {
		var wg sync.WaitGroup
		statuses := make([]int, 20)
		for i := range statuses {
			wg.Go(func() { statuses[i] = e.login(id, "wrong-pass").Status })
		}
		wg.Wait()
		count := map[int]int{}
		for _, s := range statuses {
			count[s]++
		}
		if count[401] != 4 || count[423] != 16 || len(count) != 2 {
			t.Fatalf("%s: statuses %v, want four 401 and sixteen 423", id, count)
		}
		if n := e.queryInt(`SELECT failed_count FROM auth.auth_login_attempts WHERE user_id = $1`, id); n != 5 {
			t.Fatalf("%s: stored count %d, want 5", id, n)
		}
		if n := e.queryInt(`SELECT count(*) FROM auth.auth_login_history WHERE user_id = $1`, id); n != 20 {
			t.Fatalf("%s: %d history rows, want 20", id, n)
		}
	}
}

func TestLoginInactiveAccounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.exec(`UPDATE auth.auth_users SET account_status = 'SUSPENDED' WHERE user_id = 'testuser02'`)
	e.exec(`UPDATE auth.auth_users SET account_status = 'INACTIVE' WHERE user_id = 'developer'`)
	wantError(t, e.login("testuser02", "test1234"), 403, "ACCOUNT_INACTIVE", msgAccountInactive)
	wantError(t, e.login("developer", "Dev12345!"), 403, "ACCOUNT_INACTIVE", msgAccountInactive)
	// A wrong password still answers 401 (no status hint without the password).
	wantError(t, e.login("testuser02", "wrong-pass"), 401, "INVALID_CREDENTIALS", msgInvalidCredentials)
	if n := e.queryInt(`SELECT count(*) FROM auth.auth_user_sessions WHERE user_id IN ('testuser02', 'developer')`); n != 0 {
		t.Fatalf("%d sessions opened for inactive accounts", n)
	}
	if n := e.queryInt(`SELECT count(*) FROM auth.auth_login_history WHERE failure_reason = 'ACCOUNT_INACTIVE'`); n != 2 {
		t.Fatalf("%d ACCOUNT_INACTIVE history rows", n)
	}
}
