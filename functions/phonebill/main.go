// Command phonebill is the all-in-one: every route of every service in one
// process on :8080 (make run, small clusters, demos), KOS-Mock included, with
// events delivered in-process through the same receivers the Triggers reach.
//
// `phonebill migrate` creates the database if needed, applies the migrations
// and the seed, and exits: the cluster's migrations Job runs the same image
// that way. `phonebill purge` deletes once what is past its retention
// (RETENTION_*), prints what it removed per table, and exits.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"phonebill/functions/retention"
	"phonebill/functions/routes"
	"phonebill/shared/config"
	"phonebill/shared/db/migrate"
	"phonebill/shared/fn"
)

func main() {
	if len(os.Args) > 1 {
		cmds := map[string]func() error{"migrate": migrateOnly, "purge": func() error { return purgeOnce(os.Stdout) }}
		run, ok := cmds[os.Args[1]]
		if !ok {
			fmt.Fprintf(os.Stderr, "usage: phonebill [migrate|purge]\n")
			os.Exit(2)
		}
		if err := run(); err != nil {
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

// purgeOnce is `phonebill purge`: one retention run, a line per table.
func purgeOnce(w io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	env, err := fn.NewEnv(nil)
	if err != nil {
		return err
	}
	defer env.Close()
	var s struct{ Retention retention.Settings }
	if err := config.Load(&s); err != nil {
		return err
	}
	pool, err := env.DB(ctx)
	if err != nil {
		return err
	}
	rep, err := retention.NewPurger(pool, s.Retention, nil, env.Log, nil).Run(ctx)
	rep.Print(w, env.Settings.HTTP.Location())
	fmt.Fprintf(w, "%d rows purged\n", rep.Deleted())
	return err
}
