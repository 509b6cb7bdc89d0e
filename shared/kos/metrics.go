package kos

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
)

type metrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	breaker  prometheus.Gauge
}

// newMetrics registers the KOS call metrics (nil registry: unregistered).
// The breaker gauge is labelled with the function too: each function has
// its own breaker, and the all-in-one serves them all from one registry.
func newMetrics(reg prometheus.Registerer, service, function string) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phonebill_kos_calls_total", Help: "KOS calls by operation and outcome.",
			ConstLabels: prometheus.Labels{"caller": service},
		}, []string{"op", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "phonebill_kos_call_duration_seconds", Help: "KOS call latency by operation.",
			ConstLabels: prometheus.Labels{"caller": service},
			Buckets:     []float64{.05, .1, .2, .3, .5, 1, 2, 3, 5, 8},
		}, []string{"op"}),
		breaker: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "phonebill_kos_breaker_state", Help: "KOS circuit breaker of a function: 0 closed, 1 half-open, 2 open.",
			ConstLabels: prometheus.Labels{"caller": service, "function": function},
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.calls, m.duration, m.breaker} {
			if err := reg.Register(c); err != nil {
				// Two clients in one process (the all-in-one) share the series.
				if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
					switch v := are.ExistingCollector.(type) {
					case *prometheus.CounterVec:
						m.calls = v
					case *prometheus.HistogramVec:
						m.duration = v
					case prometheus.Gauge:
						m.breaker = v
					}
				}
			}
		}
	}
	return m
}

func (m *metrics) observe(op, outcome string, d time.Duration) {
	m.calls.WithLabelValues(op, outcome).Inc()
	m.duration.WithLabelValues(op).Observe(d.Seconds())
}

func (m *metrics) state(s gobreaker.State) {
	switch s {
	case gobreaker.StateClosed:
		m.breaker.Set(0)
	case gobreaker.StateHalfOpen:
		m.breaker.Set(1)
	case gobreaker.StateOpen:
		m.breaker.Set(2)
	}
}
