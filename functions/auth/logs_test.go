package auth

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"phonebill/shared/fn"
	"phonebill/shared/httpx"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// The production JSON log (debug level, so every line is kept) of a whole
// session — login, a failed login, refresh, verify with the token in the
// query, a guarded read, logout, a registration — holds no password, no
// token and no signature of one (checklist #11; ASVS 16.2.5).
func TestLogsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var logs syncBuffer
	lg := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	env := &fn.Env{Settings: e.h.Env.Settings, Log: lg, Metrics: httpx.NewMetrics(), Now: e.clock.Now}
	env.UseDB(e.h.Pool)
	env.UseCache(e.h.Cache)
	env.UseTokens(e.h.Tokens)
	app, err := fn.Build(context.Background(), env, []fn.Service{testService(e.hasher, testConfig, nil)}, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler)
	t.Cleanup(srv.Close)

	secrets := []string{"test1234", "Wrong-Passw0rd!", "Fresh-Passw0rd!"}
	r := call(t, srv.URL, "POST", "/api/v1/auth/login", "", map[string]any{"userId": "testuser01", "password": "test1234"})
	if r.Status != 200 {
		t.Fatalf("login: %d %s", r.Status, r.Raw)
	}
	access, refresh := r.str("access_token"), r.str("refresh_token")
	call(t, srv.URL, "POST", "/api/v1/auth/login", "", map[string]any{"userId": "testuser02", "password": "Wrong-Passw0rd!"})
	r = call(t, srv.URL, "POST", "/api/v1/auth/refresh", "", map[string]any{"refreshToken": refresh})
	if r.Status != 200 {
		t.Fatalf("refresh: %d %s", r.Status, r.Raw)
	}
	access2, refresh2 := r.str("access_token"), r.str("refresh_token")
	call(t, srv.URL, "GET", "/api/v1/auth/verify?token="+access2, "", nil)
	call(t, srv.URL, "GET", "/api/v1/users/testuser01", access, nil) // revoked by the rotation? either way logged
	call(t, srv.URL, "GET", "/api/v1/users/testuser01", access2, nil)
	call(t, srv.URL, "POST", "/api/v1/auth/logout", access2, nil)
	call(t, srv.URL, "POST", "/api/v1/auth/register", "", map[string]any{"userId": "newuser9", "customerId": "C9",
		"lineNumber": "010-5555-9999", "userName": "김철수", "password": "Fresh-Passw0rd!", "permissions": []string{"BILL_INQUIRY"}})
	for _, tok := range []string{access, refresh, access2, refresh2} {
		parts := strings.Split(tok, ".")
		secrets = append(secrets, tok, parts[2])
	}
	out := logs.String()
	if !strings.Contains(out, `"path":"/api/v1/auth/verify"`) {
		t.Fatalf("the session was not logged:\n%s", out)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the log holds a secret (%.12s…)", s)
		}
	}
	if strings.Contains(strings.ToLower(out), "bearer ") {
		t.Error("the log holds an Authorization header")
	}
}
