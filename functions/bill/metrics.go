package bill

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Bill service's business counters; KOS outcomes, latency
// and breaker state come from shared/kos.
type metrics struct {
	lookups *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "phonebill_bill_cache_lookups_total",
		Help: "Bill cache lookups by cache (data: bills, months: available months) and result (hit, miss).",
	}, []string{"cache", "result"})}
	if reg != nil {
		if err := reg.Register(m.lookups); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				if v, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
					m.lookups = v
				}
			}
		}
	}
	return m
}

// cache counts one lookup of the named cache.
func (m *metrics) cache(name string, hit bool) {
	result := "miss"
	if hit {
		result = "hit"
	}
	m.lookups.WithLabelValues(name, result).Inc()
}
