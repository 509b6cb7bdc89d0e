package retention

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"phonebill/shared/db"
	"phonebill/shared/httpx"
)

// Purger deletes rows past their retention.
type Purger struct {
	pool   *pgxpool.Pool
	set    Settings
	now    func() time.Time
	log    *slog.Logger
	purged *prometheus.CounterVec
}

// NewPurger builds a purger; reg may be nil (a one-off run).
func NewPurger(pool *pgxpool.Pool, set Settings, now func() time.Time, lg *slog.Logger, reg prometheus.Registerer) *Purger {
	if now == nil {
		now = time.Now
	}
	if lg == nil {
		lg = slog.Default()
	}
	purged := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phonebill_retention_purged_rows_total",
		Help: "Rows deleted past their retention, by table."}, []string{"table"})
	if reg != nil {
		purged = httpx.Register(reg, purged)
	}
	return &Purger{pool: pool, set: set, now: now, log: lg, purged: purged}
}

// TableReport is what one run did to one table.
type TableReport struct {
	Table   string
	Keep    time.Duration
	Cutoff  time.Time
	Deleted int64
	// More: the run's budget ended with rows past retention left (the next
	// run goes on).
	More bool
}

// Report is one run over every table.
type Report []TableReport

// Deleted is the rows the run removed in all.
func (r Report) Deleted() int64 {
	var n int64
	for _, t := range r {
		n += t.Deleted
	}
	return n
}

// Print writes one line per table.
func (r Report) Print(w io.Writer, loc *time.Location) {
	for _, t := range r {
		more := ""
		if t.More {
			more = " (more left for the next run)"
		}
		fmt.Fprintf(w, "%-42s %8d rows older than %s (kept %s)%s\n", t.Table, t.Deleted,
			t.Cutoff.In(loc).Format(time.RFC3339), keepText(t.Keep), more)
	}
}

func keepText(d time.Duration) string {
	if d%day == 0 {
		return fmt.Sprintf("%d d", d/day)
	}
	return fmt.Sprintf("%d h", d/time.Hour)
}

// Run purges every table in batches until nothing past retention is left
// or the run's budget (RunSeconds) is spent. Each batch is its own
// statement and commits alone, so a run cut off midway has lost nothing and
// the next one goes on where it stopped. A failing table is reported and
// the others still run.
func (p *Purger) Run(ctx context.Context) (Report, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(p.set.RunSeconds)*time.Second)
	defer cancel()
	now := p.now()
	var rep Report
	var errs []error
	for _, rule := range p.set.Rules() {
		t := TableReport{Table: rule.Table, Keep: rule.Keep, Cutoff: now.Add(-rule.Keep)}
		err := p.purgeTable(ctx, rule, now, &t)
		rep = append(rep, t)
		if err != nil {
			if ctx.Err() != nil {
				// The budget is spent: this table and the rest wait for the
				// next run.
				rep[len(rep)-1].More = true
				break
			}
			errs = append(errs, err)
		}
	}
	if n := rep.Deleted(); n > 0 {
		p.log.InfoContext(ctx, "retention purge", "deleted", n)
	}
	return rep, errors.Join(errs...)
}

func (p *Purger) purgeTable(ctx context.Context, rule Rule, now time.Time, t *TableReport) error {
	// SKIP LOCKED: a row another transaction holds (the relay's outbox
	// batch, say) is left for the next run instead of waited on.
	sql := `DELETE FROM ` + rule.Table + ` WHERE ctid = ANY (ARRAY(SELECT ctid FROM ` + rule.Table +
		` WHERE ` + rule.Where + ` LIMIT ` + fmt.Sprint(p.set.Batch) + ` FOR UPDATE SKIP LOCKED))`
	args := []any{t.Cutoff}
	if strings.Contains(rule.Where, "$2") {
		args = append(args, now)
	}
	for {
		tag, err := p.pool.Exec(ctx, sql, args...)
		if err != nil {
			return db.Wrap("purge "+rule.Table, err)
		}
		n := tag.RowsAffected()
		t.Deleted += n
		p.purged.WithLabelValues(rule.Table).Add(float64(n))
		if n < int64(p.set.Batch) {
			return nil
		}
	}
}
