package kosmock

import (
	"errors"
	"time"
)

// Settings are the kos-mock-config knobs of SPEC §5.5 (env names of §10.1).
type Settings struct {
	// DelayRate and ErrorRate are the shares of slow and failing answers;
	// both 0 make the mock deterministic for automated tests.
	DelayRate float64 `envconfig:"KOS_MOCK_DELAY_RATE" default:"0.15"`
	ErrorRate float64 `envconfig:"KOS_MOCK_ERROR_RATE" default:"0.05"`
	// MinDelayMS..MaxDelayMS is the latency of a normal answer.
	MinDelayMS int `envconfig:"KOS_MOCK_MIN_DELAY_MS" default:"100"`
	MaxDelayMS int `envconfig:"KOS_MOCK_MAX_DELAY_MS" default:"300"`
	// SlowMinMS..SlowMaxMS is the latency of a slow answer, below the
	// callers' 5 s per-call timeout.
	SlowMinMS int `envconfig:"KOS_MOCK_SLOW_MIN_MS" default:"1000"`
	SlowMaxMS int `envconfig:"KOS_MOCK_SLOW_MAX_MS" default:"3000"`
	// TimeoutSleepMS is how long the forced `timeout` scenario stays silent
	// after applying the request: past the callers' timeout. Never scaled.
	TimeoutSleepMS int `envconfig:"KOS_MOCK_TIMEOUT_SLEEP_MS" default:"6000"`
	// Seed makes the pattern sequence repeatable for sequential requests
	// (0 = random).
	Seed int64 `envconfig:"KOS_MOCK_SEED" default:"0"`
	// LatencyScale shrinks every simulated latency for fast tests.
	LatencyScale float64 `envconfig:"KOS_MOCK_LATENCY_SCALE" default:"1.0"`
	// ScenarioHeader lets X-Mock-Scenario force a pattern (tests and demos;
	// off by default everywhere, on in make run's local profile).
	ScenarioHeader bool `envconfig:"KOS_MOCK_SCENARIO_HEADER" default:"false"`
}

// DefaultSettings are the SPEC's defaults (what Load yields with no env).
func DefaultSettings() Settings {
	return Settings{DelayRate: 0.15, ErrorRate: 0.05, MinDelayMS: 100, MaxDelayMS: 300,
		SlowMinMS: 1000, SlowMaxMS: 3000, TimeoutSleepMS: 6000, LatencyScale: 1}
}

// Validate implements config.Validator, reporting every problem at once.
func (s Settings) Validate() error {
	var errs []error
	if s.DelayRate < 0 || s.DelayRate > 1 {
		errs = append(errs, errors.New("config: KOS_MOCK_DELAY_RATE must be between 0 and 1"))
	}
	if s.ErrorRate < 0 || s.ErrorRate > 1 {
		errs = append(errs, errors.New("config: KOS_MOCK_ERROR_RATE must be between 0 and 1"))
	}
	if s.DelayRate+s.ErrorRate > 1 {
		errs = append(errs, errors.New("config: KOS_MOCK_DELAY_RATE + KOS_MOCK_ERROR_RATE must not exceed 1"))
	}
	if s.MinDelayMS < 0 || s.MaxDelayMS < s.MinDelayMS {
		errs = append(errs, errors.New("config: KOS_MOCK_MIN_DELAY_MS must be >= 0 and <= KOS_MOCK_MAX_DELAY_MS"))
	}
	if s.SlowMinMS < 0 || s.SlowMaxMS < s.SlowMinMS {
		errs = append(errs, errors.New("config: KOS_MOCK_SLOW_MIN_MS must be >= 0 and <= KOS_MOCK_SLOW_MAX_MS"))
	}
	if s.TimeoutSleepMS < 0 {
		errs = append(errs, errors.New("config: KOS_MOCK_TIMEOUT_SLEEP_MS must not be negative"))
	}
	if s.LatencyScale < 0 {
		errs = append(errs, errors.New("config: KOS_MOCK_LATENCY_SCALE must not be negative"))
	}
	return errors.Join(errs...)
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }
