package product

import (
	"github.com/prometheus/client_golang/prometheus"

	"phonebill/shared/httpx"
)

// metrics are the service's business counters (the request metrics of every
// route are recorded by shared/fn).
type metrics struct {
	// changes counts change requests by how they ended for the caller:
	// completed, failed, validation_failed, pending.
	changes *prometheus.CounterVec
	// kosAttempts counts synchronous change attempts at KOS by outcome.
	kosAttempts *prometheus.CounterVec
	// outbox counts publish attempts by event type and result.
	outbox *prometheus.CounterVec
	// worker counts change-worker deliveries by outcome: completed, failed,
	// unknown, duplicate, finished, poison.
	worker *prometheus.CounterVec
	// relay counts the sweep's actions: reemitted, unresolved, recovered.
	relay *prometheus.CounterVec
	// deadLetters counts events stored by the dead-letter sink.
	deadLetters prometheus.Counter
	// outboxAge and pendingAge are the ages of the oldest unpublished outbox
	// row and of the oldest PENDING change, as each relay run saw them.
	outboxAge, pendingAge prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phonebill_product_change_outcomes_total", Help: "Product change requests by outcome.",
		}, []string{"outcome"}),
		kosAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phonebill_product_change_kos_attempts_total", Help: "Synchronous KOS change attempts by outcome.",
		}, []string{"outcome"}),
		outbox: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phonebill_product_outbox_events_total", Help: "Outbox publish attempts by event type and result.",
		}, []string{"type", "result"}),
		worker: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phonebill_product_change_worker_outcomes_total", Help: "Change-worker deliveries by outcome.",
		}, []string{"outcome"}),
		relay: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phonebill_product_relay_actions_total", Help: "Outbox relay sweep actions on PENDING changes.",
		}, []string{"action"}),
		deadLetters: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phonebill_product_dead_letters_total", Help: "Events stored by the dead-letter sink.",
		}),
		outboxAge: prometheus.NewGauge(prometheus.GaugeOpts{Name: "phonebill_product_outbox_oldest_unpublished_seconds",
			Help: "Age of the oldest unpublished outbox row at the last relay run (0: none)."}),
		pendingAge: prometheus.NewGauge(prometheus.GaugeOpts{Name: "phonebill_product_change_oldest_pending_seconds",
			Help: "Age of the oldest PENDING change at the last relay run (0: none)."}),
	}
	if reg == nil {
		return m
	}
	m.changes = httpx.Register(reg, m.changes)
	m.kosAttempts = httpx.Register(reg, m.kosAttempts)
	m.outbox = httpx.Register(reg, m.outbox)
	m.worker = httpx.Register(reg, m.worker)
	m.relay = httpx.Register(reg, m.relay)
	m.outboxAge = httpx.Register(reg, m.outboxAge)
	m.pendingAge = httpx.Register(reg, m.pendingAge)
	m.deadLetters = httpx.Register(reg, m.deadLetters)
	return m
}
