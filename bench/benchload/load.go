package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// loadOpts bound every load step in time and in count.
type loadOpts struct {
	Warmup      time.Duration
	Duration    time.Duration
	MaxRequests int
	Concurrency int
	// Profile, when set, is the pprof CPU profile URL of the all-in-one:
	// each of its steps is profiled into ProfileDir/<step>.prof.
	Profile, ProfileDir string
}

// step is one endpoint (or baseline) under load.
type step struct {
	Name     string
	Baseline string // name of the step it is read against ("" for a baseline)
	Note     string
	Target   vegeta.Target
	// Expect is the body marker of a correct answer (status must be 200).
	Expect string
	// PID is the serving process, whose CPU time is read around the step.
	PID int
	// Concurrency overrides loadOpts.Concurrency when > 0.
	Concurrency int
}

// stepResult is what one step measured.
type stepResult struct {
	step
	Requests int
	Errors   int
	FirstErr string
	Elapsed  time.Duration
	RPS      float64
	P50, P99 time.Duration
	Max      time.Duration
	// Rounds is how many rounds were run; RPSMin and RPSMax their spread.
	Rounds         int
	RPSMin, RPSMax float64
	CPUPerReq      time.Duration // server CPU time per request (user+system)
	PGPerReq       time.Duration // PostgreSQL's CPU time per request (all its processes)
	RedisPerReq    time.Duration
	ServerCPU      float64 // server cores busy on average
}

// runStep warms the route, then attacks it closed-loop with a fixed number
// of workers (vegeta with an unbounded rate and MaxWorkers = workers), until
// the duration or the request count runs out.
func runStep(ctx context.Context, s step, o loadOpts) stepResult {
	c := o.Concurrency
	if s.Concurrency > 0 {
		c = s.Concurrency
	}
	atk := func() *vegeta.Attacker {
		return vegeta.NewAttacker(vegeta.Workers(uint64(c)), vegeta.MaxWorkers(uint64(c)),
			vegeta.Connections(c), vegeta.Timeout(10*time.Second), vegeta.KeepAlive(true),
			vegeta.HTTP2(false), vegeta.MaxBody(1<<20), vegeta.Redirects(vegeta.NoFollow))
	}
	tr := vegeta.NewStaticTargeter(s.Target)
	// Warm-up: connections, caches, the pool; not measured.
	if o.Warmup > 0 {
		a := atk()
		n := 0
		for range a.Attack(tr, vegeta.Rate{}, o.Warmup, s.Name+"-warmup") {
			if n++; n >= o.MaxRequests || ctx.Err() != nil {
				a.Stop()
			}
		}
	}
	r := stepResult{step: s}
	var profiled chan struct{}
	if o.Profile != "" && s.Baseline != "" {
		profiled = make(chan struct{})
		go func() {
			defer close(profiled)
			if err := saveProfile(ctx, o.Profile, o.Duration, filepath.Join(o.ProfileDir, slug(s.Name)+".prof")); err != nil {
				logf("profile %s: %v", s.Name, err)
			}
		}()
	}
	cpu0, _ := cpuTime(s.PID)
	pg0, rd0 := commCPU("postgres"), commCPU("redis-server")
	a := atk()
	lat := make([]time.Duration, 0, 65536)
	start := time.Now()
	for res := range a.Attack(tr, vegeta.Rate{}, o.Duration, s.Name) {
		lat = append(lat, res.Latency)
		r.Requests++
		if res.Code != http.StatusOK || res.Error != "" || !bytes.Contains(res.Body, []byte(s.Expect)) {
			if r.Errors == 0 {
				r.FirstErr = fmt.Sprintf("%d %s %.200s", res.Code, res.Error, res.Body)
			}
			r.Errors++
		}
		if r.Requests >= o.MaxRequests || ctx.Err() != nil {
			a.Stop()
		}
	}
	r.Elapsed = time.Since(start)
	if profiled != nil {
		<-profiled
	}
	cpu1, _ := cpuTime(s.PID)
	pg1, rd1 := commCPU("postgres"), commCPU("redis-server")
	if r.Requests == 0 {
		return r
	}
	slices.Sort(lat)
	r.P50, r.P99, r.Max = quantile(lat, 0.50), quantile(lat, 0.99), lat[len(lat)-1]
	r.RPS = float64(r.Requests-r.Errors) / r.Elapsed.Seconds()
	if cpu1 > cpu0 {
		r.CPUPerReq = (cpu1 - cpu0) / time.Duration(r.Requests)
		r.ServerCPU = (cpu1 - cpu0).Seconds() / r.Elapsed.Seconds()
	}
	if pg1 > pg0 {
		r.PGPerReq = (pg1 - pg0) / time.Duration(r.Requests)
	}
	if rd1 > rd0 {
		r.RedisPerReq = (rd1 - rd0) / time.Duration(r.Requests)
	}
	return r
}

// quantile is the nearest-rank q-quantile of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return quantile(s, 0.5)
}

// saveProfile fetches a CPU profile of d seconds (at least 1) into path.
func saveProfile(ctx context.Context, url string, d time.Duration, path string) error {
	secs := max(1, int(d.Seconds()))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s?seconds=%d", url, secs), nil)
	if err != nil {
		return err
	}
	res, err := (&http.Client{Timeout: d + 30*time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof answered %d", res.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var nonWord = regexp.MustCompile(`[^a-z0-9]+`)

// slug turns a step name into a file name.
func slug(s string) string {
	return strings.Trim(nonWord.ReplaceAllString(strings.ToLower(s), "-"), "-")
}

// medianRound returns the round of median throughput, with the spread of
// all rounds and the sum of their errors.
func medianRound(rs []stepResult) stepResult {
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b stepResult) int { return cmp.Compare(a.RPS, b.RPS) })
	m := sorted[(len(sorted)-1)/2]
	m.Rounds, m.RPSMin, m.RPSMax = len(rs), sorted[0].RPS, sorted[len(sorted)-1].RPS
	errs, reqs := 0, 0
	for _, r := range rs {
		errs += r.Errors
		reqs += r.Requests
		if m.FirstErr == "" {
			m.FirstErr = r.FirstErr
		}
	}
	m.Errors, m.Requests = errs, reqs
	return m
}
