package main

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Targets of the cold-start and login figures.
const (
	readyVsBare  = 2.0
	realBudget   = 30 * time.Millisecond
	idleRSSLimit = 20 * 1024 // KiB
	loadRSSLimit = 48 * 1024 // KiB
	sizeLimit    = 20 << 20  // bytes
	loginShare   = 0.90
)

// Markers of the generated section of docs/benchmarks.md.
const (
	beginMarker = "<!-- bench:begin -->"
	endMarker   = "<!-- bench:end -->"
)

type report struct {
	Machine   machineInfo
	Started   time.Time
	Opts      options
	Scratch   string
	Env       []string
	Bcrypt    time.Duration
	Load      []stepResult
	Cold      []*coldResult
	GoBench   goBench
	BuildTime time.Duration
	LoadTime  time.Duration
	ColdTime  time.Duration
	Total     time.Duration
}

func ms(d time.Duration) string {
	switch {
	case d == 0:
		return "–"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func us(d time.Duration) string {
	if d == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f µs", float64(d)/1e3)
}

func mib(kib int64) string {
	if kib == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", float64(kib)/1024)
}

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

func (r *report) markdown() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	m := r.Machine
	p("Measured %s by `make bench` (%s in this program: build %s, load %s, cold starts %s).\n\n",
		r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Total.Round(time.Second), r.BuildTime.Round(time.Second),
		r.LoadTime.Round(time.Second), r.ColdTime.Round(time.Second))
	p("| machine | |\n|---|---|\n| CPU | %s |\n| cores (`nproc`) | %d |\n| Go | %s |\n| kernel | %s |\n\n",
		m.CPUModel, m.CPUs, m.Go, m.Kernel)
	p("Commands: `make bench` = `go test -run '^$' -bench . -benchmem -benchtime 1s -p 1` over the packages that have\n"+
		"benchmarks, then `go run ./bench/benchload -gobench bin/bench/go-bench.txt -doc docs/benchmarks.md`,\n"+
		"then `make bench-faults`. Load steps: closed loop, %d connections, %v warm-up + %v measured (at most %d requests) each, %d rounds over all\n"+
		"steps (each step shows its median round; errors and requests are summed over the rounds); the all-in-one runs\n"+
		"with config/local.env, a scratch database (`pb_bench_<rand>`, dropped afterwards), its own Redis key prefix,\n"+
		"KOS_MOCK_ERROR_RATE=0, KOS_MOCK_DELAY_RATE=0, KOS_MOCK_LATENCY_SCALE=%s. Load generator, servers, PostgreSQL and\n"+
		"Redis share the same %d cores.\n\n",
		r.Opts.load.Concurrency, r.Opts.load.Warmup, r.Opts.load.Duration, r.Opts.load.MaxRequests, max(1, r.Opts.rounds),
		r.Opts.latencyScale, m.CPUs)

	if sum := r.summary(); sum != "" {
		p("**Targets** (this run): %s\n\n", sum)
	}
	if len(r.Load) > 0 {
		r.loadTable(p)
	}
	if len(r.Cold) > 0 {
		r.coldTable(p)
	}
	if len(r.GoBench.Rows) > 0 {
		r.goBenchTable(p)
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

func (r *report) loadTable(p func(string, ...any)) {
	byName := map[string]stepResult{}
	for _, s := range r.Load {
		byName[s.Name] = s
	}
	p("### Load: endpoints next to their baselines (same run, same generator)\n\n")
	p("| endpoint | req/s (rounds' range) | p50 | p99 | CPU / req: server, PostgreSQL, Redis | errors | read against | throughput ratio | p99 ratio | what it does beyond the baseline |\n")
	p("|---|---:|---:|---:|---:|---:|---|---:|---:|---|\n")
	for _, s := range r.Load {
		ratio, p99r, against := "", "", ""
		if bl, ok := byName[s.Baseline]; ok && bl.RPS > 0 && bl.P99 > 0 {
			against = strings.TrimPrefix(s.Baseline, "baseline: ")
			ratio = fmt.Sprintf("%.2f", s.RPS/bl.RPS)
			p99r = fmt.Sprintf("%.2f", float64(s.P99)/float64(bl.P99))
		} else if s.Baseline == "bcrypt bound" && r.Bcrypt > 0 {
			bound := float64(r.Machine.CPUs) / r.Bcrypt.Seconds()
			against = fmt.Sprintf("%d cores ÷ bcrypt %s = %.1f/s", r.Machine.CPUs, ms(r.Bcrypt), bound)
			ratio = fmt.Sprintf("%.2f %s", s.RPS/bound, mark(s.RPS >= loginShare*bound))
		}
		if s.Baseline == "" {
			against = "(baseline)"
		}
		errs := fmt.Sprintf("%d/%d", s.Errors, s.Requests)
		rps := fmt.Sprintf("%.0f", s.RPS)
		if s.Rounds > 1 {
			rps = fmt.Sprintf("%.0f (%.0f–%.0f)", s.RPS, s.RPSMin, s.RPSMax)
		}
		p("| %s | %s | %s | %s | %s, %s, %s | %s | %s | %s | %s | %s |\n", s.Name, rps, ms(s.P50), ms(s.P99), us(s.CPUPerReq),
			us(s.PGPerReq), us(s.RedisPerReq), errs, against, ratio, p99r, s.Note)
	}
	p("\nThroughput ratio = endpoint req/s ÷ baseline req/s; p99 ratio = endpoint p99 ÷ baseline p99. CPU / req is the\n"+
		"user+system time (from /proc) of the serving process, of all PostgreSQL processes and of redis-server over the\n"+
		"step, divided by its requests: the figures least disturbed by the load generator sharing the cores (the\n"+
		"PostgreSQL and Redis ones include whatever else used them meanwhile). Login's ratio is against the bound one\n"+
		"bcrypt compare per core sets (target ≥ %.0f %%).\n", loginShare*100)
	for _, s := range r.Load {
		if s.Errors > 0 {
			p("\n%s: first error: `%s`\n", s.Name, strings.ReplaceAll(s.FirstErr, "`", "'"))
		}
	}
	p("\n")
}

func (r *report) coldTable(p func(string, ...any)) {
	var bareReady time.Duration
	for _, c := range r.Cold {
		if c.Name == "bare" && len(c.Ready) > 0 {
			bareReady = median(c.Ready)
		}
	}
	p("### Cold start: exec → ready → first answer on the real route\n\n")
	p("Each binary is built as the images carry it (`go build -trimpath -ldflags=\"-s -w\"`, CGO off) and started as\n"+
		"Knative starts it: `PORT=<free>`, the variables of config/local.env with the scratch database, DB_MAX_CONNS=2\n"+
		"(the cluster value), K_SERVICE; runs go round-robin over the binaries. *ready* = exec → first 200 on\n"+
		"/health/readiness; *real* = exec → first expected answer on the function's real route (the pool and Redis\n"+
		"connected by that request; its own time in *first req*). RSS from /proc/<pid>/status: once ready, after the\n"+
		"first real request, and after a short load (%v, at most %d requests, %d workers) with its peak (VmHWM).\n"+
		"Targets: ready median ≤ %.0f× bare (%s) → ≤ %s; real median ≤ %s; idle RSS ≤ 20 MiB; after load ≤ 48 MiB; binary ≤ 20 MiB.\n\n",
		r.Opts.cold.LoadDuration, r.Opts.cold.LoadRequests, r.Opts.cold.LoadWorkers, readyVsBare, ms(bareReady),
		ms(time.Duration(readyVsBare*float64(bareReady))), ms(realBudget))
	p("| function | runs | ready min / med / max | real min / med / max | first req med | binary MiB | RSS ready | RSS after 1st | RSS after load (peak) MiB | load req/s | real route |\n")
	p("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---|\n")
	var fails []string
	for _, c := range r.Cold {
		if c.Err != "" && len(c.Ready) == 0 {
			p("| %s | 0 | – | – | – | %.1f | – | – | – | – | **failed**: %s |\n", c.Name, float64(c.Size)/(1<<20), c.Err)
			fails = append(fails, c.Name)
			continue
		}
		rd, rl := median(c.Ready), median(c.Real)
		okReady := bareReady == 0 || c.Name == "bare" || float64(rd) <= readyVsBare*float64(bareReady)
		bcryptRoute := strings.Contains(c.Probe.Note, "bcrypt")
		okReal := rl <= realBudget || c.Name == "bare"
		realMark := mark(okReal)
		if !okReal && bcryptRoute {
			realMark = "(bcrypt)"
		}
		route := fmt.Sprintf("%s %s → %d", c.Probe.Method, c.Probe.Path, c.Probe.Expect)
		if c.Probe.Note != "" {
			route += "; " + c.Probe.Note
		}
		if c.Err != "" {
			route += "; **error**: " + c.Err
		}
		loadRSS := "–"
		if c.LoadRSS > 0 {
			loadRSS = fmt.Sprintf("%s (%s) %s", mib(c.LoadRSS), mib(c.LoadHWM), mark(c.LoadHWM <= loadRSSLimit))
		}
		loadRPS := "–"
		if c.LoadReqs > 0 {
			loadRPS = fmt.Sprintf("%.0f", c.LoadRPS)
			if c.LoadFails > 0 {
				loadRPS += fmt.Sprintf(" (%d failed)", c.LoadFails)
			}
		}
		p("| %s | %d | %s / %s / %s %s | %s / %s / %s %s | %s | %.1f %s | %s %s | %s | %s | %s | %s |\n",
			c.Name, len(c.Ready), ms(slices.Min(c.Ready)), ms(rd), ms(slices.Max(c.Ready)), mark(okReady),
			ms(slices.Min(c.Real)), ms(rl), ms(slices.Max(c.Real)), realMark, ms(median(c.First)),
			float64(c.Size)/(1<<20), mark(c.Size <= sizeLimit), mib(c.IdleRSS), mark(c.IdleRSS <= idleRSSLimit),
			mib(c.RealRSS), loadRSS, loadRPS, route)
	}
	p("\n")
	if len(fails) > 0 {
		p("Failed: %s (see bin/bench/logs/<name>.log).\n\n", strings.Join(fails, ", "))
	}
}

// goBench is the parsed output of go test -bench.
type goBench struct {
	Rows []goBenchRow
	Logs []string
}

type goBenchRow struct {
	Pkg, Name, N string
	Metrics      []string
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+)\s+(\d+)\s+(.*)$`)

func parseGoBench(out string) goBench {
	var g goBench
	pkg := ""
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "pkg: "):
			pkg = strings.TrimPrefix(l, "pkg: ")
		case benchLine.MatchString(l):
			m := benchLine.FindStringSubmatch(l)
			var metrics []string
			f := strings.Fields(m[3])
			for i := 0; i+1 < len(f); i += 2 {
				metrics = append(metrics, f[i]+" "+f[i+1])
			}
			g.Rows = append(g.Rows, goBenchRow{Pkg: pkg, Name: m[1], N: m[2], Metrics: metrics})
		case strings.Contains(l, "_test.go:") && strings.HasPrefix(strings.TrimSpace(l), "bench"):
			g.Logs = append(g.Logs, strings.TrimSpace(l))
		case strings.HasPrefix(l, "FAIL") || strings.HasPrefix(l, "--- FAIL"):
			g.Logs = append(g.Logs, "**"+strings.TrimSpace(l)+"**")
		}
	}
	return g
}

func (r *report) goBenchTable(p func(string, ...any)) {
	p("### Go benchmarks\n\n| package | benchmark | iterations | figures |\n|---|---|---:|---|\n")
	for _, row := range r.GoBench.Rows {
		p("| %s | %s | %s | %s |\n", strings.TrimPrefix(row.Pkg, "phonebill/"), row.Name, row.N, strings.Join(row.Metrics, ", "))
	}
	if len(r.GoBench.Logs) > 0 {
		p("\n")
		for _, l := range r.GoBench.Logs {
			p("- `%s`\n", strings.ReplaceAll(l, "`", "'"))
		}
	}
	p("\n")
}

// writeSection replaces the text between the bench markers of path, or
// appends a section holding them.
func writeSection(path, md string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	s := string(old)
	block := beginMarker + "\n" + md + endMarker
	i, j := strings.Index(s, beginMarker), strings.Index(s, endMarker)
	switch {
	case i >= 0 && j > i:
		s = s[:i] + block + s[j+len(endMarker):]
	case s == "":
		s = "# Benchmarks\n\n## Measured figures (`make bench`)\n\n" + block + "\n"
	default:
		s = strings.TrimRight(s, "\n") + "\n\n## Measured figures (`make bench`)\n\n" + block + "\n"
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// summary counts the functions that meet each target.
func (r *report) summary() string {
	var parts []string
	for _, s := range r.Load {
		if s.Baseline == "bcrypt bound" && r.Bcrypt > 0 && s.RPS > 0 {
			bound := float64(r.Machine.CPUs) / r.Bcrypt.Seconds()
			parts = append(parts, fmt.Sprintf("login %.0f %% of cores ÷ bcrypt %s", 100*s.RPS/bound, mark(s.RPS >= loginShare*bound)))
		}
	}
	var bareReady time.Duration
	for _, c := range r.Cold {
		if c.Name == "bare" && len(c.Ready) > 0 {
			bareReady = median(c.Ready)
		}
	}
	var n, ready, real, realN, idle, load, size int
	for _, c := range r.Cold {
		if c.Name == "bare" || len(c.Ready) == 0 {
			continue
		}
		n++
		if float64(median(c.Ready)) <= readyVsBare*float64(bareReady) {
			ready++
		}
		if !strings.Contains(c.Probe.Note, "bcrypt") {
			realN++
			if median(c.Real) <= realBudget {
				real++
			}
		}
		if c.IdleRSS > 0 && c.IdleRSS <= idleRSSLimit {
			idle++
		}
		if c.LoadHWM > 0 && c.LoadHWM <= loadRSSLimit {
			load++
		}
		if c.Size <= sizeLimit {
			size++
		}
	}
	if n > 0 {
		parts = append(parts,
			fmt.Sprintf("ready ≤ 2× bare: %d/%d", ready, n),
			fmt.Sprintf("real route ≤ 30 ms: %d/%d (bcrypt routes excluded)", real, realN),
			fmt.Sprintf("idle RSS ≤ 20 MiB: %d/%d", idle, n),
			fmt.Sprintf("peak RSS after load ≤ 48 MiB: %d/%d", load, n),
			fmt.Sprintf("binary ≤ 20 MiB: %d/%d", size, n))
	}
	failed := 0
	for _, c := range r.Cold {
		if c.Err != "" {
			failed++
		}
	}
	errs := 0
	for _, s := range r.Load {
		errs += s.Errors
	}
	if len(r.Load) > 0 {
		parts = append(parts, fmt.Sprintf("load errors: %d", errs))
	}
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("cold-start failures: %d", failed))
	}
	return strings.Join(parts, "; ")
}
