package auth

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"phonebill/shared/cache"
	"phonebill/shared/config"
	"phonebill/shared/db"
	"phonebill/shared/httpx"
	"phonebill/shared/testenv/faults"
)

// proxiedCache is a Redis client with its own key prefix that reaches the
// shared Redis through p (only this client's connections are ever cut).
func proxiedCache(t *testing.T, p *faults.Proxy) *cache.Cache {
	t.Helper()
	return proxiedCacheWithPrefix(t, p, fmt.Sprintf("authfault%d:", time.Now().UnixNano()))
}

// proxiedCacheWithPrefix is proxiedCache sharing prefix with another client
// (two processes over one Redis, only this one's connections cut).
func proxiedCacheWithPrefix(t *testing.T, p *faults.Proxy, prefix string) *cache.Cache {
	t.Helper()
	c := cache.New(config.Redis{Addr: p.Addr, KeyPrefix: prefix}, nil)
	t.Cleanup(func() {
		p.Heal()
		_ = p.Restore()
		_ = c.Close()
		// A direct client: the proxied one may still be cooling down from the
		// faults and would skip the clean-up.
		direct := cache.New(config.Redis{Addr: "127.0.0.1:6379", KeyPrefix: prefix}, nil)
		defer direct.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = direct.DelMatch(ctx, "*")
	})
	return c
}

// proxiedPool is a pool to the harness's database through p.
func proxiedPool(t *testing.T, dbURL string, p *faults.Proxy) *pgxpool.Pool {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.Addr
	pool, err := db.Open(context.Background(), config.DB{URL: u.String(), MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// A logout while this service cannot reach Redis commits the revocation to
// PostgreSQL but cannot touch the mirror; when Redis is reachable again the
// mirror must not answer "not revoked" from before the logout. Black-holed
// and slow Redis behave as a cut one: the token stays refused (checklist
// #16, #42 for the revocation check).
func TestRevocationSurvivesRedisCut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	px := faults.StartProxy(t, "redis", "127.0.0.1:6379")
	srv := e.serveWith(t, e.h.Pool, proxiedCache(t, px))
	get := func(tok, user string) reply { return call(t, srv.URL, "GET", "/api/v1/users/"+user, tok, nil) }

	a1, _ := e.mustLogin("testuser01", "test1234")
	if r := get(a1, "testuser01"); r.Status != 200 { // builds the mirror
		t.Fatalf("before the cut: %d %s", r.Status, r.Raw)
	}
	px.Cut()
	if r := call(t, srv.URL, "POST", "/api/v1/auth/logout", a1, nil); r.Status != 200 {
		t.Fatalf("logout with Redis cut: %d %s", r.Status, r.Raw)
	}
	wantError(t, get(a1, "testuser01"), 401, "UNAUTHORIZED", "")
	if err := px.Restore(); err != nil {
		t.Fatal(err)
	}
	wantError(t, get(a1, "testuser01"), 401, "UNAUTHORIZED", "")

	for name, fault := range map[string]func() error{"black hole": px.Blackhole,
		"2 s latency": func() error { return px.Latency(2 * time.Second) }} {
		a2, _ := e.mustLogin("testuser02", "test1234")
		if err := fault(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if r := call(t, srv.URL, "POST", "/api/v1/auth/logout", a2, nil); r.Status != 200 {
			t.Fatalf("%s: logout: %d %s", name, r.Status, r.Raw)
		}
		wantError(t, get(a2, "testuser02"), 401, "UNAUTHORIZED", "")
		a3, _ := e.mustLogin("testuser03", "test1234")
		if r := get(a3, "testuser03"); r.Status != 200 {
			t.Fatalf("%s: a valid token: %d %s", name, r.Status, r.Raw)
		}
		if took := time.Since(start); took > 6*time.Second {
			t.Errorf("%s: logout + 2 checks + login + check took %v", name, took)
		}
		px.Heal()
		wantError(t, get(a2, "testuser02"), 401, "UNAUTHORIZED", "")
	}
}

// PostgreSQL cut: login and guarded reads answer 503 in shape B with the
// generic message (no driver text) while the mirror still clears valid
// tokens; after the cut the pool reconnects (checklist #43).
func TestPostgresCutAndRecovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	px := faults.StartProxy(t, "postgres", hostOf(t, e.h.DBURL))
	srv := e.serveWith(t, proxiedPool(t, e.h.DBURL, px), e.h.Cache)
	tok, _ := e.mustLogin("testuser01", "test1234")
	if r := call(t, srv.URL, "GET", "/api/v1/users/testuser01", tok, nil); r.Status != 200 {
		t.Fatalf("before the cut: %d %s", r.Status, r.Raw)
	}
	px.Cut()
	for _, r := range []reply{
		call(t, srv.URL, "POST", "/api/v1/auth/login", "", map[string]any{"userId": "testuser02", "password": "test1234"}),
		call(t, srv.URL, "GET", "/api/v1/users/testuser01", tok, nil),
	} {
		wantError(t, r, 503, "SERVICE_UNAVAILABLE", httpx.MsgUnavailable)
	}
	if r := call(t, srv.URL, "GET", "/health/liveness", "", nil); r.Status != 200 {
		t.Fatalf("liveness during the cut: %d", r.Status)
	}
	if err := px.Restore(); err != nil {
		t.Fatal(err)
	}
	// Stale pooled connections may fail one request each; then all is well.
	ok := false
	for i := 0; i < 6 && !ok; i++ {
		ok = call(t, srv.URL, "POST", "/api/v1/auth/login", "", map[string]any{"userId": "testuser02",
			"password": "test1234"}).Status == 200
	}
	if !ok {
		t.Fatal("login still failing after PostgreSQL came back")
	}
	if r := call(t, srv.URL, "GET", "/api/v1/users/testuser01", tok, nil); r.Status != 200 {
		t.Fatalf("after recovery: %d %s", r.Status, r.Raw)
	}
}

func hostOf(t *testing.T, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// A lock lives in PostgreSQL: another instance of the function (a new pod
// after scale-to-zero) with an empty Redis still refuses the right password
// (checklist #5).
func TestLockSurvivesRestartAndEmptyRedis(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for range 4 {
		wantError(t, e.login("testuser01", "wrong-pass"), 401, "INVALID_CREDENTIALS", msgInvalidCredentials)
	}
	until := e.clock.Now().Add(30 * time.Minute)
	wantLocked(t, e.login("testuser01", "wrong-pass"), until)
	px := faults.StartProxy(t, "redis", "127.0.0.1:6379")
	fresh := e.serveWith(t, e.h.Pool, proxiedCache(t, px)) // a new process: nothing in memory, nothing in its Redis
	wantLocked(t, call(t, fresh.URL, "POST", "/api/v1/auth/login", "", map[string]any{"userId": "testuser01",
		"password": "test1234"}), until)
	px.Cut() // and with Redis unreachable
	wantLocked(t, call(t, fresh.URL, "POST", "/api/v1/auth/login", "", map[string]any{"userId": "testuser01",
		"password": "test1234"}), until)
}
