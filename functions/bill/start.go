package bill

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"phonebill/shared/cache"
	"phonebill/shared/config"
	"phonebill/shared/fn"
	"phonebill/shared/kos"
)

// Settings are the Bill service's own variables (SPEC §10.1).
type Settings struct {
	// CacheTTLSeconds is the life of a cached bill: the seed's 30 minutes.
	CacheTTLSeconds int `envconfig:"BILL_CACHE_TTL_SECONDS" default:"1800"`
}

// Validate implements config.Validator.
func (s Settings) Validate() error {
	if s.CacheTTLSeconds < 1 {
		return errors.New("config: BILL_CACHE_TTL_SECONDS must be positive")
	}
	return nil
}

// Deps are what the service is built from; Start takes them from fn.Env,
// tests pass their own.
type Deps struct {
	Pool     *pgxpool.Pool
	Cache    *cache.Cache
	KOS      kosDoer
	Log      *slog.Logger
	Now      func() time.Time
	Registry prometheus.Registerer
}

// start builds the service value the routes are bound to. Nothing is dialled:
// the pool, Redis and KOS connect on first use.
func start(ctx context.Context, env *fn.Env) (any, error) {
	var s struct {
		KOS  config.KOS
		Bill Settings
	}
	if err := config.Load(&s); err != nil {
		return nil, err
	}
	pool, err := env.DB(ctx)
	if err != nil {
		return nil, err
	}
	kc, err := kos.New(kos.Options{Config: s.KOS, ServiceName: ServiceName, Function: fn.FunctionName(ctx), Registry: env.Metrics.Registry, Log: env.Logger(fn.LoggerKOS)})
	if err != nil {
		return nil, err
	}
	return newService(Deps{Pool: pool, Cache: env.Cache(), KOS: kc, Log: env.Logger(fn.LoggerApp), Now: env.Now,
		Registry: env.Metrics.Registry}, DefaultConfig(s.Bill, env.Settings.HTTP)), nil
}

// DefaultConfig resolves the settings into the service's Config.
func DefaultConfig(s Settings, h config.HTTP) Config {
	return Config{
		CacheTTL:      time.Duration(s.CacheTTLSeconds) * time.Second,
		MonthsTTL:     time.Hour,
		Deadline:      h.RequestDeadline(),
		MenuKOSBudget: 2 * time.Second,
		Location:      h.Location(),
	}
}

// newService is the constructor production (start) and tests share.
func newService(d Deps, cfg Config) *Handlers {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if cfg.Location == nil {
		cfg.Location = time.FixedZone("KST", 9*3600)
	}
	b := &Bills{store: &historyStore{pool: d.Pool}, cache: d.Cache, kos: d.KOS, log: d.Log, now: d.Now,
		cfg: cfg, metrics: newMetrics(d.Registry)}
	return &Handlers{bills: b, log: d.Log}
}
