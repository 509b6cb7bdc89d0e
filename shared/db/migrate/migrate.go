// Package migrate creates the database and applies the embedded goose
// migrations and seed. Only the all-in-one and the migrate Job import it, so
// function binaries do not carry the SQL files.
package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"phonebill/shared/config"
	"phonebill/shared/db"

	sqlfiles "phonebill/sql"
)

// EnsureDatabase creates the database named in connString when it is
// missing, connecting to the server's "postgres" database to do so.
func EnsureDatabase(ctx context.Context, connString string) error {
	u, err := url.Parse(connString)
	if err != nil {
		return fmt.Errorf("db: parse url: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return fmt.Errorf("db: DATABASE_URL names no database")
	}
	admin := *u
	admin.Path = "/postgres"
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return db.Wrap("connect to create database", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return db.Wrap("look up database", err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	if err != nil && !db.IsUniqueViolation(err, "") && !strings.Contains(err.Error(), "already exists") {
		return db.Wrap("create database "+name, err)
	}
	return nil
}

// Up applies the embedded migrations (goose) and then the idempotent
// seed scripts, in file-name order.
func Up(ctx context.Context, pool *pgxpool.Pool, withSeed bool) error {
	sqlDB := stdlib.OpenDBFromPool(pool)
	defer sqlDB.Close()
	if err := migrateUp(ctx, sqlDB); err != nil {
		return err
	}
	if withSeed {
		return Seed(ctx, pool)
	}
	return nil
}

func migrateUp(ctx context.Context, sqlDB *sql.DB) error {
	migrations, err := fs.Sub(sqlfiles.Migrations, "migrations")
	if err != nil {
		return err
	}
	// A session-level advisory lock makes concurrent starts (several pods, or
	// the Job and make run) apply migrations once.
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations,
		goose.WithSessionLocker(mustLocker()))
	if err != nil {
		return fmt.Errorf("db: goose provider: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return db.Wrap("migrate", err)
	}
	return nil
}

// Seed runs every seed script; they are idempotent (ON CONFLICT DO NOTHING).
func Seed(ctx context.Context, pool *pgxpool.Pool) error {
	names, err := fs.Glob(sqlfiles.Seed, "seed/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := sqlfiles.Seed.ReadFile(n)
		if err != nil {
			return err
		}
		// Simple protocol: a seed file holds many statements.
		if _, err := pool.Exec(ctx, string(b), pgx.QueryExecModeSimpleProtocol); err != nil {
			return db.Wrap("seed "+n, err)
		}
	}
	return nil
}

// Prepare creates the database at url when it is missing and applies the
// migrations and the seed over a small pool of its own, closed on return:
// for the bench runs, which set a database up before starting the processes
// that use it.
func Prepare(ctx context.Context, url string) error {
	if err := EnsureDatabase(ctx, url); err != nil {
		return err
	}
	pool, err := db.Open(ctx, config.DB{URL: url, MaxConns: 2})
	if err != nil {
		return err
	}
	defer pool.Close()
	return Up(ctx, pool, true)
}
