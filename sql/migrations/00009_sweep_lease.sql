-- The outbox sweep runs while there is work and stops when there is none, so
-- an idle system keeps no relay pod. At most one sweep runs at a time: the
-- sweep that holds this lease (renewed every few seconds, with an expiry so
-- that a sweep whose pod died is replaced) is the one that loops; any other
-- request to sweep sees the lease and returns at once.

-- +goose Up
CREATE TABLE IF NOT EXISTS product_change.sweep_lease (
    name       VARCHAR(30) PRIMARY KEY,
    holder     VARCHAR(64) NOT NULL DEFAULT '',
    expires_at TIMESTAMPTZ NOT NULL DEFAULT '-infinity'
);
INSERT INTO product_change.sweep_lease (name) VALUES ('outbox-sweep') ON CONFLICT (name) DO NOTHING;

-- +goose Down
DROP TABLE IF EXISTS product_change.sweep_lease;
