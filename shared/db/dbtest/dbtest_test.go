package dbtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestOtherRunsTemplatesSurvive is two checkouts with different SQL on one
// PostgreSQL: another run's template (another content hash) is kept while
// it was used recently or while anyone is connected to it, and dropped only
// when it has been idle past templateIdle with nobody connected.
func TestOtherRunsTemplatesSurvive(t *testing.T) {
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	other := "pbt_tmpl_" + randHex(8) + "_other"
	ident := pgx.Identifier{other}.Sanitize()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)") })
	stamp := func(at time.Time) {
		t.Helper()
		if _, err := admin.Exec(ctx, fmt.Sprintf("COMMENT ON DATABASE %s IS 'pbt used %d'", ident, at.Unix())); err != nil {
			t.Fatal(err)
		}
	}
	exists := func() bool {
		var ok bool
		if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, other).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	keep := "pbt_tmpl_" + contentHash() + "_" + time.Now().Format("200601")

	// Used a minute ago by the other run: kept.
	stamp(time.Now().Add(-time.Minute))
	if err := dropStaleTemplates(ctx, admin, keep); err != nil || !exists() {
		t.Fatalf("a recently used template of another run was dropped (%v)", err)
	}
	// Idle for long, but the other run is connected to it (cloning): kept.
	stamp(time.Now().Add(-templateIdle - time.Hour))
	conn, err := pgx.Connect(ctx, withDB(AdminURL(), other))
	if err != nil {
		t.Fatal(err)
	}
	if err := dropStaleTemplates(ctx, admin, keep); err != nil || !exists() {
		t.Fatalf("a template in use by another run was dropped (%v)", err)
	}
	conn.Close(ctx)
	// Idle and nobody connected: dropped. PostgreSQL may take a moment to
	// forget the closed session.
	deadline := time.Now().Add(10 * time.Second)
	for exists() {
		if err := dropStaleTemplates(ctx, admin, keep); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("a stale, unused template was kept")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
