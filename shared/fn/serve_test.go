package fn_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"phonebill/shared/fn"
)

// Every answer carries the security headers — successes, router 404/405,
// recovered panics, preflights, health and metrics — and CORS echoes only
// allow-listed origins (never "null"), with Vary: Origin.
func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	t.Parallel()
	app, err := fn.Build(context.Background(), testEnv(), []fn.Service{testService(0)}, "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Cache-Control":           "no-store",
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Content-Security-Policy": "frame-ancestors 'none'",
		"Referrer-Policy":         "no-referrer",
	}
	for _, c := range []struct {
		method, path, origin string
		status               int
	}{
		{"GET", "/api/v1/demo/hello/1", "http://localhost:3000", 200},
		{"GET", "/api/v1/demo/nope", "", 404},
		{"DELETE", "/api/v1/demo/hello/1", "", 405},
		{"POST", "/api/v1/demo/boom", "http://localhost:3000", 500},
		{"OPTIONS", "/api/v1/demo/hello/1", "http://localhost:3000", 204},
		{"GET", "/health/liveness", "", 200},
		{"GET", "/metrics", "", 200},
		{"GET", "/api/v1/demo/hello/1", "null", 200},
		{"OPTIONS", "/api/v1/demo/hello/1", "null", 204},
		{"GET", "/api/v1/demo/hello/1", "https://evil.example", 200},
	} {
		r := httptest.NewRequest(c.method, c.path, nil)
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if c.method == "OPTIONS" {
			r.Header.Set("Access-Control-Request-Method", "GET")
		}
		rec := httptest.NewRecorder()
		app.Handler.ServeHTTP(rec, r)
		if rec.Code != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, rec.Code, c.status)
		}
		for k, v := range want {
			if got := rec.Header().Values(k); len(got) != 1 || got[0] != v {
				t.Errorf("%s %s: %s = %v, want %q", c.method, c.path, k, got, v)
			}
		}
		acao := rec.Header().Values("Access-Control-Allow-Origin")
		switch c.origin {
		case "http://localhost:3000":
			if len(acao) != 1 || acao[0] != c.origin || !strings.Contains(strings.Join(rec.Header().Values("Vary"), ","), "Origin") {
				t.Errorf("%s %s from the allowed origin: ACAO %v Vary %v", c.method, c.path, acao, rec.Header().Values("Vary"))
			}
		default:
			if len(acao) != 0 {
				t.Errorf("%s %s from %q: ACAO %v, want none", c.method, c.path, c.origin, acao)
			}
		}
		if len(acao) == 1 && acao[0] == "*" && rec.Header().Get("Access-Control-Allow-Credentials") == "true" {
			t.Errorf("%s %s: wildcard origin with credentials", c.method, c.path)
		}
		if allow := rec.Header().Get("Allow"); (c.status == 405) != (allow != "") || (c.status == 405 && allow != "GET, HEAD") {
			t.Errorf("%s %s: Allow %q (status %d), want \"GET, HEAD\" on 405 only", c.method, c.path, allow, rec.Code)
		}
	}
}

// function is the test binary serving testService (700 ms per request) as
// a function process; see TestMain.
type function struct {
	addr    string
	cmd     *exec.Cmd
	done    chan error
	entered chan struct{} // one per request that reached the handler
}

func startFunction(t *testing.T) *function {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FN_TEST_SERVE=1", "LISTEN_ADDRESS=127.0.0.1:0", "LOG_LEVEL=error")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f := &function{cmd: cmd, done: make(chan error, 1), entered: make(chan struct{}, 64)}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
				addrc <- strings.TrimSpace(a)
			} else if sc.Text() == "ENTERED" {
				f.entered <- struct{}{}
			}
		}
		f.done <- cmd.Wait()
	}()
	select {
	case f.addr = <-addrc:
	case <-time.After(20 * time.Second):
		t.Fatal("function did not report its address")
	}
	return f
}

// SIGTERM with 20 requests in flight: every one completes with 200, new
// connections are refused as soon as the drain starts, and the process
// exits 0 only after the last answer (checklist #45, unit part).
func TestSIGTERMDrainsUnderLoad(t *testing.T) {
	t.Parallel()
	f := startFunction(t)
	const n = 20
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: n, MaxIdleConnsPerHost: n}}
	var wrote sync.WaitGroup
	wrote.Add(n)
	type result struct {
		status int
		err    error
		at     time.Time
	}
	results := make(chan result, n)
	for i := range n {
		go func() {
			var once sync.Once
			trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(wrote.Done) }}
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET",
				fmt.Sprintf("http://%s/api/v1/demo/hello/%d", f.addr, i), nil)
			res, err := client.Do(req)
			if err != nil {
				once.Do(wrote.Done)
				results <- result{err: err, at: time.Now()}
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			results <- result{status: res.StatusCode, at: time.Now()}
		}()
	}
	wrote.Wait()
	for i := range n { // every request is in its handler (each takes 700 ms)
		select {
		case <-f.entered:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d requests reached the handler", i, n)
		}
	}
	if err := f.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The listener closes at once: a new connection is refused while the
	// 20 are still being answered.
	refused := false
	for end := time.Now().Add(400 * time.Millisecond); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", f.addr, 100*time.Millisecond)
		if err != nil {
			refused = true
			break
		}
		c.Close()
	}
	if !refused {
		t.Error("new connections still accepted 400 ms into the drain")
	}
	var last time.Time
	var ok atomic.Int32
	for range n {
		r := <-results
		if r.err != nil || r.status != 200 {
			t.Errorf("in-flight request: %d %v", r.status, r.err)
			continue
		}
		ok.Add(1)
		if r.at.After(last) {
			last = r.at
		}
	}
	select {
	case err := <-f.done:
		if err != nil {
			t.Errorf("exit: %v, want status 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("process did not stop within 10 s of SIGTERM")
	}
	if ok.Load() != n {
		t.Fatalf("%d of %d in-flight requests answered 200", ok.Load(), n)
	}
}

// A client that never finishes its headers (slowloris) is cut after the
// server's 5 s ReadHeaderTimeout; headers over the 1 MiB limit answer 431.
func TestSlowAndOversizedHeaders(t *testing.T) {
	t.Parallel()
	f := startFunction(t)
	conn, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: 1"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	_, err = io.Copy(io.Discard, conn) // returns when the server closes
	if elapsed := time.Since(start); err != nil || elapsed < 4*time.Second || elapsed > 10*time.Second {
		t.Fatalf("slow headers: connection closed after %v (%v), want about 5 s", elapsed, err)
	}

	req, _ := http.NewRequest("GET", "http://"+f.addr+"/health", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 2<<20))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("2 MiB header: %d, want 431", res.StatusCode)
	}
}
