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
	}
	if reg == nil {
		return m
	}
	m.changes = httpx.Register(reg, m.changes)
	m.kosAttempts = httpx.Register(reg, m.kosAttempts)
	m.outbox = httpx.Register(reg, m.outbox)
	m.worker = httpx.Register(reg, m.worker)
	m.relay = httpx.Register(reg, m.relay)
	m.deadLetters = httpx.Register(reg, m.deadLetters)
	return m
}
