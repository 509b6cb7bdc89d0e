package kosmock

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func noSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// The seed's mix (80/15/5) over 2,000 draws with a fixed seed, within ±2
// points, with the latencies of each pattern in their configured ranges —
// without sleeping.
func TestSimulatorDistribution(t *testing.T) {
	t.Parallel()
	cfg := DefaultSettings()
	cfg.Seed = 20250908
	sim := NewSimulator(cfg, nil, nil)
	sim.Sleep = noSleep
	const n = 2000
	counts := map[Pattern]int{}
	for range n {
		p := sim.Plan(simFull, "")
		counts[p.Pattern]++
		switch p.Pattern {
		case PatternSuccess:
			if p.Before < 100*time.Millisecond || p.Before > 300*time.Millisecond || p.After != 0 {
				t.Fatalf("success latency %v/%v, want [100ms,300ms]/0", p.Before, p.After)
			}
		case PatternDelay:
			if p.Before < time.Second || p.Before > 3*time.Second || p.After != 0 {
				t.Fatalf("delay latency %v/%v, want [1s,3s]/0", p.Before, p.After)
			}
		case PatternError:
			if p.Before != 100*time.Millisecond {
				t.Fatalf("error latency %v, want 100ms", p.Before)
			}
		default:
			t.Fatalf("drawn pattern %q: timeout must only be forced", p.Pattern)
		}
	}
	for p, want := range map[Pattern]float64{PatternSuccess: 0.80, PatternDelay: 0.15, PatternError: 0.05} {
		got := float64(counts[p]) / n
		if math.Abs(got-want) > 0.02 {
			t.Errorf("%s share = %.3f, want %.2f ± 0.02 (counts %v)", p, got, want, counts)
		}
	}
}

// A fixed seed gives the same pattern sequence; another seed a different one.
func TestSimulatorSeedRepeatable(t *testing.T) {
	t.Parallel()
	seq := func(seed int64) []Plan {
		cfg := DefaultSettings()
		cfg.Seed = seed
		sim := NewSimulator(cfg, nil, nil)
		out := make([]Plan, 200)
		for i := range out {
			out[i] = sim.Plan(simFull, "")
		}
		return out
	}
	a, b, c := seq(7), seq(7), seq(8)
	same := true
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("draw %d differs with the same seed: %+v vs %+v", i, a[i], b[i])
		}
		same = same && a[i] == c[i]
	}
	if same {
		t.Error("seeds 7 and 8 gave the same 200 plans")
	}
}

// Both rates 0 → always success (SPEC §5.5: deterministic tests); rates of
// 1 → always that pattern.
func TestSimulatorRates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		delay, err float64
		want       Pattern
	}{{0, 0, PatternSuccess}, {1, 0, PatternDelay}, {0, 1, PatternError}} {
		cfg := DefaultSettings()
		cfg.DelayRate, cfg.ErrorRate = tc.delay, tc.err
		sim := NewSimulator(cfg, rand.NewPCG(1, 2), nil)
		for range 200 {
			if p := sim.Draw(); p != tc.want {
				t.Fatalf("rates delay=%v error=%v drew %s, want %s", tc.delay, tc.err, p, tc.want)
			}
		}
	}
}

// Forced patterns win on simulated routes; available-months only ever gets
// the success latency; the timeout sleep is never scaled, other latencies are.
func TestSimulatorPlanModes(t *testing.T) {
	t.Parallel()
	cfg := DefaultSettings()
	cfg.ErrorRate, cfg.DelayRate = 1, 0 // every draw would be an error
	cfg.LatencyScale = 0.01
	sim := NewSimulator(cfg, rand.NewPCG(3, 4), nil)
	for _, p := range []Pattern{PatternSuccess, PatternDelay, PatternError, PatternTimeout} {
		if got := sim.Plan(simFull, p).Pattern; got != p {
			t.Errorf("forced %s gave %s", p, got)
		}
	}
	if p := sim.Plan(simFull, PatternDelay); p.Before < 10*time.Millisecond || p.Before > 30*time.Millisecond {
		t.Errorf("scaled delay %v, want [10ms,30ms]", p.Before)
	}
	if p := sim.Plan(simFull, PatternTimeout); p.After != 6*time.Second || p.Before != 0 {
		t.Errorf("timeout plan %+v, want After 6s unscaled", p)
	}
	for _, forced := range []Pattern{"", PatternError, PatternTimeout, PatternDelay} {
		p := sim.Plan(simLatencyOnly, forced)
		if p.Pattern != PatternSuccess || p.Before > 3*time.Millisecond || p.After != 0 {
			t.Errorf("latency-only with %q: %+v, want a scaled success latency", forced, p)
		}
	}
	if p := sim.Plan(simNone, PatternError); p != (Plan{Pattern: PatternSuccess}) {
		t.Errorf("no-simulation plan %+v", p)
	}
}

func TestParsePattern(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Pattern{"success": PatternSuccess, " Delay ": PatternDelay,
		"ERROR": PatternError, "timeout": PatternTimeout} {
		if got, ok := ParsePattern(in); !ok || got != want {
			t.Errorf("ParsePattern(%q) = %q, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "slow", "fail", "hang"} {
		if got, ok := ParsePattern(in); ok {
			t.Errorf("ParsePattern(%q) = %q, want rejected", in, got)
		}
	}
}

// A simulated wait ends when the caller goes away.
func TestSleepRespectsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := sleepCtx(ctx, 10*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("sleep took %v after the context ended", d)
	}
	if err := sleepCtx(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("short sleep: %v", err)
	}
}

func TestSimulatorCounter(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	sim := NewSimulator(DefaultSettings(), nil, reg)
	sim.Record("kos-bill-inquiry", PatternError)
	sim.Record("kos-bill-inquiry", PatternError)
	var m dto.Metric
	if err := sim.outcomes.WithLabelValues("kos-bill-inquiry", "error").Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetCounter().GetValue(); got != 2 {
		t.Fatalf("counter = %v, want 2", got)
	}
}

func TestSettingsValidate(t *testing.T) {
	t.Parallel()
	if err := DefaultSettings().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	bad := DefaultSettings()
	bad.DelayRate, bad.ErrorRate, bad.MinDelayMS, bad.LatencyScale = 0.9, 0.2, 500, -1
	err := bad.Validate()
	for _, name := range []string{"KOS_MOCK_DELAY_RATE + KOS_MOCK_ERROR_RATE", "KOS_MOCK_MIN_DELAY_MS", "KOS_MOCK_LATENCY_SCALE"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Validate() = %v, want a message naming %s", err, name)
		}
	}
}
