// Package dbtest gives each test its own PostgreSQL database, cloned from a
// migrated and seeded template, so tests run in parallel against the real
// server and leave nothing behind.
package dbtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"phonebill/shared/config"
	"phonebill/shared/db"
	"phonebill/shared/db/migrate"
	sqlfiles "phonebill/sql"
)

// AdminURL is the maintenance connection (database "postgres"); TEST_DATABASE_URL
// overrides it.
func AdminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// New returns a pool on a fresh database holding the migrations and the seed,
// dropped when the test ends. -short skips the test.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	_, pool := NewWithURL(t)
	return pool
}

// NewWithURL is New that also returns the database's connection string
// (for code under test that opens its own pool).
func NewWithURL(t testing.TB) (string, *pgxpool.Pool) {
	t.Helper()
	if testing.Short() {
		t.Skip("dbtest: needs PostgreSQL; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tmpl, err := template(ctx)
	if err != nil {
		t.Fatalf("dbtest: template: %v", err)
	}
	name := "pbt_" + randHex(8)
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		t.Fatalf("dbtest: connect admin: %v", err)
	}
	defer admin.Close(ctx)
	if err := createFrom(ctx, admin, name, tmpl); err != nil {
		t.Fatalf("dbtest: create %s: %v", name, err)
	}
	connString := withDB(AdminURL(), name)
	pool, err := db.Open(ctx, config.DB{URL: connString, MaxConns: 8})
	if err != nil {
		t.Fatalf("dbtest: open: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, AdminURL())
		if err != nil {
			t.Logf("dbtest: drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("dbtest: drop %s: %v", name, err)
		}
	})
	return (config.DB{URL: connString}).ConnString(), pool
}

// createFrom clones tmpl; PostgreSQL refuses while another session is
// connected to the template, so it retries briefly.
func createFrom(ctx context.Context, admin *pgx.Conn, name, tmpl string) error {
	var err error
	for range 50 {
		_, err = admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s",
			pgx.Identifier{name}.Sanitize(), pgx.Identifier{tmpl}.Sanitize()))
		if err == nil || !strings.Contains(err.Error(), "being accessed by other users") {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// template returns the name of a database holding the current migrations and
// seed, creating it once per migration set and Seoul month (the seed's bills
// are relative to the month), under an advisory lock shared by every test
// binary running at the same time.
func template(ctx context.Context) (string, error) {
	name := "pbt_tmpl_" + contentHash() + "_" + time.Now().In(db.Seoul).Format("200601")
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		return "", fmt.Errorf("connect admin: %w", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(4801202612)"); err != nil {
		return "", err
	}
	defer admin.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(4801202612)")
	var ready bool
	err = admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)`, name).Scan(&ready)
	if err != nil {
		return "", err
	}
	if ready {
		return name, markUsed(ctx, admin, name)
	}
	if err := dropStaleTemplates(ctx, admin, name); err != nil {
		return "", err
	}
	// A half-built template from a crashed run is rebuilt.
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", err
	}
	pool, err := db.Open(ctx, config.DB{URL: withDB(AdminURL(), name), MaxConns: 2})
	if err != nil {
		return "", err
	}
	err = migrate.Up(ctx, pool, true)
	pool.Close()
	if err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	if _, err = admin.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH IS_TEMPLATE true"); err != nil {
		return "", err
	}
	return name, markUsed(ctx, admin, name)
}

// templateIdle is how long a template may go unused before another run drops
// it. Two checkouts with different SQL (a developer beside CI) share one
// PostgreSQL: each keeps its own template, and neither drops the other's
// while it is in use.
const templateIdle = 6 * time.Hour

// markUsed stamps the template's last use in its comment (the only per-database
// note PostgreSQL keeps), read back by dropStaleTemplates.
func markUsed(ctx context.Context, admin *pgx.Conn, name string) error {
	_, err := admin.Exec(ctx, fmt.Sprintf("COMMENT ON DATABASE %s IS 'pbt used %d'",
		pgx.Identifier{name}.Sanitize(), time.Now().Unix()))
	return err
}

// dropStaleTemplates drops the templates of other SQL or months that no run
// has used for templateIdle and that nobody is connected to; a template
// without a use stamp counts as unused since the epoch.
func dropStaleTemplates(ctx context.Context, admin *pgx.Conn, keep string) error {
	rows, err := admin.Query(ctx, `
		SELECT d.datname
		  FROM pg_database d
		  LEFT JOIN pg_shdescription c ON c.objoid = d.oid AND c.classoid = 'pg_database'::regclass
		 WHERE d.datname LIKE 'pbt\_tmpl\_%' AND d.datname <> $1
		   AND COALESCE(substring(c.description FROM '^pbt used ([0-9]+)$')::bigint, 0) < $2
		   AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)`,
		keep, time.Now().Add(-templateIdle).Unix())
	if err != nil {
		return err
	}
	stale, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, s := range stale {
		_, _ = admin.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{s}.Sanitize()+" WITH IS_TEMPLATE false")
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{s}.Sanitize())
	}
	return nil
}

func contentHash() string {
	h := sha256.New()
	for _, fsys := range []fs.FS{sqlfiles.Migrations, sqlfiles.Seed} {
		var names []string
		_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				names = append(names, p)
			}
			return nil
		})
		sort.Strings(names)
		for _, n := range names {
			b, _ := fs.ReadFile(fsys, n)
			h.Write([]byte(n))
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func withDB(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + name
	return u.String()
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
