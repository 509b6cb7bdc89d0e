package auth

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"phonebill/shared/auth"
	"phonebill/shared/cache"
	"phonebill/shared/config"
	"phonebill/shared/fn"
	"phonebill/shared/fn/fntest"
	"phonebill/shared/httpx"
	"phonebill/shared/testenv"
)

// testCost keeps new hashes cheap; the seed's cost-10 hashes still verify.
const testCost = 4

// clock is the injected clock: it starts at the real time (the revocation
// mirror trims by real time) and only moves forward.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// countingHasher is bcrypt that records every comparison's hash.
type countingHasher struct {
	Bcrypt
	mu       sync.Mutex
	compared []string
}

func (h *countingHasher) Compare(hash, password string) bool {
	h.mu.Lock()
	h.compared = append(h.compared, hash)
	h.mu.Unlock()
	return h.Bcrypt.Compare(hash, password)
}

// since returns the hashes compared after the first n comparisons.
func (h *countingHasher) since(n int) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.compared[n:]...)
}

func (h *countingHasher) count() int { h.mu.Lock(); defer h.mu.Unlock(); return len(h.compared) }

// testEnv is one isolated Auth service: its own database, Redis prefix,
// clock and hasher, served over HTTP exactly as in production.
type testEnv struct {
	t      testing.TB
	h      *fntest.Harness
	srv    *httptest.Server
	clock  *clock
	hasher *countingHasher
	acc    *Accounts
}

var testConfig = Config{MaxFailedAttempts: 5, Lockout: 30 * time.Minute}

// testService is Service with the test's hasher and lockout rule.
func testService(hasher Hasher, cfg Config, got **Handlers) fn.Service {
	svc := Service()
	svc.Start = func(ctx context.Context, env *fn.Env) (any, error) {
		h, err := build(ctx, env, cfg, hasher)
		if got != nil {
			*got = h
		}
		return h, err
	}
	return svc
}

// seedPasswords are the seeded accounts' passwords (SPEC §6.6).
var seedPasswords = map[string]string{"testuser01": "test1234", "testuser02": "test1234", "testuser03": "test1234",
	"admin": "Admin1234!", "developer": "Dev12345!", "tester": "Test1234!"}

// cheapSeedHashes are cost-4 hashes of the seeded passwords: the seed's
// cost-10 hashes take most of a second each under -race, and the lockout
// tests compare dozens of them.
var cheapSeedHashes = sync.OnceValue(func() map[string]string {
	out := map[string]string{}
	for u, p := range seedPasswords {
		h, err := Bcrypt{Cost: testCost}.Hash(p)
		if err != nil {
			panic(err)
		}
		out[u] = h
	}
	return out
})

// newEnv is a service over a fresh database whose seeded accounts carry
// cost-4 hashes of their passwords.
func newEnv(t testing.TB) *testEnv {
	t.Helper()
	e := newSeededEnv(t)
	for u, h := range cheapSeedHashes() {
		e.exec(`UPDATE auth.auth_users SET password_hash = $2 WHERE user_id = $1`, u, h)
	}
	return e
}

// newSeededEnv keeps the seed's own cost-10 hashes.
func newSeededEnv(t testing.TB) *testEnv {
	t.Helper()
	return newEnvCost(t, testCost)
}

// newEnvCost is newSeededEnv with new hashes (and the dummy) at cost.
func newEnvCost(t testing.TB, cost int) *testEnv {
	t.Helper()
	clk := newClock()
	h := fntest.New(t, clk.Now)
	hasher := &countingHasher{Bcrypt: Bcrypt{Cost: cost}}
	var handlers *Handlers
	srv := h.Serve(t, testService(hasher, testConfig, &handlers))
	return &testEnv{t: t, h: h, srv: srv, clock: clk, hasher: hasher, acc: handlers.acc}
}

// serveWith serves another instance of the service over the same database
// and clock but with the given pool and Redis client (fault tests).
func (e *testEnv) serveWith(t testing.TB, pool *pgxpool.Pool, c *cache.Cache) *httptest.Server {
	t.Helper()
	env := &fn.Env{Settings: e.h.Env.Settings, Log: e.h.Log, Metrics: httpx.NewMetrics(), Now: e.clock.Now}
	env.UseDB(pool)
	env.UseCache(c)
	env.UseTokens(e.h.Tokens)
	app, err := fn.Build(context.Background(), env, []fn.Service{testService(e.hasher, testConfig, nil)}, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler)
	t.Cleanup(srv.Close)
	return srv
}

// reply is a decoded response.
type reply struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

func (r reply) str(k string) string { s, _ := r.Body[k].(string); return s }

func (r reply) obj(k string) map[string]any { m, _ := r.Body[k].(map[string]any); return m }

// call sends method path with an optional bearer token and body (a string is
// sent as is, anything else as JSON) to base.
func call(t testing.TB, base, method, path, token string, body any) reply {
	t.Helper()
	rd := fntest.Body(t, body)
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			t.Fatalf("%s %s: bad JSON %s", method, path, raw)
		}
	}
	return r
}

func (e *testEnv) call(method, path, token string, body any) reply {
	e.t.Helper()
	return call(e.t, e.srv.URL, method, path, token, body)
}

// login posts the client's login body.
func (e *testEnv) login(user, password string) reply {
	e.t.Helper()
	return e.call("POST", "/api/v1/auth/login", "", map[string]any{"userId": user, "password": password, "autoLogin": false})
}

// mustLogin logs in and returns the access and refresh tokens.
func (e *testEnv) mustLogin(user, password string) (string, string) {
	e.t.Helper()
	r := e.login(user, password)
	if r.Status != 200 {
		e.t.Fatalf("login %s: %d %s", user, r.Status, r.Raw)
	}
	return r.str("access_token"), r.str("refresh_token")
}

func (e *testEnv) adminToken() string {
	e.t.Helper()
	a, _ := e.mustLogin("admin", "Admin1234!")
	return a
}

// wantError checks a shape B error: status, code, message and the common
// fields of SPEC §2.4.
func wantError(t testing.TB, r reply, status int, code, message string) {
	t.Helper()
	if r.Status != status || r.str("code") != code || (message != "" && r.str("message") != message) {
		t.Fatalf("got %d %s, want %d %s %q", r.Status, r.Raw, status, code, message)
	}
	if int(r.Body["status"].(float64)) != status || r.str("error") != http.StatusText(status) || r.str("path") == "" {
		t.Fatalf("not shape B: %s", r.Raw)
	}
	if _, err := time.ParseInLocation(httpx.LayoutLocal, r.str("timestamp"), httpx.Seoul()); err != nil {
		t.Fatalf("timestamp %q: %v", r.str("timestamp"), err)
	}
}

// wantFields checks a 400's fieldErrors exactly.
func wantFields(t testing.TB, r reply, message string, fields map[string]string) {
	t.Helper()
	wantError(t, r, 400, "INVALID_REQUEST", message)
	got, _ := r.Body["fieldErrors"].(map[string]any)
	if len(got) != len(fields) {
		t.Fatalf("fieldErrors %v, want %v", got, fields)
	}
	for k, v := range fields {
		if got[k] != v {
			t.Fatalf("fieldErrors[%s] = %v, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

// queryInt runs a one-value query on the test database.
func (e *testEnv) queryInt(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.h.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func (e *testEnv) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.h.Pool.Exec(context.Background(), sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

// claimsOf verifies an issued access token with the harness's tokens.
func (e *testEnv) claimsOf(token, typ string) *auth.Claims {
	e.t.Helper()
	c, err := e.h.Tokens.Verify(token, typ)
	if err != nil {
		e.t.Fatalf("verify %s token: %v", typ, err)
	}
	return c
}

// freePort returns a loopback port nothing listens on.
func freePort(t testing.TB) int {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// deadCache is a Redis client pointed at a port nothing listens on.
func deadCache(t testing.TB) *cache.Cache {
	c := cache.New(config.Redis{Addr: "127.0.0.1:" + strconv.Itoa(freePort(t)), KeyPrefix: "dead:"}, nil)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func itoa(n int) string { return strconv.Itoa(n) }
