// Package product is the Product-Change service: customer and current
// product, available products, pre-checks, the change at KOS with its outbox,
// the change worker, the outbox relay and the dead-letter sink (SPEC §3.3,
// §5.3, §5.4, §10.5, §10.6).
package product

import (
	"time"

	"phonebill/shared/auth"
	"phonebill/shared/events"
	"phonebill/shared/fn"
	"phonebill/shared/httpx"
)

// ServiceName is sent to KOS as X-Service-Name (SPEC §2.8).
const ServiceName = "MVNO-PRODUCT-CHANGE"

// Service is the Product route table.
func Service() fn.Service {
	return fn.Service{
		Name: "product", Style: httpx.StyleStandard,
		Prefixes:   []string{"/api/v1/products"},
		HealthPath: "/api/v1/products/health",
		Start:      start,
		Routes:     routes(),
	}
}

func routes() []fn.Route {
	return []fn.Route{
		// No permission beyond a token: the main page shows every user's plan.
		{Name: "product-customer", Method: "GET", Path: "/api/v1/products/customer",
			Access: auth.AccessToken, Handle: fn.Bind((*Handlers).Customer)},
		{Name: "product-available", Method: "GET", Path: "/api/v1/products/available",
			Access: auth.AccessToken, Handle: fn.Bind((*Handlers).Available)},
		{Name: "product-validation", Method: "POST", Path: "/api/v1/products/change/validation",
			Access: auth.AccessProductChange, Handle: fn.Bind((*Handlers).Validation)},
		{Name: "product-change", Method: "POST", Path: "/api/v1/products/change",
			Access: auth.AccessProductChange, Handle: fn.Bind((*Handlers).Change)},
		{Name: "product-change-status", Method: "GET", Path: "/api/v1/products/change/{requestId}",
			Access: auth.AccessProductChange, Handle: fn.Bind((*Handlers).ChangeStatus)},
		{Name: "product-history", Method: "GET", Path: "/api/v1/products/history",
			Access: auth.AccessProductChange, Handle: fn.Bind((*Handlers).History)},
		// Finishes PENDING changes at KOS (SPEC §5.4 6a).
		// It answers 202 whenever the sweep will drive the change again, so
		// its retries only bridge a pod that cannot be reached (cold start,
		// restart): 3 from 1 s, 7 s in all.
		{Name: "product-change-worker", EventType: events.TypeProductChangeRequested,
			Delivery: &fn.Delivery{Retries: 3, Backoff: time.Second}, Handle: fn.Bind((*Handlers).Worker)},
		// Publishes the outbox and sweeps PENDING changes (SPEC §10.6),
		// driven by work: a sweep.requested chain while anything is left,
		// and an hourly safety ping, so an idle hour keeps no pod (sweep.go).
		// Its handler defers instead of failing, so retries only bridge a
		// pod that cannot be reached.
		{Name: "product-outbox-relay", Schedule: "17 * * * *", EventType: events.TypeProductSweepRequested,
			Delivery: &fn.Delivery{Retries: 3, Backoff: time.Second}, Handle: fn.Bind((*Handlers).Relay)},
		// The dead-letter sink of every Trigger, the Bill service's included.
		{Name: "product-deadletter", DeadLetter: true, Handle: fn.Bind((*Handlers).DeadLetter)},
	}
}
