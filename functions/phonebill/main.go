// Command phonebill is the all-in-one: every route of every service in one
// process on :8080 (make run, small clusters, demos), KOS-Mock included, with
// events delivered in-process through the same receivers the Triggers reach.
//
// `phonebill migrate` creates the database if needed, applies the migrations
// and the seed, and exits: the cluster's migrations Job runs the same image
// that way.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"phonebill/functions/routes"
	"phonebill/shared/db/migrate"
	"phonebill/shared/fn"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "migrate" {
		if err := migrateOnly(); err != nil {
			fmt.Fprintln(os.Stderr, "fatal:", err)
			os.Exit(1)
		}
		return
	}
	fn.MainAll(fn.Options{LocalEvents: true, BeforeServe: migrateOnStart}, append(routes.All(), apiDocs())...)
}

// migrateOnStart creates the database and applies migrations and seed when
// MIGRATE_ON_START is set (make run); in the cluster the Job migrates.
func migrateOnStart(ctx context.Context, env *fn.Env) error {
	if !env.Settings.DB.MigrateOnStart {
		return nil
	}
	return applyMigrations(ctx, env)
}

func applyMigrations(ctx context.Context, env *fn.Env) error {
	if err := migrate.EnsureDatabase(ctx, env.Settings.DB.ConnString()); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	pool, err := env.DB(ctx)
	if err != nil {
		return err
	}
	if err := migrate.Up(ctx, pool, true); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	env.Log.Info("migrations and seed applied")
	return nil
}

func migrateOnly() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	env, err := fn.NewEnv(nil)
	if err != nil {
		return err
	}
	defer env.Close()
	return applyMigrations(ctx, env)
}
