package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"phonebill/functions/routes"
	"phonebill/shared/auth"
	"phonebill/shared/config"
	"phonebill/shared/testenv"
)

// Every function main is found, named by its route, and has a probe whose
// method and path fit the route table (event functions receive at "/").
func TestEveryFunctionHasAProbe(t *testing.T) {
	root, err := testenv.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	bins, err := discover(root)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewTokens(config.JWT{Secret: strings.Repeat("k", 32), AccessValiditySeconds: 60,
		RefreshValiditySeconds: 60}, nil)
	if err != nil {
		t.Fatal(err)
	}
	probes := (&kit{tokens: tokens, month: "202501"}).probes()
	routeOf := map[string]struct{ method, path string }{}
	functions := map[string]bool{}
	for _, svc := range routes.All() {
		if svc.Function != "" {
			functions[svc.Function] = true
		}
		for _, r := range svc.Routes {
			if r.IsEvent() {
				routeOf[r.Name] = struct{ method, path string }{"POST", "/"}
			} else {
				routeOf[r.Name] = struct{ method, path string }{r.Method, r.Path}
			}
		}
	}
	seen := 0
	for _, b := range bins {
		if strings.Contains(b.Pkg, "/internal/") {
			t.Errorf("%s: a tool was taken for a function", b.Pkg)
		}
		p, ok := probes[b.Name]
		if !ok {
			t.Errorf("%s (%s) has no cold-start probe", b.Name, b.Pkg)
			continue
		}
		seen++
		if b.Name == "phonebill" || functions[b.Name] {
			continue
		}
		r, ok := routeOf[b.Name]
		if !ok {
			t.Errorf("%s serves no route of the route table", b.Name)
			continue
		}
		path, _, _ := strings.Cut(p.Path, "?")
		if p.Method != r.method || !pathMatches(r.path, path) {
			t.Errorf("%s: probe %s %s does not hit %s %s", b.Name, p.Method, p.Path, r.method, r.path)
		}
	}
	if seen < 20 {
		t.Fatalf("found only %d function mains", seen)
	}
}

// pathMatches compares a ServeMux pattern with a concrete path.
func pathMatches(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i := range ps {
		if !strings.HasPrefix(ps[i], "{") && ps[i] != xs[i] {
			return false
		}
	}
	return true
}

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
pkg: phonebill/functions/auth
BenchmarkLogin/bcrypt-compare-cost10-2         	      12	 210750203 ns/op	    5211 B/op	      11 allocs/op
pkg: phonebill/functions/bill
BenchmarkCacheHit/cached-inquiry-2         	    1336	    899564 ns/op	  12752143 p50-ns	      1112 req/s
    bench_test.go:67: cached 1 ns/op
--- FAIL: BenchmarkX
ok  	phonebill/functions/bill	17.661s
`
	g := parseGoBench(out)
	if len(g.Rows) != 2 {
		t.Fatalf("rows = %+v", g.Rows)
	}
	r := g.Rows[1]
	if r.Pkg != "phonebill/functions/bill" || r.Name != "BenchmarkCacheHit/cached-inquiry-2" || r.N != "1336" ||
		strings.Join(r.Metrics, ",") != "899564 ns/op,12752143 p50-ns,1112 req/s" {
		t.Fatalf("row = %+v", r)
	}
	if len(g.Logs) != 2 || !strings.Contains(g.Logs[1], "FAIL") {
		t.Fatalf("logs = %q", g.Logs)
	}
}

// The section between the markers is replaced and the rest kept; a file
// without markers gets a section appended.
func TestWriteSection(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "b.md")
	doc := "# B\n\nbefore\n\n" + beginMarker + "\nold figures\n" + endMarker + "\n\nafter\n"
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeSection(p, "new figures\n"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	want := "# B\n\nbefore\n\n" + beginMarker + "\nnew figures\n" + endMarker + "\n\nafter\n"
	if string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	q := filepath.Join(dir, "c.md")
	if err := os.WriteFile(q, []byte("# C\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeSection(q, "x\n"); err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(q)
	if !strings.HasPrefix(string(got), "# C\n") || !strings.Contains(string(got), beginMarker+"\nx\n"+endMarker) {
		t.Fatalf("appended %q", got)
	}
}

func TestQuantileAndEnv(t *testing.T) {
	d := make([]time.Duration, 100)
	for i := range d {
		d[i] = time.Duration(i+1) * time.Millisecond
	}
	if quantile(d, 0.5) != 50*time.Millisecond || quantile(d, 0.99) != 99*time.Millisecond || median(d[:3]) != 2*time.Millisecond {
		t.Fatal("quantiles off")
	}
	p := filepath.Join(t.TempDir(), "e.env")
	if err := os.WriteFile(p, []byte("# c\nA=1\n\nB='x=y'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := readEnvFile(p)
	if err != nil || m["A"] != "1" || m["B"] != "x=y" || len(m) != 2 {
		t.Fatalf("readEnvFile = %v, %v", m, err)
	}
	env := environ(m, map[string]string{"A": "", "C": "3"})
	if strings.Join(env, " ") != "B=x=y C=3" {
		t.Fatalf("environ = %v", env)
	}
}

// The median round by throughput is reported, with the spread and the
// errors of every round.
func TestMedianRound(t *testing.T) {
	rs := []stepResult{{RPS: 30, Requests: 100, Errors: 1, FirstErr: "a"}, {RPS: 10, Requests: 50}, {RPS: 20, Requests: 80, P99: time.Second}}
	m := medianRound(rs)
	if m.RPS != 20 || m.P99 != time.Second || m.RPSMin != 10 || m.RPSMax != 30 || m.Rounds != 3 ||
		m.Errors != 1 || m.Requests != 230 || m.FirstErr != "a" {
		t.Fatalf("medianRound = %+v", m)
	}
}
