// Package db opens the pgx pool every function uses, runs transactions as
// closures and marks connection failures (503). Creating the database and
// applying the migrations and seed is shared/db/migrate's.
package db

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"phonebill/shared/config"
	"phonebill/shared/httpx"
)

// Open returns a pool for cfg without connecting: the first query dials, so a
// scale-from-zero start does not wait for PostgreSQL. Queries use the exec
// mode PgBouncer's transaction pooling needs (no named prepared statements).
func Open(ctx context.Context, cfg config.DB, opts ...Option) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.ConnString())
	if err != nil {
		return nil, fmt.Errorf("db: parse DATABASE_URL: %w", err)
	}
	pc.MaxConns = cfg.MaxConns
	pc.MinConns = 0
	pc.MaxConnIdleTime = 5 * time.Minute
	pc.HealthCheckPeriod = 30 * time.Second
	if pc.ConnConfig.ConnectTimeout == 0 || pc.ConnConfig.ConnectTimeout > 3*time.Second {
		// A dead database must answer 503 quickly, not hang a request.
		pc.ConnConfig.ConnectTimeout = 3 * time.Second
	}
	if _, ok := pc.ConnConfig.RuntimeParams["default_query_exec_mode"]; !ok {
		pc.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	}
	for _, o := range opts {
		o(pc)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("db: open pool: %w", err)
	}
	return pool, nil
}

// Option adjusts a pool's configuration before it opens.
type Option func(*pgxpool.Config)

// WithQueryLog logs every statement at DEBUG on lg when lg is enabled for
// DEBUG (LOG_LEVEL_DB=debug): the statement's start, the rows it touched,
// its duration and error — never its arguments. Otherwise nothing is
// installed, so the default costs nothing.
func WithQueryLog(lg *slog.Logger) Option {
	return func(pc *pgxpool.Config) {
		if lg != nil && lg.Enabled(context.Background(), slog.LevelDebug) {
			pc.ConnConfig.Tracer = queryLog{lg}
		}
	}
}

type queryLog struct{ log *slog.Logger }

type queryStartKey struct{}

type queryStart struct {
	sql string
	at  time.Time
}

func (q queryLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, queryStartKey{}, queryStart{sql: statementHead(d.SQL), at: time.Now()})
}

func (q queryLog) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	st, _ := ctx.Value(queryStartKey{}).(queryStart)
	attrs := []any{"sql", st.sql, "rows", d.CommandTag.RowsAffected(),
		"duration_ms", float64(time.Since(st.at).Microseconds()) / 1000}
	if d.Err != nil {
		attrs = append(attrs, "err", d.Err.Error())
	}
	q.log.DebugContext(ctx, "sql", attrs...)
}

// statementHead is the first 100 characters of a statement, whitespace
// collapsed: enough to tell statements apart, never a parameter value.
func statementHead(sql string) string {
	r := []rune(strings.Join(strings.Fields(sql), " "))
	if len(r) > 100 {
		return string(r[:100]) + "…"
	}
	return string(r)
}

// InTx runs fn in a transaction, committing when it returns nil and rolling
// back otherwise. fn runs once: callers that want a retry on serialization
// failure say so at the call site.
func InTx(ctx context.Context, pool *pgxpool.Pool, fn func(tx pgx.Tx) error) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return Wrap("begin", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return Wrap("commit", err)
	}
	return nil
}

// UnavailableError marks a failure to reach PostgreSQL; httpx maps it to 503.
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string     { return "database unavailable: " + e.Err.Error() }
func (e *UnavailableError) Unwrap() error     { return e.Err }
func (e *UnavailableError) Unavailable() bool { return true }

// Wrap adds what was being done to err and marks connection failures as
// unavailable, so they answer 503 instead of 500.
func Wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if IsConnError(err) {
		return &UnavailableError{Err: fmt.Errorf("%s: %w", op, err)}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// IsConnError reports whether err means the database could not be reached
// (or went away), as opposed to a query error.
func IsConnError(err error) bool {
	var ne net.Error
	var ce *pgconn.ConnectError
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &ce), errors.As(err, &ne):
		return true
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.Is(err, pgconn.ErrConnClosed):
		// The connection died under the query (server restart, cut network).
		return true
	case errors.As(err, &pe):
		// Class 08 connection exceptions, 57P01-03 admin shutdown / cannot connect now.
		return len(pe.Code) == 5 && (pe.Code[:2] == "08" || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03")
	case pgconn.SafeToRetry(err), errors.Is(err, context.DeadlineExceeded):
		return true
	}
	return false
}

// IsUniqueViolation reports whether err is a unique-constraint violation,
// optionally of the named constraint.
func IsUniqueViolation(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && (constraint == "" || pe.ConstraintName == constraint)
}

// PoolCollector exports pgx pool statistics to Prometheus.
type PoolCollector struct {
	pool                                 *pgxpool.Pool
	total, idle, acquired, max, acquires *prometheus.Desc
	waitDur                              *prometheus.Desc
}

// NewPoolCollector describes pool's statistics.
func NewPoolCollector(pool *pgxpool.Pool) *PoolCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("phonebill_db_pool_"+name, help, nil, nil)
	}
	return &PoolCollector{pool: pool,
		total: d("total_conns", "Open connections."), idle: d("idle_conns", "Idle connections."),
		acquired: d("acquired_conns", "Connections in use."), max: d("max_conns", "Pool size limit."),
		acquires: d("acquire_total", "Successful acquires."), waitDur: d("acquire_wait_seconds_total", "Time spent waiting for a connection."),
	}
}

// Describe implements prometheus.Collector.
func (c *PoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.total, c.idle, c.acquired, c.max, c.acquires, c.waitDur} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *PoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	ch <- prometheus.MustNewConstMetric(c.total, prometheus.GaugeValue, float64(s.TotalConns()))
	ch <- prometheus.MustNewConstMetric(c.idle, prometheus.GaugeValue, float64(s.IdleConns()))
	ch <- prometheus.MustNewConstMetric(c.acquired, prometheus.GaugeValue, float64(s.AcquiredConns()))
	ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(c.acquires, prometheus.CounterValue, float64(s.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.waitDur, prometheus.CounterValue, s.AcquireDuration().Seconds())
}

// Seoul is the zone of every TIMESTAMP column (SPEC §6: Asia/Seoul local),
// the same location httpx formats timestamps in (loaded once per process).
var Seoul = httpx.Seoul()

// Local reads a TIMESTAMP value (a Seoul wall clock that pgx decodes as UTC)
// as the instant it denotes.
func Local(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), Seoul)
}
