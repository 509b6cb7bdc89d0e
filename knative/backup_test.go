package knative

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"phonebill/shared/config"
	"phonebill/shared/db"
	"phonebill/shared/db/migrate"
	"phonebill/shared/testenv"
	"phonebill/shared/testenv/faults"
)

// scratchPostgres starts a throw-away PostgreSQL (faults.PostgresFor: initdb
// into a temporary folder, a free loopback port) and returns its port;
// pg_dump and pg_restore come from PATH, as in the backup image.
func scratchPostgres(t *testing.T) int {
	t.Helper()
	for _, b := range []string{"pg_dump", "pg_restore", "sh"} {
		if _, err := exec.LookPath(b); err != nil {
			testenv.Missing(t, "backup/restore test: %s not on PATH", b)
		}
	}
	return faults.PostgresFor(t).Port
}

// fingerprint is every user table's row count and a digest of its rows.
func fingerprint(t *testing.T, ctx context.Context, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	rows, err := pool.Query(ctx, `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name)
		FROM information_schema.tables
		WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, s)
	}
	rows.Close()
	out := map[string]string{}
	for _, tb := range tables {
		var n int64
		var digest string
		q := fmt.Sprintf(`SELECT count(*), coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), '') FROM %s r`, tb)
		if err := pool.QueryRow(ctx, q).Scan(&n, &digest); err != nil {
			t.Fatalf("%s: %v", tb, err)
		}
		out[tb] = fmt.Sprintf("%d rows %s", n, digest)
	}
	return out
}

func sameFingerprint(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for tb, w := range want {
		if got[tb] != w {
			t.Errorf("%s: %s is %q, want %q", what, tb, got[tb], w)
		}
	}
	for tb := range got {
		if _, ok := want[tb]; !ok {
			t.Errorf("%s: unexpected table %s", what, tb)
		}
	}
}

// script runs one of knative/infra/scripts with libpq settings for the
// scratch server.
func script(t *testing.T, root string, port int, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("sh", append([]string{filepath.Join(root, "knative/infra/scripts", name)}, args...)...)
	cmd.Env = append(os.Environ(), "PGHOST=127.0.0.1", "PGPORT="+strconv.Itoa(port), "PGUSER=postgres", "PGDATABASE=phonebill")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestBackupAndRestoreScripts runs the CronJob's pg-backup.sh and the
// restore procedure's pg-restore.sh against a scratch PostgreSQL holding
// the real migrations and seed: after damage (a truncated table, a dropped
// schema) the restore brings every row back; a corrupt dump changes
// nothing; old dumps are pruned.
func TestBackupAndRestoreScripts(t *testing.T) {
	t.Parallel()
	root := loadRepo(t).Root
	port := scratchPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := config.DB{URL: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/phonebill?sslmode=disable", port), MaxConns: 2}
	if err := migrate.EnsureDatabase(ctx, cfg.ConnString()); err != nil {
		t.Fatal(err)
	}
	pool, err := db.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := migrate.Up(ctx, pool, true); err != nil {
		t.Fatal(err)
	}
	before := fingerprint(t, ctx, pool)
	biggest, most := "", -1
	for tb, fp := range before {
		if n, _ := strconv.Atoi(strings.Fields(fp)[0]); n > most {
			biggest, most = tb, n
		}
	}
	if most < 1 {
		t.Fatalf("the seed left every table empty: %v", before)
	}

	backups := filepath.Join(t.TempDir(), "backup")
	if err := os.MkdirAll(backups, 0o755); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(backups, "phonebill-20000101T000000Z.dump")
	recent := filepath.Join(backups, "phonebill-recent.dump")
	for _, f := range []string{stale, recent} {
		if err := os.WriteFile(f, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-10 * 24 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	out, err := script(t, root, port, []string{"BACKUP_DIR=" + backups, "BACKUP_KEEP_DAYS=7"}, "pg-backup.sh")
	if err != nil {
		t.Fatalf("pg-backup.sh: %v\n%s", err, out)
	}
	dump := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	if st, err := os.Stat(dump); err != nil || st.Size() == 0 || filepath.Dir(dump) != backups {
		t.Fatalf("pg-backup.sh printed %q, not a dump in %s (%v)", dump, backups, err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a dump older than BACKUP_KEEP_DAYS was kept")
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("a recent dump was pruned: %v", err)
	}

	// Damage: empty the biggest table, drop a whole schema, change a row.
	schema := strings.SplitN(biggest, ".", 2)[0]
	var other string
	for tb := range before {
		if s := strings.SplitN(tb, ".", 2)[0]; s != schema && s != "public" {
			other = s
		}
	}
	if other == "" {
		t.Fatalf("need two schemas to damage, have %v", before)
	}
	if _, err := pool.Exec(ctx, fmt.Sprintf("DELETE FROM %s", biggest)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, fmt.Sprintf("DROP SCHEMA %s CASCADE", other)); err != nil {
		t.Fatal(err)
	}
	damaged := fingerprint(t, ctx, pool)
	if damaged[biggest] == before[biggest] {
		t.Fatal("the damage did not change anything")
	}

	// A corrupt dump is refused and changes nothing.
	corrupt := filepath.Join(t.TempDir(), "corrupt.dump")
	b, _ := os.ReadFile(dump)
	if err := os.WriteFile(corrupt, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := script(t, root, port, nil, "pg-restore.sh", corrupt); err == nil {
		t.Errorf("pg-restore.sh accepted a truncated dump:\n%s", out)
	}
	pool.Reset() // the restore drops objects pooled statements may name
	sameFingerprint(t, "after a refused restore", fingerprint(t, ctx, pool), damaged)
	if out, err := script(t, root, port, nil, "pg-restore.sh"); err == nil {
		t.Errorf("pg-restore.sh without a file succeeded:\n%s", out)
	}

	out, err = script(t, root, port, nil, "pg-restore.sh", dump)
	if err != nil {
		t.Fatalf("pg-restore.sh: %v\n%s", err, out)
	}
	pool.Reset()
	sameFingerprint(t, "after restore", fingerprint(t, ctx, pool), before)
	t.Logf("restored %d tables (%s had %d rows; schema %s was dropped)", len(before), biggest, most, other)
}
