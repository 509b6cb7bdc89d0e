package fn

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"phonebill/shared/auth"
	"phonebill/shared/cache"
	"phonebill/shared/config"
	"phonebill/shared/db"
	"phonebill/shared/httpx"
)

// Settings are the sections every function reads at start.
type Settings struct {
	HTTP  config.HTTP
	DB    config.DB
	Redis config.Redis
}

// Env is what Start receives: settings, logger, metrics and shared clients.
// The pool and the Redis client are created on first use and never dial
// before a query, so a cold start does not wait for them.
type Env struct {
	Settings Settings
	Log      *slog.Logger
	Metrics  *httpx.Metrics
	// Now is the clock (tests inject one).
	Now func() time.Time
	// EventSink is where producers POST CloudEvents: K_SINK in Knative, the
	// in-process broker in the all-in-one ("" when neither is configured).
	EventSink string
	// EventClient carries those POSTs (in-process in the all-in-one).
	EventClient *http.Client
	// ScheduleEvery is the period of the in-process ticker that runs the
	// scheduled routes in the all-in-one; zero in Knative, where a
	// PingSource drives them on its cron schedule.
	ScheduleEvery time.Duration

	// base is the JSON handler every named logger writes through (nil when
	// the caller gave its own logger: tests).
	base slog.Handler

	mu     sync.Mutex
	pool   *pgxpool.Pool
	cache  *cache.Cache
	guard  *auth.Guard
	tokens *auth.Tokens
}

// NewEnv loads the common settings and builds the logger and metrics.
func NewEnv(lg *slog.Logger) (*Env, error) {
	var s Settings
	if err := config.Load(&s); err != nil {
		return nil, err
	}
	var base slog.Handler
	if lg == nil {
		base = baseHandler()
		lg = slog.New(levelHandler{min: s.HTTP.Level(""), h: base})
	}
	return &Env{Settings: s, Log: lg, Metrics: httpx.NewMetrics(), Now: time.Now, base: base,
		EventSink: os.Getenv("K_SINK"), EventClient: &http.Client{Timeout: 10 * time.Second}}, nil
}

// Named loggers of the dev architecture's §8.2: the root logger (Env.Log:
// the runtime and request lines) at LOG_LEVEL, and these at their own
// LOG_LEVEL_* (LOG_LEVEL when unset).
const (
	LoggerApp = "app" // the services' business lines
	LoggerDB  = "db"  // the database client
	LoggerKOS = "kos" // the KOS client (DEBUG: one line per call attempt)
)

// Logger returns the named logger, tagged logger=<name>.
func (e *Env) Logger(name string) *slog.Logger {
	if e.base == nil {
		return e.Log.With("logger", name)
	}
	return slog.New(levelHandler{min: e.Settings.HTTP.Level(name), h: e.base.WithAttrs([]slog.Attr{slog.String("logger", name)})})
}

// baseHandler is the JSON handler of every logger, tagged with the Knative
// service and revision; the levels are the levelHandlers' to decide.
func baseHandler() slog.Handler {
	var h slog.Handler = slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelDebug})
	if s := os.Getenv("K_SERVICE"); s != "" {
		h = h.WithAttrs([]slog.Attr{slog.String("k_service", s), slog.String("k_revision", os.Getenv("K_REVISION"))})
	}
	return h
}

// levelHandler passes records at or above min to h.
type levelHandler struct {
	min slog.Level
	h   slog.Handler
}

func (l levelHandler) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= l.min && l.h.Enabled(ctx, lv)
}
func (l levelHandler) Handle(ctx context.Context, r slog.Record) error { return l.h.Handle(ctx, r) }
func (l levelHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return levelHandler{min: l.min, h: l.h.WithAttrs(a)}
}
func (l levelHandler) WithGroup(name string) slog.Handler {
	return levelHandler{min: l.min, h: l.h.WithGroup(name)}
}

// DB returns the shared pool (created on first call, connected on first
// query) and registers its statistics.
func (e *Env) DB(ctx context.Context) (*pgxpool.Pool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pool != nil {
		return e.pool, nil
	}
	p, err := db.Open(ctx, e.Settings.DB, db.WithQueryLog(e.Logger(LoggerDB)))
	if err != nil {
		return nil, err
	}
	e.pool = p
	e.Metrics.Registry.MustRegister(db.NewPoolCollector(p))
	return p, nil
}

// Cache returns the shared Redis client (created on first call).
func (e *Env) Cache() *cache.Cache {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cache == nil {
		e.cache = cache.New(e.Settings.Redis, e.Log)
	}
	return e.cache
}

// Tokens returns the JWT issuer/verifier, loading JWT_* (a missing or short
// JWT_SECRET is a start error).
func (e *Env) Tokens() (*auth.Tokens, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tokens != nil {
		return e.tokens, nil
	}
	var c struct{ JWT config.JWT }
	if err := config.Load(&c); err != nil {
		return nil, err
	}
	t, err := auth.NewTokens(c.JWT, func() time.Time { return e.Now() })
	if err != nil {
		return nil, err
	}
	e.tokens = t
	return t, nil
}

// Guard returns the request authenticator (tokens + revocation check).
func (e *Env) Guard(ctx context.Context) (*auth.Guard, error) {
	t, err := e.Tokens()
	if err != nil {
		return nil, err
	}
	pool, err := e.DB(ctx)
	if err != nil {
		return nil, err
	}
	c := e.Cache()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.guard == nil {
		e.guard = auth.NewGuard(t, auth.NewRevocations(pool, c, e.Log))
	}
	return e.guard, nil
}

// Close stops the revocation view and releases the pool and the Redis client.
func (e *Env) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.guard != nil {
		e.guard.Revocations().Close()
	}
	if e.pool != nil {
		e.pool.Close()
	}
	if e.cache != nil {
		_ = e.cache.Close()
	}
}

func getenv(k string) string { return os.Getenv(k) }

// UseDB makes the env share an existing pool (tests).
func (e *Env) UseDB(p *pgxpool.Pool) { e.mu.Lock(); e.pool = p; e.mu.Unlock() }

// UseCache makes the env share an existing Redis client (tests).
func (e *Env) UseCache(c *cache.Cache) { e.mu.Lock(); e.cache = c; e.mu.Unlock() }

// UseTokens makes the env use t instead of loading JWT_* (tests).
func (e *Env) UseTokens(t *auth.Tokens) { e.mu.Lock(); e.tokens = t; e.mu.Unlock() }
