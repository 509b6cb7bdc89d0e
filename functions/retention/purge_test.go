package retention

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"phonebill/shared/db/dbtest"
)

// defaults are the Settings envconfig fills in with no RETENTION_* set: the
// struct tags' defaults, read without touching the environment.
func defaults(t *testing.T) Settings {
	t.Helper()
	var s Settings
	v := reflect.ValueOf(&s).Elem()
	for i := range v.NumField() {
		n, err := strconv.Atoi(v.Type().Field(i).Tag.Get("default"))
		if err != nil {
			t.Fatalf("%s: default %v", v.Type().Field(i).Name, err)
		}
		v.Field(i).SetInt(int64(n))
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("the defaults are refused: %v", err)
	}
	return s
}

// seoulTS is the Seoul wall-clock text of a TIMESTAMP column.
func seoulTS(at time.Time) string {
	return at.In(time.FixedZone("KST", 9*3600)).Format("2006-01-02 15:04:05.000000")
}

// row inserts one row of a table written at "at" (or expiring then), tagged
// so a test can tell its rows apart.
type row func(ctx context.Context, pool *pgxpool.Pool, tag string, at time.Time) error

func exec(ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) error {
	_, err := pool.Exec(ctx, sql, args...)
	return err
}

// rows inserts, per table, one row dated at. Every table of Rules has one.
var rows = map[string]row{
	"auth.auth_revoked_tokens": func(ctx context.Context, p *pgxpool.Pool, tag string, at time.Time) error {
		return exec(ctx, p, `INSERT INTO auth.auth_revoked_tokens (jti, user_id, reason, expires_at)
			VALUES ($1, 'testuser01', 'LOGOUT', $2::timestamp)`, tag, seoulTS(at))
	},
	"auth.auth_user_sessions": func(ctx context.Context, p *pgxpool.Pool, tag string, at time.Time) error {
		return exec(ctx, p, `INSERT INTO auth.auth_user_sessions (session_id, user_id, expires_at, family_id)
			VALUES ($1, 'testuser01', $2::timestamp, $1)`, tag, seoulTS(at))
	},
	"auth.auth_login_attempts": func(ctx context.Context, p *pgxpool.Pool, tag string, at time.Time) error {
		return exec(ctx, p, `INSERT INTO auth.auth_login_attempts (user_id, failed_count, last_failed_at)
			VALUES ($1, 3, $2::timestamp)`, tag, seoulTS(at))
	},
	"auth.auth_login_history": func(ctx context.Context, p *pgxpool.Pool, tag string, at time.Time) error {
		return exec(ctx, p, `INSERT INTO auth.auth_login_history (user_id, login_type, login_status, attempted_at)
			VALUES ($1, 'LOGIN', 'SUCCESS', $2::timestamp)`, tag, seoulTS(at))
	},
	"bill_inquiry.kos_inquiry_history": func(ctx context.Context, p *pgxpool.Pool, tag string, at time.Time) error {
		// Its inquiry is recent, so only the KOS row's own age counts.
		if err := billInquiry(ctx, p, "kos-"+tag, time.Now()); err != nil {
			return err
		}
		return exec(ctx, p, `INSERT INTO bill_inquiry.kos_inquiry_history (bill_request_id, line_number, created_at)
			VALUES ($1, $2, $3::timestamp)`, "kos-"+tag, tag, seoulTS(at))
	},
	"bill_inquiry.bill_inquiry_history": func(ctx context.Context, p *pgxpool.Pool, tag string, at time.Time) error {
		return billInquiry(ctx, p, tag, at)
	},
	"product_change.pc_kos_integration_log": func(ctx context.Context, p *pgxpool.Pool, tag string, at time.Time) error {
		return exec(ctx, p, `INSERT INTO product_change.pc_kos_integration_log (request_id, created_at)
			VALUES ($1, $2::timestamp)`, tag, seoulTS(at))
	},
	"product_change.pc_product_change_history": func(ctx context.Context, p *pgxpool.Pool, tag string, at time.Time) error {
		return change(ctx, p, tag, "01012345678", "COMPLETED", at)
	},
	"product_change.idempotency_keys": func(ctx context.Context, p *pgxpool.Pool, tag string, at time.Time) error {
		return exec(ctx, p, `INSERT INTO product_change.idempotency_keys (user_id, "key", request_hash, created_at)
			VALUES ('testuser01', $1, 'h', $2::timestamptz)`, tag, at)
	},
	"product_change.outbox": func(ctx context.Context, p *pgxpool.Pool, tag string, at time.Time) error {
		return outbox(ctx, p, tag, at, &at)
	},
	"product_change.processed_events": func(ctx context.Context, p *pgxpool.Pool, tag string, at time.Time) error {
		return exec(ctx, p, `INSERT INTO product_change.processed_events (source, id, processed_at)
			VALUES ('/test', $1, $2::timestamptz)`, tag, at)
	},
	"product_change.dead_letters": func(ctx context.Context, p *pgxpool.Pool, tag string, at time.Time) error {
		return exec(ctx, p, `INSERT INTO product_change.dead_letters (event, error, received_at)
			VALUES (jsonb_build_object('id', $1::text), 'test', $2::timestamptz)`, tag, at)
	},
}

func billInquiry(ctx context.Context, p *pgxpool.Pool, id string, at time.Time) error {
	return exec(ctx, p, `INSERT INTO bill_inquiry.bill_inquiry_history
		(request_id, user_id, line_number, inquiry_month, request_time, status, created_at)
		VALUES ($1, 'testuser01', '01012345678', '202601', $2::timestamp, 'COMPLETED', $2::timestamp)`, id, seoulTS(at))
}

func change(ctx context.Context, p *pgxpool.Pool, id, line, status string, at time.Time) error {
	return exec(ctx, p, `INSERT INTO product_change.pc_product_change_history (request_id, line_number, customer_id,
		user_id, current_product_code, target_product_code, process_status, requested_at)
		VALUES ($1, $2, 'CUST001', 'testuser01', '5G-STANDARD-001', '5G-PREMIUM-001', $3, $4::timestamptz)`,
		id, line, status, at)
}

func outbox(ctx context.Context, p *pgxpool.Pool, id string, at time.Time, published *time.Time) error {
	return exec(ctx, p, `INSERT INTO product_change.outbox (id, type, source, subject, data, created_at, published_at)
		VALUES (gen_random_uuid(), 'test.v1', '/test', $1, '{}', $2::timestamptz, $3::timestamptz)`, id, at, published)
}

// tagged counts a table's rows carrying tag (in the column the row helper
// put it in).
func tagged(t *testing.T, p *pgxpool.Pool, table, tag string) int {
	t.Helper()
	col := map[string]string{
		"auth.auth_revoked_tokens":                 "jti",
		"auth.auth_user_sessions":                  "session_id",
		"auth.auth_login_attempts":                 "user_id",
		"auth.auth_login_history":                  "user_id",
		"bill_inquiry.kos_inquiry_history":         "line_number",
		"bill_inquiry.bill_inquiry_history":        "request_id",
		"product_change.pc_kos_integration_log":    "request_id",
		"product_change.pc_product_change_history": "request_id",
		"product_change.idempotency_keys":          `"key"`,
		"product_change.outbox":                    "subject",
		"product_change.processed_events":          "id",
		"product_change.dead_letters":              "event->>'id'",
	}[table]
	var n int
	if err := p.QueryRow(context.Background(), fmt.Sprintf(`SELECT count(*) FROM %s WHERE %s = $1`, table, col), tag).Scan(&n); err != nil {
		t.Fatalf("%s: %v", table, err)
	}
	return n
}

// Every table: a row an hour past its retention goes, a row an hour inside
// it stays, and the report and the metric say how many went.
func TestPurgeRemovesExactlyWhatIsPastRetention(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	ctx := context.Background()
	set := defaults(t)
	now := time.Now()
	rules := set.Rules()
	if len(rules) != len(rows) {
		t.Fatalf("%d rules, %d row makers: every purged table needs a test row", len(rules), len(rows))
	}
	for _, r := range rules {
		mk := rows[r.Table]
		if mk == nil {
			t.Fatalf("no test row for %s", r.Table)
		}
		if err := mk(ctx, pool, "old", now.Add(-r.Keep-time.Hour)); err != nil {
			t.Fatalf("%s old row: %v", r.Table, err)
		}
		if err := mk(ctx, pool, "new", now.Add(-r.Keep+time.Hour)); err != nil {
			t.Fatalf("%s new row: %v", r.Table, err)
		}
	}
	reg := prometheus.NewRegistry()
	p := NewPurger(pool, set, func() time.Time { return now }, nil, reg)
	rep, err := p.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rules {
		if got := tagged(t, pool, r.Table, "old"); got != 0 {
			t.Errorf("%s: the row past retention (%s) is still there", r.Table, keepText(r.Keep))
		}
		if got := tagged(t, pool, r.Table, "new"); got != 1 {
			t.Errorf("%s: the row inside retention is gone", r.Table)
		}
		if rep[i].Table != r.Table || rep[i].Deleted != 1 || rep[i].More {
			t.Errorf("report %+v, want 1 row deleted from %s", rep[i], r.Table)
		}
		if m := testutil.ToFloat64(p.purged.WithLabelValues(r.Table)); m != 1 {
			t.Errorf("%s: metric %v, want 1", r.Table, m)
		}
	}
	// A second run has nothing to do.
	if rep, err := p.Run(ctx); err != nil || rep.Deleted() != 0 {
		t.Fatalf("second run: %d deleted, %v", rep.Deleted(), err)
	}
}

// What a guarantee still needs is never purged, however old: a revocation
// whose token has not expired past the leeway, a processed event inside its
// dedupe window, a change not finished, an unpublished outbox row, a login
// counter whose lock is in force.
func TestPurgeKeepsWhatIsStillNeeded(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	ctx := context.Background()
	set := defaults(t)
	now := time.Now()
	long := 10 * 365 * day
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Revoked long ago, but its token expired only within the leeway.
	must(exec(ctx, pool, `INSERT INTO auth.auth_revoked_tokens (jti, user_id, reason, expires_at, revoked_at)
		VALUES ('kept', 'testuser01', 'LOGOUT', $1::timestamp, $2::timestamp)`,
		seoulTS(now.Add(-time.Duration(set.RevocationLeewayHours)*time.Hour+time.Minute)), seoulTS(now.Add(-long))))
	must(rows["product_change.processed_events"](ctx, pool, "kept", now.Add(-2*day+time.Hour)))
	for i, st := range []string{"REQUESTED", "VALIDATED", "PROCESSING", "PENDING"} {
		must(change(ctx, pool, "kept-"+st, fmt.Sprintf("0100000000%d", i), st, now.Add(-long)))
	}
	must(outbox(ctx, pool, "kept", now.Add(-long), nil))
	must(exec(ctx, pool, `INSERT INTO auth.auth_login_attempts (user_id, failed_count, last_failed_at, locked_until)
		VALUES ('kept', 5, $1::timestamp, $2::timestamp)`, seoulTS(now.Add(-long)), seoulTS(now.Add(time.Hour))))

	set.ProcessedEventDays = 2 // the shortest the settings accept
	if _, err := NewPurger(pool, set, func() time.Time { return now }, nil, nil).Run(ctx); err != nil {
		t.Fatal(err)
	}
	for table, n := range map[string]int{"auth.auth_revoked_tokens": 1, "product_change.processed_events": 1,
		"product_change.outbox": 1, "auth.auth_login_attempts": 1} {
		if got := tagged(t, pool, table, "kept"); got != n {
			t.Errorf("%s: %d rows kept, want %d", table, got, n)
		}
	}
	var open int
	must(pool.QueryRow(ctx, `SELECT count(*) FROM product_change.pc_product_change_history
		WHERE request_id LIKE 'kept-%'`).Scan(&open))
	if open != 4 {
		t.Errorf("%d of 4 unfinished changes kept", open)
	}
}

// A run cut off midway (its budget spent, or its pod gone) commits each
// batch it finished, loses nothing it should keep, and the next run goes on
// where it stopped.
func TestPurgeInterruptedResumes(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	ctx := context.Background()
	set := defaults(t)
	now := time.Now()
	old := now.Add(-time.Duration(set.DeadLetterDays)*day - time.Hour)
	if err := exec(ctx, pool, `INSERT INTO product_change.dead_letters (event, error, received_at)
		SELECT jsonb_build_object('id', 'old'), 'test', $1::timestamptz FROM generate_series(1, 500)`, old); err != nil {
		t.Fatal(err)
	}
	if err := rows["product_change.dead_letters"](ctx, pool, "new", now); err != nil {
		t.Fatal(err)
	}
	set.Batch = 7
	p := NewPurger(pool, set, func() time.Time { return now }, nil, nil)
	cut, cancel := context.WithCancel(ctx)
	go func() {
		// Cancel as soon as some batches have committed.
		for tagged(t, pool, "product_change.dead_letters", "old") == 500 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	first, _ := p.Run(cut)
	left := tagged(t, pool, "product_change.dead_letters", "old")
	t.Logf("the cut run reported %d deleted; %d left", first.Deleted(), left)
	if last := first[len(first)-1]; left == 0 || left == 500 || last.Table != "product_change.dead_letters" || !last.More {
		t.Fatalf("cut run: %d left of 500 (report %+v)", left, first)
	}
	second, err := p.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tagged(t, pool, "product_change.dead_letters", "old") != 0 || tagged(t, pool, "product_change.dead_letters", "new") != 1 {
		t.Fatal("after the resumed run: old rows left or the new one gone")
	}
	// A batch the server committed while the client was giving up is
	// deleted but not counted: the counts may fall one batch short.
	if n := first.Deleted() + second.Deleted(); n > 500 || n < 500-int64(set.Batch) {
		t.Fatalf("the two runs reported %d + %d deleted of 500", first.Deleted(), second.Deleted())
	}
}

func TestSettingsRefuseWhatWouldBreakAGuarantee(t *testing.T) {
	t.Parallel()
	s := Settings{RevocationLeewayHours: 0, SessionDays: 1, LoginAttemptDays: 1, LoginHistoryDays: 1, BillHistoryDays: 1,
		ChangeHistoryDays: 1, KOSLogDays: 1, IdempotencyHours: 23, OutboxDays: 1, ProcessedEventDays: 1,
		DeadLetterDays: 1, Batch: 1, RunSeconds: 26}
	err := s.Validate()
	for _, name := range []string{"RETENTION_REVOCATION_LEEWAY_HOURS", "RETENTION_IDEMPOTENCY_HOURS",
		"RETENTION_PROCESSED_EVENT_DAYS", "RETENTION_RUN_SECONDS"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Validate() = %v, want it to name %s", err, name)
		}
	}
}
