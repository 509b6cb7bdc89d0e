// Package sqlfiles embeds the database migrations and seed data so that every
// binary (the all-in-one, the migrate Job, the test helpers) applies exactly the
// same files. It lives in its own module because go:embed cannot reach outside
// the module that holds the files.
package sqlfiles

import "embed"

// Migrations holds the goose migrations, one schema per service, applied in
// file-name order.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Seed holds the idempotent seed scripts (ON CONFLICT DO NOTHING), applied in
// file-name order after the migrations. Bills are generated relative to the
// current month in Asia/Seoul, so re-running the seed tops up recent months.
//
//go:embed seed/*.sql
var Seed embed.FS
