package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"phonebill/bench/internal/proc"
	"phonebill/shared/auth"
	"phonebill/shared/events"
	"phonebill/shared/testenv"
)

// fnBinary is one function main found under functions/.
type fnBinary struct {
	Name string // route or function name ("phonebill" for the all-in-one)
	Pkg  string // ./functions/auth/login
	Bin  string
	Size int64
}

var mainCall = regexp.MustCompile(`fn\.Main\([^,]+,\s*"([^"]+)"\)`)

// discover lists every function main under root/functions (tools under
// functions/internal excluded), named by the route its fn.Main serves.
func discover(root string) ([]fnBinary, error) {
	var out []fnBinary
	base := filepath.Join(root, "functions")
	err := filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "internal" {
			return filepath.SkipDir
		}
		if d.IsDir() || d.Name() != "main.go" {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		name := filepath.Base(filepath.Dir(p))
		if m := mainCall.FindSubmatch(src); m != nil {
			name = string(m[1])
		}
		out = append(out, fnBinary{Name: name, Pkg: "./" + filepath.ToSlash(rel)})
		return nil
	})
	slices.SortFunc(out, func(a, b fnBinary) int { return strings.Compare(a.Name, b.Name) })
	return out, err
}

// buildAll builds every package as Knative images carry it (trimmed
// paths, no symbol table or DWARF), two at a time.
func buildAll(ctx context.Context, root, outDir string, bins []*fnBinary) error {
	sem := make(chan struct{}, 2)
	var mu sync.Mutex
	var errs []string
	var wg sync.WaitGroup
	for _, b := range bins {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			b.Bin = filepath.Join(outDir, b.Name)
			cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", b.Bin, b.Pkg)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("%s: %v\n%s", b.Pkg, err, out))
				mu.Unlock()
				return
			}
			if st, err := os.Stat(b.Bin); err == nil {
				b.Size = st.Size()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("build:\n%s", strings.Join(errs, "\n"))
	}
	return nil
}

// probe is a cheap request on a function's real route that needs the
// database (and Redis where the route uses it), and the status it answers.
type probe struct {
	Method, Path string
	Expect       int
	// Make builds the i-th request's body and headers (fresh tokens or ids
	// where a request changes state).
	Make func(i int) ([]byte, http.Header)
	Note string
}

// kit issues the tokens the probes carry, signed with the functions' key.
type kit struct {
	tokens *auth.Tokens
	month  string // current Seoul month, YYYYMM
	seq    atomic.Int64
}

var (
	user01 = auth.Claims{UserID: "testuser01", CustomerID: "CUST001", LineNumber: "010-1234-5678",
		Permissions: []string{auth.PermBillInquiry, auth.PermProductChange}}
	user02 = auth.Claims{UserID: "testuser02", CustomerID: "CUST002", LineNumber: "010-8765-4321",
		Permissions: []string{auth.PermBillInquiry}}
	admin = auth.Claims{UserID: "admin", CustomerID: "CUST900", LineNumber: "010-9000-0001",
		Permissions: []string{auth.PermAdmin, auth.PermUserManagement, auth.PermBillInquiry, auth.PermProductChange}}
)

func (k *kit) token(c auth.Claims, typ string) string {
	t, _, err := k.tokens.Issue(c, typ)
	if err != nil {
		panic(err) // the key was validated at start
	}
	return t
}

func bearer(tok string) http.Header {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+tok)
	return h
}

func jsonHeader(h http.Header) http.Header {
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", "application/json")
	return h
}

// cloudEvent is a binary-mode CloudEvent as the Broker delivers it.
func cloudEvent(typ, id string) http.Header {
	h := http.Header{}
	h.Set("Ce-Specversion", "1.0")
	h.Set("Ce-Id", id)
	h.Set("Ce-Type", typ)
	h.Set("Ce-Source", "/bench/coldstart")
	h.Set("Content-Type", "application/json")
	return h
}

// probes returns the request of every function, by name. A function that
// has none fails the run, so a new function gets one.
func (k *kit) probes() map[string]probe {
	user := func(int) ([]byte, http.Header) { return nil, bearer(k.token(user01, auth.TypeAccess)) }
	adm := func(int) ([]byte, http.Header) { return nil, bearer(k.token(admin, auth.TypeAccess)) }
	userJSON := func(body string) func(int) ([]byte, http.Header) {
		return func(int) ([]byte, http.Header) {
			return []byte(body), jsonHeader(bearer(k.token(user01, auth.TypeAccess)))
		}
	}
	event := func(typ, data string) func(int) ([]byte, http.Header) {
		return func(int) ([]byte, http.Header) {
			return []byte(data), cloudEvent(typ, fmt.Sprintf("bench-%s-%d", randHex(4), k.seq.Add(1)))
		}
	}
	inquiry := `{"lineNumber":"010-1234-5678","inquiryMonth":"` + k.month + `"}`
	return map[string]probe{
		"auth-login": {Method: "POST", Path: "/api/v1/auth/login", Expect: 200, Note: "one bcrypt compare (cost 10)",
			Make: func(int) ([]byte, http.Header) {
				return []byte(`{"userId":"testuser01","password":"test1234"}`), jsonHeader(nil)
			}},
		// testuser02 has no sessions: a token without one ends none and
		// revokes itself (testuser01's load-run sessions would all be ended).
		"auth-logout": {Method: "POST", Path: "/api/v1/auth/logout", Expect: 200, Note: "revokes the token (testuser02, no sessions)",
			Make: func(int) ([]byte, http.Header) { return nil, bearer(k.token(user02, auth.TypeAccess)) }},
		"auth-refresh": {Method: "POST", Path: "/api/v1/auth/refresh", Expect: 401,
			Note: "signed refresh token without a session: 401 after the session lookup",
			Make: func(int) ([]byte, http.Header) {
				return []byte(`{"refreshToken":"` + k.token(user01, auth.TypeRefresh) + `"}`), jsonHeader(nil)
			}},
		"auth-register": {Method: "POST", Path: "/api/v1/auth/register", Expect: 200, Note: "one bcrypt hash (cost 10)",
			Make: func(int) ([]byte, http.Header) {
				n := k.seq.Add(1)
				id := randHex(3)
				line := fmt.Sprintf("010-7%03d-%04d", n%1000, (n/1000)%10000)
				return []byte(fmt.Sprintf(`{"userId":"bench%s%d","customerId":"CB%s%d","lineNumber":"%s",`+
					`"userName":"벤치","password":"Bench1234!","permissions":["BILL_INQUIRY"]}`, id, n, id, n, line)), jsonHeader(nil)
			}},
		"auth-verify": {Method: "GET", Path: "/api/v1/auth/verify?token=", Expect: 200,
			Make: func(int) ([]byte, http.Header) { return nil, nil }},
		"auth-change-password": {Method: "POST", Path: "/api/v1/auth/change-password", Expect: 200,
			Note: "admin sets tester's password: one bcrypt hash (cost 10)",
			Make: func(int) ([]byte, http.Header) {
				return []byte(`{"userId":"tester","newPassword":"Bench1234!"}`), jsonHeader(bearer(k.token(admin, auth.TypeAccess)))
			}},
		"auth-unlock":            {Method: "POST", Path: "/api/v1/auth/unlock/testuser02", Expect: 200, Make: adm},
		"user-get":               {Method: "GET", Path: "/api/v1/users/testuser01", Expect: 200, Make: user},
		"user-list":              {Method: "GET", Path: "/api/v1/users", Expect: 200, Make: adm},
		"user-by-line":           {Method: "GET", Path: "/api/v1/users/by-line/010-1234-5678", Expect: 200, Make: user},
		"user-by-customer":       {Method: "GET", Path: "/api/v1/users/by-customer/CUST001", Expect: 200, Make: user},
		"user-permission-grant":  {Method: "POST", Path: "/api/v1/users/testuser02/permissions/PRODUCT_CHANGE/grant?grantedBy=admin", Expect: 200, Make: adm},
		"user-permission-revoke": {Method: "DELETE", Path: "/api/v1/users/testuser02/permissions/PRODUCT_CHANGE", Expect: 200, Make: adm},
		"bill-menu":              {Method: "GET", Path: "/api/v1/bills/menu", Expect: 200, Make: user},
		"bill-inquiry":           {Method: "POST", Path: "/api/v1/bills/inquiry", Expect: 200, Make: userJSON(inquiry), Note: "cached bill"},
		"bill-history":           {Method: "GET", Path: "/api/v1/bills/history", Expect: 200, Make: user},
		"bill-cache-evict": {Method: "POST", Path: "/", Expect: 200, Note: "product.changed event (Redis only)",
			Make: event(events.TypeProductChanged, `{"lineNumber":"01087654321"}`)},
		"product-customer":  {Method: "GET", Path: "/api/v1/products/customer?lineNumber=01012345678", Expect: 200, Make: user},
		"product-available": {Method: "GET", Path: "/api/v1/products/available?currentProductCode=5G-STANDARD-001", Expect: 200, Make: user},
		"product-validation": {Method: "POST", Path: "/api/v1/products/change/validation", Expect: 200,
			Make: userJSON(`{"lineNumber":"01012345678","currentProductCode":"5G-STANDARD-001","targetProductCode":"5G-PREMIUM-001"}`)},
		"product-change": {Method: "POST", Path: "/api/v1/products/change", Expect: 200,
			Note: "to a discontinued plan: history row written, refused by the pre-check (KOS not changed)",
			Make: userJSON(`{"lineNumber":"01012345678","currentProductCode":"5G-STANDARD-001","targetProductCode":"3G-OLD-001"}`)},
		"product-change-status": {Method: "GET", Path: "/api/v1/products/change/bench-unknown-request", Expect: 404,
			Note: "unknown request id: 404 after the lookup", Make: user},
		"product-history": {Method: "GET", Path: "/api/v1/products/history", Expect: 200, Make: user},
		"product-change-worker": {Method: "POST", Path: "/", Expect: 400,
			Note: "change.requested of an unknown request: 400 (poison) after the dedupe and change lookups",
			Make: event(events.TypeProductChangeRequested, `{"requestId":"bench-unknown-request"}`)},
		"product-outbox-relay": {Method: "POST", Path: "/", Expect: 200, Note: "PingSource event: one relay pass",
			Make: event(events.TypePing, `{}`)},
		"retention-purge": {Method: "POST", Path: "/", Expect: 200, Note: "PingSource event: one purge run over every table",
			Make: event(events.TypePing, `{}`)},
		"product-deadletter": {Method: "POST", Path: "/", Expect: 200, Note: "a dead-lettered event is stored",
			Make: event(events.TypeProductChanged, `{"lineNumber":"01087654321"}`)},
		"kos-mock": {Method: "POST", Path: "/api/v1/kos/bill/inquiry", Expect: 200, Note: "simulation off",
			Make: func(int) ([]byte, http.Header) {
				return []byte(`{"lineNumber":"01012345678","billingMonth":"` + k.month + `"}`), jsonHeader(nil)
			}},
		"phonebill": {Method: "GET", Path: "/api/v1/users/testuser01", Expect: 200, Make: user, Note: "all-in-one"},
		"bare":      {Method: "GET", Path: "/health/readiness", Expect: 200, Make: func(int) ([]byte, http.Header) { return nil, nil }},
	}
}

// request builds the i-th probe request against base.
func (k *kit) request(ctx context.Context, p probe, base string, i int) (*http.Request, error) {
	body, hdr := p.Make(i)
	path := p.Path
	if strings.HasSuffix(path, "?token=") { // auth-verify carries its token in the query
		path += k.token(user01, auth.TypeAccess)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, p.Method, base+path, rd)
	if err != nil {
		return nil, err
	}
	for key, v := range hdr {
		req.Header[key] = v
	}
	return req, nil
}

// coldResult is one function's cold-start figures.
type coldResult struct {
	fnBinary
	Probe     probe
	Ready     []time.Duration // exec → first 200 on /health/readiness
	Real      []time.Duration // exec → first expected answer on the real route
	First     []time.Duration // the first real request alone (connects the pool and Redis)
	Stop      []time.Duration // SIGTERM → exit
	IdleRSS   int64           // KiB, once ready
	RealRSS   int64           // KiB, after the first real request
	LoadRSS   int64           // KiB, after the short load
	LoadHWM   int64           // KiB, peak during the run
	LoadReqs  int
	LoadRPS   float64
	LoadFails int
	Err       string
}

type coldOpts struct {
	Runs, RestRuns int
	Full           []string // functions that get Runs; the rest get RestRuns
	LoadDuration   time.Duration
	LoadRequests   int
	LoadWorkers    int
}

// coldStart starts every binary as Knative would (PORT, the ConfigMap's
// variables), measures ready and real-route times, and on the first run
// the RSS when idle and after a short load. Runs go round-robin over the
// functions so that background noise spreads evenly.
func coldStart(ctx context.Context, bins []fnBinary, env func(name string, port int) []string, k *kit, o coldOpts, logDir string) []*coldResult {
	probes := k.probes()
	results := make([]*coldResult, len(bins))
	runs := make([]int, len(bins))
	maxRuns := 0
	for i, b := range bins {
		results[i] = &coldResult{fnBinary: b, Probe: probes[b.Name]}
		runs[i] = o.RestRuns
		if slices.Contains(o.Full, b.Name) || len(o.Full) == 0 {
			runs[i] = o.Runs
		}
		maxRuns = max(maxRuns, runs[i])
		if results[i].Probe.Make == nil {
			results[i].Err = "no probe defined for " + b.Name
		}
	}
	for r := range maxRuns {
		for i, res := range results {
			if r >= runs[i] || res.Err != "" || ctx.Err() != nil {
				continue
			}
			if err := coldRun(ctx, res, env, k, r == 0, o, filepath.Join(logDir, res.Name+".log")); err != nil {
				res.Err = err.Error()
			}
		}
	}
	return results
}

func coldRun(ctx context.Context, res *coldResult, env func(string, int) []string, k *kit, measureMem bool, o coldOpts, logPath string) error {
	port, err := testenv.FreePort()
	if err != nil {
		return err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	start := time.Now()
	p, err := proc.Start(res.Name, res.Bin, env(res.Name, port), logPath)
	if err != nil {
		return err
	}
	defer func() {
		tr.CloseIdleConnections()
		took, _ := p.Stop(10 * time.Second)
		res.Stop = append(res.Stop, took)
	}()
	ready, err := proc.WaitReady(ctx, p, client, base+"/health/readiness", start, 10*time.Second, readyPoll)
	if err != nil {
		return err
	}
	if measureMem {
		res.IdleRSS, _, _ = memKiB(p.Pid())
	}
	req, err := k.request(ctx, res.Probe, base, 0)
	if err != nil {
		return err
	}
	t := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("real route: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	done := time.Now()
	if resp.StatusCode != res.Probe.Expect {
		return fmt.Errorf("real route %s %s: %d, want %d: %.300s", res.Probe.Method, res.Probe.Path, resp.StatusCode, res.Probe.Expect, body)
	}
	res.Ready = append(res.Ready, ready)
	res.Real = append(res.Real, done.Sub(start))
	res.First = append(res.First, done.Sub(t))
	if !measureMem {
		return nil
	}
	res.RealRSS, _, _ = memKiB(p.Pid())
	res.LoadReqs, res.LoadFails, res.LoadRPS = shortLoad(ctx, client, k, res.Probe, base, o)
	res.LoadRSS, res.LoadHWM, _ = memKiB(p.Pid())
	return nil
}

// shortLoad sends the probe from a few workers, bounded in time and count.
func shortLoad(ctx context.Context, client *http.Client, k *kit, p probe, base string, o coldOpts) (n, fails int, rps float64) {
	var sent, failed atomic.Int64
	stop := time.Now().Add(o.LoadDuration)
	start := time.Now()
	var wg sync.WaitGroup
	for range o.LoadWorkers {
		wg.Go(func() {
			for time.Now().Before(stop) && ctx.Err() == nil {
				i := sent.Add(1)
				if i > int64(o.LoadRequests) {
					sent.Add(-1)
					return
				}
				req, err := k.request(ctx, p, base, int(i))
				if err != nil {
					failed.Add(1)
					continue
				}
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != p.Expect {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	n = int(sent.Load())
	return n, int(failed.Load()), float64(n) / time.Since(start).Seconds()
}
