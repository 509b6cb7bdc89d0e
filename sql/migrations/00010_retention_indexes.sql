-- The retention purge (functions/retention) finds rows past retention by
-- their age column: each such column without a leading index gets one, so a
-- purge batch reads what it deletes instead of scanning the table. Built
-- CONCURRENTLY (outside a transaction) so that writes go on meanwhile; a
-- build that failed leaves an INVALID index to drop by hand before a re-run.

-- +goose NO TRANSACTION
-- +goose Up
CREATE INDEX CONCURRENTLY IF NOT EXISTS auth_login_history_attempted_idx
    ON auth.auth_login_history (attempted_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS bill_inquiry_history_created_idx
    ON bill_inquiry.bill_inquiry_history (created_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS kos_inquiry_history_created_idx
    ON bill_inquiry.kos_inquiry_history (created_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS pc_kos_integration_log_created_idx
    ON product_change.pc_kos_integration_log (created_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS outbox_published_idx
    ON product_change.outbox (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS processed_events_processed_idx
    ON product_change.processed_events (processed_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS dead_letters_received_idx
    ON product_change.dead_letters (received_at);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS auth.auth_login_history_attempted_idx;
DROP INDEX CONCURRENTLY IF EXISTS bill_inquiry.bill_inquiry_history_created_idx;
DROP INDEX CONCURRENTLY IF EXISTS bill_inquiry.kos_inquiry_history_created_idx;
DROP INDEX CONCURRENTLY IF EXISTS product_change.pc_kos_integration_log_created_idx;
DROP INDEX CONCURRENTLY IF EXISTS product_change.outbox_published_idx;
DROP INDEX CONCURRENTLY IF EXISTS product_change.processed_events_processed_idx;
DROP INDEX CONCURRENTLY IF EXISTS product_change.dead_letters_received_idx;
