package kostest

import (
	"maps"
	"os"
)

// MockEnv sets KOS-Mock's settings for a whole test binary (call it from
// TestMain, before any service reads them at Start): no random delays or
// errors — tests force patterns with X-Mock-Scenario, which is enabled —
// and latencies scaled down. overrides adjust it per package.
func MockEnv(overrides map[string]string) {
	env := map[string]string{
		"KOS_MOCK_ERROR_RATE":      "0",
		"KOS_MOCK_DELAY_RATE":      "0",
		"KOS_MOCK_LATENCY_SCALE":   "0.01",
		"KOS_MOCK_SCENARIO_HEADER": "true",
	}
	maps.Copy(env, overrides)
	for k, v := range env {
		os.Setenv(k, v)
	}
}
