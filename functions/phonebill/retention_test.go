package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"
	"time"

	"phonebill/functions/retention"
	"phonebill/shared/db/dbtest"
	"phonebill/shared/fn/fntest"
)

// The retention purge running in a loop beside the whole client journey:
// the journey passes unchanged (every row it writes is inside retention and
// stays, its history pages read what it did), while rows seeded past
// retention in the same tables go. The two journey times are logged.
func TestPurgeBesideTheJourneyLosesNothing(t *testing.T) {
	start := time.Now()
	runJourney(t)
	alone := time.Since(start)

	var runs int
	var h *fntest.Harness
	purgeLoop := func(hh *fntest.Harness) func() {
		h = hh
		ctx := context.Background()
		old := time.Now().AddDate(-11, 0, 0)
		for _, q := range []string{
			`INSERT INTO product_change.dead_letters (event, error, received_at) SELECT '{}', 'old', $1::timestamptz FROM generate_series(1, 300)`,
			`INSERT INTO product_change.outbox (id, type, source, data, created_at, published_at)
				SELECT gen_random_uuid(), 'old.v1', '/old', '{}', $1::timestamptz, $1::timestamptz FROM generate_series(1, 300)`,
			`INSERT INTO auth.auth_login_history (user_id, login_type, login_status, attempted_at)
				SELECT 'old', 'LOGIN', 'SUCCESS', $1::timestamptz AT TIME ZONE 'Asia/Seoul' FROM generate_series(1, 300)`,
		} {
			if _, err := h.Pool.Exec(ctx, q, old); err != nil {
				t.Fatal(err)
			}
		}
		set := retention.Settings{RevocationLeewayHours: 24, SessionDays: 30, LoginAttemptDays: 30, LoginHistoryDays: 365,
			BillHistoryDays: 730, ChangeHistoryDays: 1095, KOSLogDays: 90, IdempotencyHours: 48, OutboxDays: 7,
			ProcessedEventDays: 7, DeadLetterDays: 90, Batch: 50, RunSeconds: 5}
		p := retention.NewPurger(h.Pool, set, nil, h.Log, nil)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; i < 10_000; i++ { // bounded; ends with the journey
				select {
				case <-stop:
					return
				default:
				}
				if _, err := p.Run(ctx); err != nil {
					t.Errorf("purge beside the journey: %v", err)
					return
				}
				runs++
				time.Sleep(10 * time.Millisecond)
			}
		}()
		return func() { close(stop); <-done }
	}
	start = time.Now()
	runJourney(t, purgeLoop)
	beside := time.Since(start)
	t.Logf("journey alone %v, beside %d purge runs %v", alone.Round(time.Millisecond), runs, beside.Round(time.Millisecond))
	if runs == 0 {
		t.Fatal("no purge ran beside the journey")
	}
	for _, q := range []string{
		`SELECT count(*) FROM product_change.dead_letters WHERE error = 'old'`,
		`SELECT count(*) FROM product_change.outbox WHERE type = 'old.v1'`,
		`SELECT count(*) FROM auth.auth_login_history WHERE user_id = 'old'`,
	} {
		var n int
		if err := h.Pool.QueryRow(context.Background(), q).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s = %d (%v), want 0: the purge ran beside the journey", q, n, err)
		}
	}
}

// `phonebill purge` on a database with rows past retention removes exactly
// those and prints a line per table with what it removed.
func TestPurgeCommandPrintsWhatItRemoved(t *testing.T) {
	url, pool := dbtest.NewWithURL(t)
	t.Setenv("DATABASE_URL", url)
	ctx := context.Background()
	old, fresh := time.Now().AddDate(-11, 0, 0), time.Now()
	for _, at := range []time.Time{old, old, fresh} {
		if _, err := pool.Exec(ctx, `INSERT INTO product_change.dead_letters (event, error, received_at)
			VALUES ('{}', 'cmd', $1::timestamptz)`, at); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO auth.auth_login_history (user_id, login_type, login_status, attempted_at)
			VALUES ('cmd', 'LOGIN', 'SUCCESS', $1::timestamptz AT TIME ZONE 'Asia/Seoul')`, at); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := purgeOnce(&out); err != nil {
		t.Fatalf("purge: %v\n%s", err, out.String())
	}
	t.Logf("phonebill purge printed:\n%s", out.String())
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^product_change\.dead_letters\s+2 rows older than \S+ \(kept 90 d\)$`),
		regexp.MustCompile(`(?m)^auth\.auth_login_history\s+2 rows older than \S+ \(kept 365 d\)$`),
		regexp.MustCompile(`(?m)^product_change\.outbox\s+0 rows`),
		regexp.MustCompile(`(?m)^4 rows purged$`),
	} {
		if !want.MatchString(out.String()) {
			t.Errorf("output lacks %s", want)
		}
	}
	for _, q := range []string{`SELECT count(*) FROM product_change.dead_letters WHERE error = 'cmd'`,
		`SELECT count(*) FROM auth.auth_login_history WHERE user_id = 'cmd'`} {
		var n int
		if err := pool.QueryRow(ctx, q).Scan(&n); err != nil || n != 1 {
			t.Errorf("%s = %d (%v), want the fresh row only", q, n, err)
		}
	}
}
