package product

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"phonebill/shared/cache"
	"phonebill/shared/config"
	"phonebill/shared/events"
	"phonebill/shared/fn"
	"phonebill/shared/kos"
)

// Settings are the Product service's own variables.
type Settings struct {
	// PendingResendSeconds: the relay re-emits change.requested for a PENDING
	// change whose last KOS attempt is older than this (SPEC §10.6: a minute).
	PendingResendSeconds int `envconfig:"PRODUCT_PENDING_RESEND_SECONDS" default:"60"`
	// PendingLimitHours: a change PENDING longer than this is given up as
	// KOS_UNRESOLVED for an operator (SPEC §10.6: 24 h).
	PendingLimitHours int `envconfig:"PRODUCT_PENDING_LIMIT_HOURS" default:"24"`
	// OutboxBatch bounds one relay run, so a backlog drains over several
	// pings instead of one long transaction.
	OutboxBatch int `envconfig:"PRODUCT_OUTBOX_BATCH" default:"100"`
	// SweepHoldSeconds: one link of a sweep runs the relay for this long
	// before handing on to the next (inside the relay's 30 s timeout);
	// SweepTickSeconds apart. See sweep.go.
	SweepHoldSeconds int `envconfig:"PRODUCT_SWEEP_HOLD_SECONDS" default:"20"`
	SweepTickSeconds int `envconfig:"PRODUCT_SWEEP_TICK_SECONDS" default:"5"`
}

// Validate implements config.Validator.
func (s Settings) Validate() error {
	var errs []error
	if s.PendingResendSeconds < 1 {
		errs = append(errs, errors.New("config: PRODUCT_PENDING_RESEND_SECONDS must be positive"))
	}
	if s.PendingLimitHours < 1 {
		errs = append(errs, errors.New("config: PRODUCT_PENDING_LIMIT_HOURS must be positive"))
	}
	if s.OutboxBatch < 1 || s.OutboxBatch > 10000 {
		errs = append(errs, errors.New("config: PRODUCT_OUTBOX_BATCH must be between 1 and 10000"))
	}
	if s.SweepTickSeconds < 1 || s.SweepHoldSeconds < s.SweepTickSeconds || s.SweepHoldSeconds > MaxSweepHoldSeconds {
		errs = append(errs, fmt.Errorf("config: PRODUCT_SWEEP_TICK_SECONDS must be positive and at most PRODUCT_SWEEP_HOLD_SECONDS, itself at most %d", MaxSweepHoldSeconds))
	}
	return errors.Join(errs...)
}

// MaxSweepHoldSeconds keeps a sweep link and its hand-on inside the relay's
// revision timeout (30 s for event functions).
const MaxSweepHoldSeconds = 25

// Config is the service's resolved configuration.
type Config struct {
	// Deadline bounds a whole change request, KOS re-sends included
	// (REQUEST_DEADLINE_MS, 8 s inside the client's 10 s).
	Deadline time.Duration
	// CustomerTTL, CatalogTTL are the cache lives of SPEC §6.5.
	CustomerTTL time.Duration
	CatalogTTL  time.Duration
	// ResendAfter and PendingLimit drive the relay's PENDING sweep.
	ResendAfter  time.Duration
	PendingLimit time.Duration
	// OutboxBatch bounds the rows one relay run publishes.
	OutboxBatch int
	// SweepHold is how long one sweep link runs (0: no sweep chains, the
	// all-in-one's ticker runs the relay), SweepTick the pause between runs.
	SweepHold time.Duration
	SweepTick time.Duration
	// IdempotencyTTL is how long an Idempotency-Key is remembered (§10.5).
	IdempotencyTTL time.Duration
	// Source is the CloudEvents source of the service's events.
	Source string
	// Location is the time zone of dates and timestamps (Asia/Seoul).
	Location *time.Location
}

// DefaultConfig resolves the settings into a Config.
func DefaultConfig(s Settings, h config.HTTP) Config {
	return Config{
		Deadline:       h.RequestDeadline(),
		CustomerTTL:    4 * time.Hour,
		CatalogTTL:     2 * time.Hour,
		ResendAfter:    time.Duration(s.PendingResendSeconds) * time.Second,
		PendingLimit:   time.Duration(s.PendingLimitHours) * time.Hour,
		OutboxBatch:    s.OutboxBatch,
		SweepHold:      time.Duration(s.SweepHoldSeconds) * time.Second,
		SweepTick:      time.Duration(s.SweepTickSeconds) * time.Second,
		IdempotencyTTL: 24 * time.Hour,
		Source:         EventSource,
		Location:       h.Location(),
	}
}

// EventSource is the CloudEvents source of every event the service emits.
const EventSource = "/phonebill/product-change"

// publisher sends one CloudEvent (events.Sender in production).
type publisher interface {
	Send(ctx context.Context, e event.Event) error
}

// Deps are what the service is built from; start takes them from fn.Env,
// tests pass their own.
type Deps struct {
	Pool  *pgxpool.Pool
	Cache *cache.Cache
	KOS   kosDoer
	// Events publishes the service's CloudEvents.
	Events   publisher
	Log      *slog.Logger
	Registry prometheus.Registerer
}

// start builds the service value the routes are bound to. Nothing is dialled:
// the pool, Redis and KOS connect on first use.
func start(ctx context.Context, env *fn.Env) (any, error) {
	var s struct {
		KOS     config.KOS
		Product Settings
	}
	if err := config.Load(&s); err != nil {
		return nil, err
	}
	cfg := DefaultConfig(s.Product, env.Settings.HTTP)
	if env.ScheduleEvery > 0 {
		// The in-process ticker runs the relay often; no chain is needed.
		cfg.SweepHold = 0
	}
	return build(ctx, env, s.KOS, cfg, env.Now, nil)
}

// build wires the service from env with the given KOS settings, config and
// business clock; adjust, when set, may replace dependencies (tests).
func build(ctx context.Context, env *fn.Env, kc config.KOS, cfg Config, now func() time.Time, adjust func(*Deps)) (*Handlers, error) {
	pool, err := env.DB(ctx)
	if err != nil {
		return nil, err
	}
	opts := kos.Options{Config: kc, ServiceName: ServiceName, Function: fn.FunctionName(ctx), Registry: env.Metrics.Registry, Log: env.Logger(fn.LoggerKOS)}
	// One client per function: fn.Build starts each function apart, so the
	// worker's breaker is never the one product-change just opened.
	client, err := kos.New(opts)
	if err != nil {
		return nil, err
	}
	hc := env.EventClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	d := Deps{Pool: pool, Cache: env.Cache(), KOS: client, Events: events.NewSender(env.EventSink, hc),
		Log: env.Logger(fn.LoggerApp), Registry: env.Metrics.Registry}
	if adjust != nil {
		adjust(&d)
	}
	return newHandlers(newService(d, cfg, now), d.Log), nil
}
