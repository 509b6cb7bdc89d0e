package kosmock

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Pattern is one answer pattern of the seed's fault simulation (SPEC §5.5).
type Pattern string

// The patterns: the first three are drawn by the configured rates; timeout
// is only ever forced by the scenario header.
const (
	PatternSuccess Pattern = "success"
	PatternDelay   Pattern = "delay"
	PatternError   Pattern = "error"
	PatternTimeout Pattern = "timeout"
)

// ParsePattern reads an X-Mock-Scenario value; ok is false for anything else.
func ParsePattern(s string) (Pattern, bool) {
	switch p := Pattern(strings.ToLower(strings.TrimSpace(s))); p {
	case PatternSuccess, PatternDelay, PatternError, PatternTimeout:
		return p, true
	}
	return "", false
}

// simMode says how much of the simulation a route gets.
type simMode int

const (
	simNone        simMode = iota // mock-datas, health: answer at once
	simLatencyOnly                // available-months: normal latency, never an error
	simFull                       // the "sim" routes: success, delay or error
)

// Plan is what the simulator decided for one request.
type Plan struct {
	Pattern Pattern
	// Before is waited before processing (all patterns but timeout).
	Before time.Duration
	// After is waited after processing, before answering (timeout only).
	After time.Duration
}

// Simulator draws answer patterns and latencies. One mutex-guarded source
// serves every request, so with a fixed seed sequential requests see a
// repeatable sequence. Sleep and the source are injectable so tests can
// check the distribution without waiting.
type Simulator struct {
	cfg Settings

	mu  sync.Mutex
	rng *rand.Rand

	// Sleep waits d or until ctx ends (then it returns ctx's error).
	Sleep func(ctx context.Context, d time.Duration) error

	outcomes *prometheus.CounterVec
}

// NewSimulator builds a simulator over src (nil: seeded from cfg.Seed, or
// randomly when it is 0). reg, when not nil, receives the outcome counter.
func NewSimulator(cfg Settings, src rand.Source, reg prometheus.Registerer) *Simulator {
	if src == nil {
		src = newSource(cfg.Seed)
	}
	s := &Simulator{cfg: cfg, rng: rand.New(src), Sleep: sleepCtx,
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phonebill_kosmock_simulated_total",
			Help: "KOS-Mock simulated answer patterns by route.",
		}, []string{"route", "pattern"})}
	if reg != nil {
		reg.MustRegister(s.outcomes)
	}
	return s
}

// newSource returns a PCG source seeded by seed, or randomly when seed is 0.
func newSource(seed int64) rand.Source {
	if seed == 0 {
		return rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
	return rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15)
}

// Draw picks a pattern by the configured rates.
func (s *Simulator) Draw() Pattern {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drawLocked()
}

func (s *Simulator) drawLocked() Pattern {
	x := s.rng.Float64()
	switch {
	case x < s.cfg.ErrorRate:
		return PatternError
	case x < s.cfg.ErrorRate+s.cfg.DelayRate:
		return PatternDelay
	}
	return PatternSuccess
}

// Plan decides the pattern and latencies of one request of the given mode;
// forced (from the scenario header, "" when none) wins over the rates on
// fully simulated routes.
func (s *Simulator) Plan(mode simMode, forced Pattern) Plan {
	if mode == simNone {
		return Plan{Pattern: PatternSuccess}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := PatternSuccess
	if mode == simFull {
		p = forced
		if p == "" {
			p = s.drawLocked()
		}
	}
	switch p {
	case PatternDelay:
		return Plan{Pattern: p, Before: s.scaled(s.uniformLocked(s.cfg.SlowMinMS, s.cfg.SlowMaxMS))}
	case PatternError:
		return Plan{Pattern: p, Before: s.scaled(mockErrorLatency)}
	case PatternTimeout:
		// The caller must give up: the sleep is real time, never scaled.
		return Plan{Pattern: p, After: ms(s.cfg.TimeoutSleepMS)}
	}
	return Plan{Pattern: PatternSuccess, Before: s.scaled(s.uniformLocked(s.cfg.MinDelayMS, s.cfg.MaxDelayMS))}
}

// uniformLocked is a latency uniform in [lo, hi] milliseconds.
func (s *Simulator) uniformLocked(lo, hi int) time.Duration {
	d := ms(lo)
	if hi > lo {
		d += time.Duration(s.rng.Int64N(int64(ms(hi)-ms(lo)) + 1))
	}
	return d
}

func (s *Simulator) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * s.cfg.LatencyScale)
}

// Record counts one simulated outcome.
func (s *Simulator) Record(route string, p Pattern) {
	s.outcomes.WithLabelValues(route, string(p)).Inc()
}

// Wait sleeps d through the injectable Sleep.
func (s *Simulator) Wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	return s.Sleep(ctx, d)
}

// sleepCtx waits d, returning early with ctx's error when the caller goes away.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// lockedRand is the mock's source for invented data (usage, order numbers,
// product choice), separate from the pattern source so business draws never
// shift the pattern sequence.
type lockedRand struct {
	mu  sync.Mutex
	rng *rand.Rand
}

func newLockedRand(seed int64) *lockedRand {
	if seed != 0 {
		seed++ // a different stream from the pattern source
	}
	return &lockedRand{rng: rand.New(newSource(seed))}
}

// IntN returns a number in [0, n); 0 when n <= 0.
func (l *lockedRand) IntN(n int) int {
	if n <= 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rng.IntN(n)
}

// Float64 returns a number in [0, 1).
func (l *lockedRand) Float64() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rng.Float64()
}

// uint64 returns 64 random bits (generated request ids).
func (l *lockedRand) uint64() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rng.Uint64()
}
