package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"phonebill/shared/auth"
	"phonebill/shared/cache"
	"phonebill/shared/config"
	"phonebill/shared/db"
	"phonebill/shared/fn/fntest"
	"phonebill/shared/httpx"
	"phonebill/shared/testenv/faults"
)

// mirrorKey is the revocation mirror of SPEC §10.3 under the harness prefix.
func (e *testEnv) mirrorScore(jti string) (float64, bool) {
	e.t.Helper()
	s, err := e.h.Cache.Client().ZScore(context.Background(), e.h.Cache.Key("auth:revoked"), jti).Result()
	return s, err == nil
}

func (e *testEnv) revokedReason(jti string) string {
	e.t.Helper()
	var reason string
	_ = e.h.Pool.QueryRow(context.Background(), `SELECT reason FROM auth.auth_revoked_tokens WHERE jti = $1`, jti).Scan(&reason)
	return reason
}

func TestLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Another device of the same user keeps its session.
	otherAccess, _ := e.mustLogin("testuser01", "test1234")
	access, refresh := e.mustLogin("testuser01", "test1234")
	// Build the mirror first, so the logout's revocations are mirrored too.
	if r := e.call("GET", "/api/v1/users/testuser01", access, nil); r.Status != 200 {
		t.Fatalf("before logout: %d %s", r.Status, r.Raw)
	}
	// The client sends no body and no Content-Type.
	r := e.call("POST", "/api/v1/auth/logout", access, nil)
	if r.Status != 200 || r.Body["success"] != true || r.str("message") != msgLogout || len(r.Body) != 2 {
		t.Fatalf("logout: %d %s", r.Status, r.Raw)
	}
	ac, rc := e.claimsOf(access, auth.TypeAccess), e.claimsOf(refresh, auth.TypeRefresh)
	if e.revokedReason(ac.ID) != "LOGOUT" || e.revokedReason(rc.ID) != "LOGOUT" {
		t.Fatalf("revocations: access %q refresh %q", e.revokedReason(ac.ID), e.revokedReason(rc.ID))
	}
	// Kept until the token could no longer verify: exp plus the leeway.
	var exp time.Time
	_ = e.h.Pool.QueryRow(context.Background(), `SELECT expires_at FROM auth.auth_revoked_tokens WHERE jti = $1`,
		ac.ID).Scan(&exp)
	if want := ac.Expiry().Add(30 * time.Second); !db.Local(exp).Equal(want) {
		t.Fatalf("revocation kept until %v, want %v", db.Local(exp), want)
	}
	// A mirror rebuild started by the first read may still be in flight: it
	// renames its copy over the set and then re-adds what was revoked while
	// it read, so the entry can be missing for a moment, never for good.
	s, ok := e.mirrorScore(ac.ID)
	for end := time.Now().Add(3 * time.Second); !ok && time.Now().Before(end); s, ok = e.mirrorScore(ac.ID) {
		time.Sleep(20 * time.Millisecond)
	}
	if !ok || int64(s) != ac.Expiry().Add(30*time.Second).Unix() {
		t.Fatalf("mirror score %v %v", s, ok)
	}
	if n := e.queryInt(`SELECT count(*) FROM auth.auth_user_sessions WHERE access_jti = $1 AND NOT is_active`, ac.ID); n != 1 {
		t.Fatal("session still active after logout")
	}
	if n := e.queryInt(`SELECT count(*) FROM auth.auth_login_history WHERE user_id = 'testuser01' AND login_type = 'LOGOUT'
		AND login_status = 'SUCCESS'`); n != 1 {
		t.Fatal("no LOGOUT history row")
	}
	wantError(t, e.call("GET", "/api/v1/users/testuser01", access, nil), 401, "UNAUTHORIZED", httpx.MsgUnauthorized)
	// Repeated logout: 401, never 5xx.
	wantError(t, e.call("POST", "/api/v1/auth/logout", access, nil), 401, "UNAUTHORIZED", httpx.MsgUnauthorized)
	wantError(t, e.call("POST", "/api/v1/auth/logout", "", nil), 401, "UNAUTHORIZED", httpx.MsgUnauthorized)
	// The logged-out refresh token is a plain 401: no family action, the
	// other device is untouched.
	wantError(t, e.call("POST", "/api/v1/auth/refresh", "", map[string]string{"refreshToken": refresh}), 401,
		"INVALID_TOKEN", msgInvalidToken)
	if r := e.call("GET", "/api/v1/users/testuser01", otherAccess, nil); r.Status != 200 {
		t.Fatalf("other device after logout: %d %s", r.Status, r.Raw)
	}
}

func TestLogoutWithoutSessionEndsAll(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a1, r1 := e.mustLogin("testuser02", "test1234")
	a2, _ := e.mustLogin("testuser02", "test1234")
	// A token no session holds (issued elsewhere): every session ends.
	stray := e.h.AccessToken(t, "testuser02", "CUST002", "010-8765-4321", auth.PermBillInquiry)
	if r := e.call("POST", "/api/v1/auth/logout", stray, ""); r.Status != 200 {
		t.Fatalf("logout: %d %s", r.Status, r.Raw)
	}
	if n := e.queryInt(`SELECT count(*) FROM auth.auth_user_sessions WHERE user_id = 'testuser02' AND is_active`); n != 0 {
		t.Fatalf("%d sessions still active", n)
	}
	for _, tok := range []string{stray, a1, a2} {
		wantError(t, e.call("GET", "/api/v1/users/testuser02", tok, nil), 401, "UNAUTHORIZED", "")
	}
	if got := e.revokedReason(e.claimsOf(r1, auth.TypeRefresh).ID); got != "LOGOUT_ALL" {
		t.Fatalf("refresh revoked as %q", got)
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	access, refresh := e.mustLogin("testuser01", "test1234")
	oldSession := e.claimsOf(refresh, auth.TypeRefresh).ID
	e.clock.Advance(time.Minute)
	// snake_case alias accepted
	r := e.call("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": refresh})
	if r.Status != 200 {
		t.Fatalf("refresh: %d %s", r.Status, r.Raw)
	}
	data := r.obj("data")
	newAccess, newRefresh := r.str("access_token"), r.str("refresh_token")
	if newAccess == access || newRefresh == refresh || r.Body["success"] != true || r.str("token_type") != "Bearer" ||
		r.Body["expires_in"] != float64(1800) || data["accessToken"] != newAccess || data["refreshToken"] != newRefresh ||
		data["tokenType"] != "Bearer" || data["expiresIn"] != float64(1800) {
		t.Fatalf("refresh body %s", r.Raw)
	}
	nc := e.claimsOf(newAccess, auth.TypeAccess)
	if nc.CustomerID != "CUST001" || nc.LineNumber != "010-1234-5678" || len(nc.Permissions) != 2 {
		t.Fatalf("new access claims %+v", nc)
	}
	// Old session rotated, new one in the same family; both old tokens revoked.
	var oldFamily, newFamily string
	var rotated *time.Time
	_ = e.h.Pool.QueryRow(context.Background(), `SELECT family_id, rotated_at FROM auth.auth_user_sessions
		WHERE refresh_jti = $1 AND NOT is_active`, oldSession).Scan(&oldFamily, &rotated)
	_ = e.h.Pool.QueryRow(context.Background(), `SELECT family_id FROM auth.auth_user_sessions
		WHERE refresh_jti = $1 AND is_active AND rotated_at IS NULL`, e.claimsOf(newRefresh, auth.TypeRefresh).ID).Scan(&newFamily)
	if rotated == nil || oldFamily == "" || oldFamily != newFamily {
		t.Fatalf("families %q %q, rotated_at %v", oldFamily, newFamily, rotated)
	}
	if e.revokedReason(oldSession) != "ROTATED" || e.revokedReason(e.claimsOf(access, auth.TypeAccess).ID) != "ROTATED" {
		t.Fatal("old pair not revoked as ROTATED")
	}
	wantError(t, e.call("GET", "/api/v1/users/testuser01", access, nil), 401, "UNAUTHORIZED", "")
	if r := e.call("GET", "/api/v1/users/testuser01", newAccess, nil); r.Status != 200 {
		t.Fatalf("new access: %d %s", r.Status, r.Raw)
	}
	// Presenting the rotated token again revokes the whole family.
	wantError(t, e.call("POST", "/api/v1/auth/refresh", "", map[string]string{"refreshToken": refresh}), 401,
		"INVALID_TOKEN", msgInvalidToken)
	if n := e.queryInt(`SELECT count(*) FROM auth.auth_user_sessions WHERE family_id = $1 AND is_active`, oldFamily); n != 0 {
		t.Fatalf("%d sessions of the family still active", n)
	}
	if got := e.revokedReason(e.claimsOf(newRefresh, auth.TypeRefresh).ID); got != "REUSE_DETECTED" {
		t.Fatalf("new refresh revoked as %q", got)
	}
	wantError(t, e.call("GET", "/api/v1/users/testuser01", newAccess, nil), 401, "UNAUTHORIZED", "")
	wantError(t, e.call("POST", "/api/v1/auth/refresh", "", map[string]string{"refreshToken": newRefresh}), 401,
		"INVALID_TOKEN", msgInvalidToken)
}

// Parallel refreshes of one token: one rotation wins, the others are reuse
// (no grace window, SPEC §10.4), so the family ends up revoked.
func TestRefreshParallelIsReuse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, refresh := e.mustLogin("testuser01", "test1234")
	var wg sync.WaitGroup
	statuses := make([]int, 6)
	for i := range statuses {
		wg.Go(func() {
			statuses[i] = e.call("POST", "/api/v1/auth/refresh", "", map[string]string{"refreshToken": refresh}).Status
		})
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		switch s {
		case 200:
			ok++
		case 401:
		default:
			t.Fatalf("statuses %v", statuses)
		}
	}
	if ok != 1 {
		t.Fatalf("statuses %v, want exactly one 200", statuses)
	}
	if n := e.queryInt(`SELECT count(*) FROM auth.auth_user_sessions WHERE user_id = 'testuser01' AND is_active`); n != 0 {
		t.Fatalf("%d sessions active after parallel reuse", n)
	}
}

func TestRefreshRejects(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	access, refresh := e.mustLogin("testuser02", "test1234")
	wantFields(t, e.call("POST", "/api/v1/auth/refresh", "", map[string]string{}), httpx.MsgValidation,
		map[string]string{"refreshToken": msgRefreshRequired})
	bad := []struct{ name, token string }{
		{"access token", access},
		{"garbage", "not-a-token"},
		{"tampered", tamper(refresh)},
		{"sql", "' OR 1=1 --"},
		{"unknown session", issueRefresh(t, e, "testuser02")},
	}
	for _, b := range bad {
		wantError(t, e.call("POST", "/api/v1/auth/refresh", "", map[string]string{"refreshToken": b.token}), 401,
			"INVALID_TOKEN", msgInvalidToken)
	}
	// A locked or suspended account cannot refresh.
	_, r2 := e.mustLogin("testuser02", "test1234")
	for range 5 {
		e.login("testuser02", "wrong-pass")
	}
	wantError(t, e.call("POST", "/api/v1/auth/refresh", "", map[string]string{"refreshToken": refresh}), 401,
		"INVALID_TOKEN", "")
	e.exec(`DELETE FROM auth.auth_login_attempts`)
	e.exec(`UPDATE auth.auth_users SET account_status = 'SUSPENDED' WHERE user_id = 'testuser02'`)
	wantError(t, e.call("POST", "/api/v1/auth/refresh", "", map[string]string{"refreshToken": r2}), 401,
		"INVALID_TOKEN", "")
	e.exec(`UPDATE auth.auth_users SET account_status = 'ACTIVE' WHERE user_id = 'testuser02'`)
	// Expired (past 24 h plus leeway).
	e.clock.Advance(24*time.Hour + time.Minute)
	wantError(t, e.call("POST", "/api/v1/auth/refresh", "", map[string]string{"refreshToken": r2}), 401,
		"INVALID_TOKEN", "")
}

// issueRefresh signs a valid refresh token that no session holds.
func issueRefresh(t testing.TB, e *testEnv, user string) string {
	tok, _, err := e.h.Tokens.Issue(auth.Claims{UserID: user}, auth.TypeRefresh)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// tamper rewrites the payload's userId to admin, keeping the signature.
func tamper(token string) string {
	parts := strings.Split(token, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	m["userId"], m["sub"] = "admin", "admin"
	m["permissions"] = []string{"ADMIN"}
	raw, _ = json.Marshal(m)
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}

// forged returns tokens with the claims of a real access token that the
// guard must refuse: other algorithms, no signature, wrong key.
func forged(t testing.TB, e *testEnv, valid string) map[string]string {
	t.Helper()
	c := e.claimsOf(valid, auth.TypeAccess)
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := jwt.NewWithClaims(jwt.SigningMethodRS256, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, c).SignedString([]byte(fntest.Secret))
	wrongKey, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte("another-secret-0123456789abcdef-0123"))
	// RS256 header over an HS256 signature made with the shared secret.
	parts := strings.Split(valid, ".")
	rsHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	return map[string]string{"alg none": none, "RS256": rs, "HS512": hs512, "wrong secret": wrongKey,
		"RS256 header": rsHeader + "." + parts[1] + "." + parts[2], "tampered": tamper(valid),
		"no signature": parts[0] + "." + parts[1] + "."}
}

func TestGuardRefusesBadTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	access, refresh := e.mustLogin("testuser01", "test1234")
	cases := forged(t, e, access)
	cases["refresh as access"] = refresh // wrong audience and type
	cases["garbage"] = "abc.def.ghi"
	for name, tok := range cases {
		r := e.call("GET", "/api/v1/users/testuser01", tok, nil)
		if r.Status != 401 || r.str("code") != "UNAUTHORIZED" {
			t.Fatalf("%s: %d %s", name, r.Status, r.Raw)
		}
	}
	if r := e.call("GET", "/api/v1/users/testuser01", access, nil); r.Status != 200 {
		t.Fatalf("valid token: %d %s", r.Status, r.Raw)
	}
	// Expired: past 30 minutes plus the 30 s leeway.
	e.clock.Advance(30*time.Minute + 31*time.Second)
	wantError(t, e.call("GET", "/api/v1/users/testuser01", access, nil), 401, "UNAUTHORIZED", httpx.MsgUnauthorized)
}

func TestVerify(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	access, refresh := e.mustLogin("testuser01", "test1234")
	r := e.call("GET", "/api/v1/auth/verify?token="+access, "", nil)
	exp := e.claimsOf(access, auth.TypeAccess).Expiry()
	if r.Status != 200 || r.Body["valid"] != true || r.str("user_id") != "testuser01" || r.str("customer_id") != "CUST001" ||
		r.str("line_number") != "010-1234-5678" || r.str("expires_at") != httpx.FormatLocal(exp) ||
		r.str("message") != msgValidToken {
		t.Fatalf("valid: %d %s", r.Status, r.Raw)
	}
	invalid := func(tok, msg string) {
		t.Helper()
		r := e.call("GET", "/api/v1/auth/verify?token="+tok, "", nil)
		if r.Status != 200 || r.Body["valid"] != false || r.str("message") != msg || len(r.Body) != 2 {
			t.Fatalf("token %.20s…: %d %s", tok, r.Status, r.Raw)
		}
	}
	for _, tok := range forged(t, e, access) {
		invalid(tok, msgInvalidToken)
	}
	invalid(refresh, msgInvalidToken)
	invalid("%27%20OR%201%3D1%20--", msgInvalidToken)
	wantFields(t, e.call("GET", "/api/v1/auth/verify", "", nil), httpx.MsgValidation,
		map[string]string{"token": msgTokenRequired})
	// Expired only → the expiry message; revoked and expired → invalid.
	other, _ := e.mustLogin("testuser02", "test1234")
	if r := e.call("POST", "/api/v1/auth/logout", other, nil); r.Status != 200 {
		t.Fatal(r.Status)
	}
	invalid(other, msgInvalidToken)
	e.clock.Advance(31 * time.Minute)
	invalid(access, msgExpiredToken)
	invalid(other, msgInvalidToken)
}

// A revoked token stays refused when the mirror is lost (keys deleted), when
// this service's Redis is stopped, and when it never answers; with neither
// store reachable, protected routes answer 503.
func TestRevocationWithoutRedis(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	access, _ := e.mustLogin("testuser01", "test1234")
	if r := e.call("POST", "/api/v1/auth/logout", access, nil); r.Status != 200 {
		t.Fatal(r.Status)
	}
	// Mirror flushed: the process's view still refuses the token, and its
	// next read of PostgreSQL rebuilds the mirror for processes without one.
	if err := e.h.Cache.DelMatch(context.Background(), "*"); err != nil {
		t.Fatal(err)
	}
	wantError(t, e.call("GET", "/api/v1/users/testuser01", access, nil), 401, "UNAUTHORIZED", "")
	jti := e.claimsOf(access, auth.TypeAccess).ID
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if _, ok := e.mirrorScore(jti); ok {
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatal("mirror not rebuilt with the revoked jti")
		}
	}
	wantError(t, e.call("GET", "/api/v1/users/testuser01", access, nil), 401, "UNAUTHORIZED", "")

	// Redis that was up (mirror built, revocation mirrored), then stopped.
	redis := faults.RedisFor(t)
	own := cache.New(config.Redis{Addr: redis.Addr, KeyPrefix: "own:"}, e.h.Log)
	t.Cleanup(func() { _ = own.Close() })
	srv := e.serveWith(t, e.h.Pool, own)
	a2, _ := e.mustLogin("testuser02", "test1234")
	if r := call(t, srv.URL, "GET", "/api/v1/users/testuser02", a2, nil); r.Status != 200 {
		t.Fatalf("own redis, before logout: %d %s", r.Status, r.Raw)
	}
	if r := call(t, srv.URL, "POST", "/api/v1/auth/logout", a2, nil); r.Status != 200 {
		t.Fatalf("own redis logout: %d %s", r.Status, r.Raw)
	}
	j2 := e.claimsOf(a2, auth.TypeAccess).ID
	if _, err := own.Client().ZScore(context.Background(), own.Key("auth:revoked"), j2).Result(); err != nil {
		t.Fatalf("own mirror lacks the revocation: %v", err)
	}
	wantError(t, call(t, srv.URL, "GET", "/api/v1/users/testuser02", a2, nil), 401, "UNAUTHORIZED", "")
	redis.Stop()
	wantError(t, call(t, srv.URL, "GET", "/api/v1/users/testuser02", a2, nil), 401, "UNAUTHORIZED", "")
	wantError(t, call(t, srv.URL, "GET", "/api/v1/users/testuser01", access, nil), 401, "UNAUTHORIZED", "")
	// A valid token still works with Redis gone.
	a3, _ := e.mustLogin("testuser03", "test1234")
	if r := call(t, srv.URL, "GET", "/api/v1/users/testuser03", a3, nil); r.Status != 200 {
		t.Fatalf("valid token, redis stopped: %d %s", r.Status, r.Raw)
	}

	// Redis that never answered.
	dead := e.serveWith(t, e.h.Pool, deadCache(t))
	wantError(t, call(t, dead.URL, "GET", "/api/v1/users/testuser01", access, nil), 401, "UNAUTHORIZED", "")

	// Neither store: 503, never 200.
	deadPool, err := db.Open(context.Background(), config.DB{
		URL: "postgres://postgres@127.0.0.1:" + itoa(freePort(t)) + "/x?sslmode=disable", MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(deadPool.Close)
	none := e.serveWith(t, deadPool, deadCache(t))
	wantError(t, call(t, none.URL, "GET", "/api/v1/users/testuser03", a3, nil), 503, "SERVICE_UNAVAILABLE",
		httpx.MsgUnavailable)
}
