package migrate_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"

	"phonebill/shared/config"
	"phonebill/shared/db"
	"phonebill/shared/db/dbtest"
	"phonebill/shared/db/migrate"
)

// From an absent database: EnsureDatabase creates it, Up migrates and seeds;
// running both again changes nothing.
func TestEnsureAndUpAreIdempotent(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Parallel()
	ctx := context.Background()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "pbt_mig_" + hex.EncodeToString(b)
	u, _ := url.Parse(dbtest.AdminURL())
	u.Path = "/" + name
	conn := config.DB{URL: u.String(), MaxConns: 2}.ConnString()
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, dbtest.AdminURL())
		if err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	counts := func() map[string]int {
		pool, err := db.Open(ctx, config.DB{URL: conn, MaxConns: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		out := map[string]int{}
		for _, tbl := range []string{"auth.auth_users", "auth.auth_permissions", "auth.auth_user_permissions",
			"kos_mock.products", "kos_mock.customers", "kos_mock.bills", "goose_db_version"} {
			var n int
			if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+tbl).Scan(&n); err != nil {
				t.Fatalf("count %s: %v", tbl, err)
			}
			out[tbl] = n
		}
		return out
	}
	apply := func() {
		if err := migrate.EnsureDatabase(ctx, conn); err != nil {
			t.Fatal(err)
		}
		pool, err := db.Open(ctx, config.DB{URL: conn, MaxConns: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		if err := migrate.Up(ctx, pool, true); err != nil {
			t.Fatal(err)
		}
	}
	apply()
	first := counts()
	want := map[string]int{"auth.auth_users": 6, "auth.auth_permissions": 4, "kos_mock.products": 6,
		"kos_mock.customers": 6, "kos_mock.bills": 36}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("%s = %d rows, want %d", k, first[k], v)
		}
	}
	apply()
	second := counts()
	for k, v := range first {
		if second[k] != v {
			t.Errorf("after a second run %s = %d rows, want %d (no-op)", k, second[k], v)
		}
	}
}
