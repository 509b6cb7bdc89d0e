-- Every "now", "current month" and TIMESTAMP column is Asia/Seoul wall clock
-- (SPEC §10.2). The setting lives on the database, not on each connection:
-- a per-connection SET would be lost behind PgBouncer's transaction pooling.
-- It applies to sessions opened after this migration.

-- +goose Up
-- +goose StatementBegin
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET timezone TO %L', current_database(), 'Asia/Seoul'); END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET timezone', current_database()); END $$;
-- +goose StatementEnd
