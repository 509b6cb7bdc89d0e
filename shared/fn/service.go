// Package fn is the function runtime: every function's main calls Main with
// its service and route name, and the all-in-one calls MainAll with every
// service. It loads config, builds the logger, metrics and (lazily dialled)
// pool and Redis client, mounts the routes with their envelope style, auth
// and metrics, serves the health endpoints, and drains on SIGTERM. A service has two
// lifecycle hooks, Start and Stop (named like the Knative func runtime's);
// readiness and liveness are fixed answers, not hooks.
package fn

import (
	"context"
	"net/http"
	"time"

	"phonebill/shared/auth"
	"phonebill/shared/httpx"
)

// Service is one service's route table and constructor. The table is plain
// data so that the Knative manifests, the OpenAPI description and the
// all-in-one are all checked against the same list.
type Service struct {
	// Name is the service's short name ("auth", "bill", "product", "kos-mock").
	Name string
	// Function, when set, serves every route of the service from one Knative
	// Service of that name (KOS-Mock); otherwise each route is a function.
	Function string
	// Style is the envelope of the service's errors (routes may override).
	Style httpx.Style
	// Prefixes are the paths the service owns, without trailing slash
	// ("/api/v1/users"); unknown paths at or under them answer 404/405 in the
	// service's envelope.
	Prefixes []string
	// HealthPath is the service's /api/v1/<service>/health; HealthText, when
	// set, is its plain-text body (Auth, as in Java).
	HealthPath string
	HealthText string
	// Start builds the service value the routes' handlers are bound to. It
	// must not dial anything: the pool and Redis connect on first use.
	Start func(ctx context.Context, env *Env) (any, error)
	// Stop, if set, releases what Start acquired, after the server drained.
	Stop func(ctx context.Context, svc any) error
	// NoDeadline exempts the service's requests from REQUEST_DEADLINE_MS
	// (KOS-Mock: it stands in for the slow core system, and its delays are
	// the point).
	NoDeadline bool
	Routes     []Route
}

// Route is one HTTP route or one event function.
type Route struct {
	// Name is the function (Knative Service) name, e.g. "auth-login".
	Name string
	// Method and Path are the HTTP route (Go ServeMux pattern syntax).
	Method, Path string
	// Access is what the caller needs; empty means no auth layer at all.
	Access auth.Access
	// Style overrides the service's envelope for this route.
	Style *httpx.Style
	// EventType makes this an event function: the exact type its Trigger
	// filters on. Event functions receive CloudEvents (binary mode) at "/".
	EventType string
	// Schedule makes this a scheduled function (PingSource cron, a ticker in
	// the all-in-one); it receives the ping event at "/".
	Schedule string
	// DeadLetter marks the dead-letter sink of every Trigger.
	DeadLetter bool
	// Delivery is the event function's retry policy (its Trigger's, and the
	// all-in-one broker's); nil is DefaultDelivery.
	Delivery *Delivery
	// Handle binds the handler to the service value built by Start.
	Handle func(svc any) httpx.HandlerFunc
}

// Delivery is a Trigger's retry policy: Retries redeliveries after the
// first attempt, exponential from Backoff (Backoff, 2×, 4×, …), then the
// dead-letter sink.
type Delivery struct {
	Retries int
	Backoff time.Duration
}

// DefaultDelivery is the policy of an event function that sets none: five
// retries from 0.2 s, about 6 s in all.
var DefaultDelivery = Delivery{Retries: 5, Backoff: 200 * time.Millisecond}

// Span is how long the policy keeps redelivering: the sum of its delays.
func (d Delivery) Span() time.Duration {
	var s time.Duration
	for i := range d.Retries {
		s += d.Backoff << i
	}
	return s
}

// DeliveryOf is the route's policy (DefaultDelivery when unset).
func (r Route) DeliveryOf() Delivery {
	if r.Delivery != nil {
		return *r.Delivery
	}
	return DefaultDelivery
}

// IsEvent reports whether the route is an event, scheduled or dead-letter
// function (cluster-local, no ingress path).
func (r Route) IsEvent() bool { return r.EventType != "" || r.Schedule != "" || r.DeadLetter }

// Bind adapts a method expression such as (*Service).Login to Route.Handle.
func Bind[S any](h func(*S, http.ResponseWriter, *http.Request) error) func(any) httpx.HandlerFunc {
	return func(svc any) httpx.HandlerFunc {
		s := svc.(*S)
		return func(w http.ResponseWriter, r *http.Request) error { return h(s, w, r) }
	}
}

// StylePtr returns a pointer to s, for Route.Style.
func StylePtr(s httpx.Style) *httpx.Style { return &s }

// Find returns the route named name.
func (s Service) Find(name string) (Route, bool) {
	for _, r := range s.Routes {
		if r.Name == name {
			return r, true
		}
	}
	return Route{}, false
}
