package db_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"phonebill/shared/config"
	"phonebill/shared/db"
	"phonebill/shared/db/dbtest"
	"phonebill/shared/httpx"
)

func TestInTxCommitsOrRollsBack(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	ctx := context.Background()
	count := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM auth.auth_login_attempts WHERE user_id LIKE 'intx-%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	insert := func(tx pgx.Tx, id string) error {
		_, err := tx.Exec(ctx, `INSERT INTO auth.auth_login_attempts (user_id, failed_count) VALUES ($1, 1)`, id)
		return err
	}
	if err := db.InTx(ctx, pool, func(tx pgx.Tx) error { return insert(tx, "intx-a") }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("midway failure")
	err := db.InTx(ctx, pool, func(tx pgx.Tx) error {
		if err := insert(tx, "intx-b"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want the closure's error", err)
	}
	if got := count(); got != 1 {
		t.Errorf("rows = %d, want 1 (the failed transaction left nothing)", got)
	}
}

// The database's default time zone is Asia/Seoul and every URL carries it,
// with no per-connection SET (SPEC §10.2).
func TestTimeZoneIsSeoul(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	var tz string
	if err := pool.QueryRow(context.Background(), `SHOW timezone`).Scan(&tz); err != nil {
		t.Fatal(err)
	}
	if tz != "Asia/Seoul" {
		t.Errorf("timezone = %q, want Asia/Seoul", tz)
	}
}

// A database that cannot be reached is "unavailable" (503), quickly.
func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	pool, err := db.Open(context.Background(), config.DB{URL: "postgres://postgres@" + addr + "/x?sslmode=disable", MaxConns: 2})
	if err != nil {
		t.Fatal(err) // Open must not dial
	}
	defer pool.Close()
	start := time.Now()
	var one int
	err = db.Wrap("select", pool.QueryRow(context.Background(), `SELECT 1`).Scan(&one))
	if e := httpx.AsError(err); e.Status() != 503 {
		t.Errorf("status = %d for %v, want 503", e.Status(), err)
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("took %v, want a quick failure", d)
	}
}
