package auth

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"phonebill/shared/fn/fntest"
)

// rawCall sends one request byte for byte (header values included, which
// net/http's client would refuse or re-encode) and reads the answer.
func rawCall(t testing.TB, base, method, path string, headers map[string]string, body string) reply {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: phonebill.test\r\nConnection: close\r\n", method, path)
	for k, v := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Type: application/json\r\nContent-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n" + body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := reply{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		_ = json.Unmarshal(raw, &r.Body)
	}
	return r
}

// badHeaderValues are byte-level header values a client can send: bytes
// that are not UTF-8 (Latin-1 obs-text among them), a cut multi-byte
// character, a C1 control and an oversized value (C0 controls and DEL never
// get past the HTTP parser).
var badHeaderValues = []struct{ name, raw, stored string }{
	{"invalid byte", "x\xff", "xÿ"},
	{"latin-1", "Caf\xe9", "Café"},
	// A cut three-byte character: í and the C1 control U+0095, dropped.
	{"cut utf-8", "\xed\x95", "í"},
	{"C1 control", "a\u0085b", "ab"},
	{"oversized", strings.Repeat("ü", 400), strings.Repeat("ü", 250)},
}

func loginBodyOf(user, password string) string {
	return fmt.Sprintf(`{"userId":%q,"password":%q,"autoLogin":false}`, user, password)
}

// TestHeaderBytesNeverBreakAWrite: login, refresh and logout with such a
// User-Agent (and X-Forwarded-For) work, store a cleaned copy, and a logout
// still revokes.
func TestHeaderBytesNeverBreakAWrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range badHeaderValues {
		h := map[string]string{"User-Agent": c.raw, "X-Forwarded-For": c.raw}
		r := rawCall(t, e.srv.URL, "POST", "/api/v1/auth/login", h, loginBodyOf("testuser02", "test1234"))
		if r.Status != 200 {
			t.Fatalf("%s: login %d %s", c.name, r.Status, r.Raw)
		}
		access := r.str("access_token")
		sid := e.claimsOf(access, "ACCESS").ID
		var ua, ip string
		if err := e.h.Pool.QueryRow(context.Background(), `SELECT user_agent, client_ip FROM auth.auth_user_sessions
			WHERE access_jti = $1`, sid).Scan(&ua, &ip); err != nil {
			t.Fatalf("%s: session row: %v", c.name, err)
		}
		if ua != c.stored || !utf8.ValidString(ua) {
			t.Fatalf("%s: stored user agent %q, want %q", c.name, ua, c.stored)
		}
		if net.ParseIP(ip) == nil {
			t.Fatalf("%s: stored client ip %q is not the peer's address", c.name, ip)
		}
		rr := rawCall(t, e.srv.URL, "POST", "/api/v1/auth/refresh", h,
			fmt.Sprintf(`{"refreshToken":%q}`, r.str("refresh_token")))
		if rr.Status != 200 {
			t.Fatalf("%s: refresh %d %s", c.name, rr.Status, rr.Raw)
		}
		access = rr.str("access_token")
		h["Authorization"] = "Bearer " + access
		if lo := rawCall(t, e.srv.URL, "POST", "/api/v1/auth/logout", h, ""); lo.Status != 200 {
			t.Fatalf("%s: logout %d %s", c.name, lo.Status, lo.Raw)
		}
		wantError(t, e.call("GET", "/api/v1/users/testuser02", access, nil), 401, "UNAUTHORIZED", "")
	}
	if n := e.queryInt(`SELECT count(*) FROM auth.auth_login_history WHERE user_id = 'testuser02'
		AND user_agent = 'Café'`); n != 2 {
		t.Fatalf("%d history rows keep the Latin-1 agent as Café, want login and logout", n)
	}
}

// TestLockoutWithBadUserAgent is the bypass the probe found: wrong
// passwords sent with a non-UTF-8 User-Agent are counted and lock the id.
func TestLockoutWithBadUserAgent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := map[string]string{"User-Agent": "x\xff"}
	for i := 1; i <= 4; i++ {
		r := rawCall(t, e.srv.URL, "POST", "/api/v1/auth/login", h, loginBodyOf("testuser03", "wrong-pass"))
		wantError(t, r, 401, "INVALID_CREDENTIALS", msgInvalidCredentials)
	}
	r := rawCall(t, e.srv.URL, "POST", "/api/v1/auth/login", h, loginBodyOf("testuser03", "wrong-pass"))
	if r.Status != 423 {
		t.Fatalf("5th failure: %d %s", r.Status, r.Raw)
	}
	r = rawCall(t, e.srv.URL, "POST", "/api/v1/auth/login", h, loginBodyOf("testuser03", "test1234"))
	if r.Status != 423 {
		t.Fatalf("right password while locked: %d %s", r.Status, r.Raw)
	}
	if n := e.queryInt(`SELECT count(*) FROM auth.auth_login_history WHERE user_id = 'testuser03'`); n != 6 {
		t.Fatalf("%d history rows, want 6", n)
	}
}

// TestSecurityBookkeepingWithoutHistory: with every login-history insert
// failing, failures are still counted up to the lock, a login still opens
// a session and a logout still revokes — the audit row is not what the
// security depends on.
func TestSecurityBookkeepingWithoutHistory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.exec(`CREATE FUNCTION auth.refuse_history() RETURNS trigger LANGUAGE plpgsql AS
		$$BEGIN RAISE EXCEPTION 'history refused'; END$$`)
	e.exec(`CREATE TRIGGER refuse_history BEFORE INSERT ON auth.auth_login_history
		FOR EACH ROW EXECUTE FUNCTION auth.refuse_history()`)
	for i := 1; i <= 4; i++ {
		wantError(t, e.login("testuser01", "wrong-pass"), 401, "INVALID_CREDENTIALS", msgInvalidCredentials)
	}
	if r := e.login("testuser01", "wrong-pass"); r.Status != 423 {
		t.Fatalf("5th failure: %d %s", r.Status, r.Raw)
	}
	if n := e.queryInt(`SELECT failed_count FROM auth.auth_login_attempts WHERE user_id = 'testuser01'`); n != 5 {
		t.Fatalf("failed_count %d, want 5", n)
	}
	if r := e.login("testuser01", "test1234"); r.Status != 423 {
		t.Fatalf("locked id logged in: %d %s", r.Status, r.Raw)
	}
	access, _ := e.mustLogin("testuser02", "test1234")
	if r := e.call("POST", "/api/v1/auth/logout", access, nil); r.Status != 200 {
		t.Fatalf("logout: %d %s", r.Status, r.Raw)
	}
	wantError(t, e.call("GET", "/api/v1/users/testuser02", access, nil), 401, "UNAUTHORIZED", "")
	if n := e.queryInt(`SELECT count(*) FROM auth.auth_login_history`); n != 0 {
		t.Fatalf("%d history rows despite the refusing trigger", n)
	}
}

// FuzzStoredHeaders sends fuzzed User-Agent and X-Forwarded-For bytes with
// a login: never a 5xx, and what the session row keeps is valid UTF-8
// without control characters, at most 500 bytes.
func FuzzStoredHeaders(f *testing.F) {
	for _, c := range badHeaderValues {
		f.Add(c.raw, c.raw)
	}
	f.Add("Mozilla/5.0", "203.0.113.9, 10.0.0.1")
	f.Add("\xc0\x80", "::1")
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, ua, xff string) {
		if strings.ContainsFunc(ua+xff, func(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }) {
			return // the HTTP parser refuses these before phonebill sees them
		}
		h := map[string]string{"User-Agent": ua, "X-Forwarded-For": xff}
		r := rawCall(t, e.srv.URL, "POST", "/api/v1/auth/login", h, loginBodyOf("testuser01", "test1234"))
		if r.Status >= 500 {
			t.Fatalf("login with User-Agent %q: %d %s", ua, r.Status, r.Raw)
		}
		if r.Status != 200 {
			return
		}
		c, err := e.h.Tokens.Verify(r.str("access_token"), "ACCESS")
		if err != nil {
			t.Fatal(err)
		}
		var stored string
		if err := e.h.Pool.QueryRow(context.Background(), `SELECT COALESCE(user_agent, '') FROM auth.auth_user_sessions
			WHERE access_jti = $1`, c.ID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if !utf8.ValidString(stored) || len(stored) > 500 || strings.ContainsFunc(stored, func(r rune) bool {
			return r < 0x20 || (r >= 0x7f && r <= 0x9f)
		}) {
			t.Fatalf("stored user agent %q from %q", stored, ua)
		}
	})
}

// TestSlowLoginBodyIsCut: through the runtime's own stack, a login body
// sent one byte per 100 ms is cut at BODY_READ_TIMEOUT_MS with Auth's 408.
func TestSlowLoginBodyIsCut(t *testing.T) {
	t.Parallel()
	h := fntest.New(t, nil)
	h.Env.Settings.HTTP.BodyReadTimeoutMS = 300
	srv := h.Serve(t, testService(Bcrypt{Cost: testCost}, testConfig, nil))
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	body := loginBodyOf("testuser01", "test1234")
	start := time.Now()
	fmt.Fprintf(conn, "POST /api/v1/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\n\r\n", len(body))
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := range len(body) {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := conn.Write([]byte{body[i]}); err != nil {
				return
			}
		}
	}()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	if res.StatusCode != 408 || m["code"] != "REQUEST_TIMEOUT" || m["status"] != float64(408) {
		t.Fatalf("slow login body: %d %s", res.StatusCode, raw)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("answered after %v (body deadline 300 ms, the whole body takes %v)", took,
			time.Duration(len(body))*100*time.Millisecond)
	}
}
