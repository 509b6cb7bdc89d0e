// Package fntest runs services in a test against the real PostgreSQL (a fresh
// database per harness) and Redis (a unique key prefix per harness), with the
// same Build as production and events delivered by the in-process broker.
package fntest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"phonebill/shared/auth"
	"phonebill/shared/cache"
	"phonebill/shared/config"
	"phonebill/shared/db/dbtest"
	"phonebill/shared/fn"
	"phonebill/shared/httpx"
)

// Secret is the JWT secret of every harness.
const Secret = "test-secret-0123456789abcdef-0123456789"

// Harness is one isolated environment: database, key prefix, tokens.
type Harness struct {
	Env    *fn.Env
	Pool   *pgxpool.Pool
	DBURL  string
	Cache  *cache.Cache
	Prefix string
	Tokens *auth.Tokens
	Broker *fn.Broker
	Log    *slog.Logger

	ln net.Listener
}

// Listen reserves the loopback address Serve will use and returns its base
// URL, so settings read at Start (KOS_BASE_URL) can point at the server that
// is about to serve KOS-Mock itself, as in the all-in-one.
func (h *Harness) Listen(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.ln = ln
	return "http://" + ln.Addr().String()
}

// New returns a harness over a fresh migrated and seeded database. now may
// be nil (time.Now).
func New(t testing.TB, now func() time.Time) *Harness {
	t.Helper()
	url, pool := dbtest.NewWithURL(t)
	if now == nil {
		now = time.Now
	}
	lg := Logger(t)
	prefix := "t" + randHex(6) + ":"
	c := cache.New(config.Redis{Addr: "127.0.0.1:6379", KeyPrefix: prefix}, lg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.DelMatch(ctx, "*")
		_ = c.Close()
	})
	tokens, err := auth.NewTokens(config.JWT{Secret: Secret, AccessValiditySeconds: 1800,
		RefreshValiditySeconds: 86400, LeewaySeconds: 30}, now)
	if err != nil {
		t.Fatal(err)
	}
	env := &fn.Env{
		Settings: fn.Settings{
			HTTP: config.HTTP{MaxBodyBytes: 65536, RequestDeadlineMS: 8000, BodyReadTimeoutMS: 5000, TZ: "Asia/Seoul",
				CORSAllowedOrigins: []string{"http://localhost:3000"}, ShutdownTimeoutSeconds: 5},
			DB:    config.DB{URL: url, MaxConns: 8},
			Redis: config.Redis{Addr: "127.0.0.1:6379", KeyPrefix: prefix},
		},
		Log: lg, Metrics: httpx.NewMetrics(), Now: now,
	}
	env.UseDB(pool)
	env.UseCache(c)
	env.UseTokens(tokens)
	b := fn.NewBroker(lg)
	b.TimeScale = 0.01 // 0.2 s → 2 ms; a 1 s backoff → 10 ms
	env.EventSink = fn.BrokerURL
	env.EventClient = b.Client()
	env.ScheduleEvery = b.Interval
	return &Harness{Env: env, Pool: pool, DBURL: url, Cache: c, Prefix: prefix, Tokens: tokens, Broker: b, Log: lg}
}

// Serve builds services exactly as the all-in-one does and serves them on a
// loopback port until the test ends; events go through h.Broker.
func (h *Harness) Serve(t testing.TB, services ...fn.Service) *httptest.Server {
	t.Helper()
	app, err := fn.Build(context.Background(), h.Env, services, "")
	if err != nil {
		t.Fatalf("fntest: build: %v", err)
	}
	h.Broker.Subscribe(app.Events)
	srv := httptest.NewUnstartedServer(app.Handler)
	if h.ln != nil {
		srv.Listener.Close()
		srv.Listener, h.ln = h.ln, nil
	}
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.Broker.Wait(ctx)
		app.Stop(ctx)
	})
	return srv
}

// AccessToken issues an access token for the given identity.
func (h *Harness) AccessToken(t testing.TB, userID, customerID, line string, perms ...string) string {
	t.Helper()
	tok, _, err := h.Tokens.Issue(auth.Claims{UserID: userID, CustomerID: customerID, LineNumber: line,
		Permissions: perms}, auth.TypeAccess)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Logger sends slog output to t.Log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	// Background deliveries may log after the test ended; t.Log would panic.
	defer func() { _ = recover() }()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Body is a request body for test calls: nil for none, a string or []byte
// sent as is (malformed JSON on purpose), anything else encoded as JSON.
func Body(t testing.TB, body any) io.Reader {
	t.Helper()
	switch b := body.(type) {
	case nil:
		return nil
	case string:
		return strings.NewReader(b)
	case []byte:
		return bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.NewReader(raw)
	}
}
