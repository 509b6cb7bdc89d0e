-- Schema of the Product-Change service (SPEC §6.3, §5.4, §10.5, §10.6).
-- Line numbers are the 11-digit form.
--
-- The request's lifecycle instants (requested_at, validated_at, processed_at,
-- last_attempt_at) and the event plumbing use TIMESTAMPTZ: the sweep and the
-- 24 h limits compare them with now() and must not depend on a session's
-- TimeZone. Plain created_at/updated_at stay Asia/Seoul TIMESTAMP like every
-- other schema.

-- +goose Up
CREATE SCHEMA IF NOT EXISTS product_change;

CREATE TABLE IF NOT EXISTS product_change.pc_product_change_history (
    id                   BIGSERIAL   PRIMARY KEY,
    request_id           VARCHAR(50) NOT NULL UNIQUE, -- also the KOS requestId, KOS's idempotency key
    line_number          VARCHAR(11) NOT NULL,
    customer_id          VARCHAR(50) NOT NULL,
    user_id              VARCHAR(50) NOT NULL,
    current_product_code VARCHAR(50) NOT NULL,
    target_product_code  VARCHAR(50) NOT NULL,
    process_status       VARCHAR(20) NOT NULL DEFAULT 'REQUESTED',
    validation_result    JSONB,
    result_code          VARCHAR(20),
    process_message      TEXT,
    kos_request_data     JSONB,
    kos_response_data    JSONB,
    requested_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    validated_at         TIMESTAMPTZ,
    processed_at         TIMESTAMPTZ,
    -- Stamped by the synchronous path and by every worker attempt; the sweep
    -- re-emits PENDING rows whose last attempt is older than a minute.
    last_attempt_at      TIMESTAMPTZ,
    created_at           TIMESTAMP   NOT NULL DEFAULT (now() AT TIME ZONE 'Asia/Seoul'),
    updated_at           TIMESTAMP   NOT NULL DEFAULT (now() AT TIME ZONE 'Asia/Seoul'),
    -- Bumped by every status transition (optimistic concurrency).
    version              BIGINT      NOT NULL DEFAULT 0,
    CONSTRAINT pc_product_change_history_process_status_check CHECK (process_status IN
        ('REQUESTED', 'VALIDATED', 'PROCESSING', 'PENDING', 'COMPLETED', 'FAILED'))
);
-- History pages: newest first, per line, per customer or per user.
CREATE INDEX IF NOT EXISTS pc_history_line_time_idx
    ON product_change.pc_product_change_history (line_number, requested_at DESC);
CREATE INDEX IF NOT EXISTS pc_history_customer_time_idx
    ON product_change.pc_product_change_history (customer_id, requested_at DESC);
CREATE INDEX IF NOT EXISTS pc_history_user_time_idx
    ON product_change.pc_product_change_history (user_id, requested_at DESC);
-- Also finds rows PENDING for more than 24 h (moved to FAILED).
CREATE INDEX IF NOT EXISTS pc_history_status_time_idx
    ON product_change.pc_product_change_history (process_status, requested_at DESC);
-- The relay's minute sweep: only the few PENDING rows are indexed.
CREATE INDEX IF NOT EXISTS pc_history_pending_sweep_idx
    ON product_change.pc_product_change_history (process_status, last_attempt_at)
    WHERE process_status = 'PENDING';

-- Optional per-call log of KOS exchanges.
CREATE TABLE IF NOT EXISTS product_change.pc_kos_integration_log (
    id               BIGSERIAL    PRIMARY KEY,
    request_id       VARCHAR(50),
    integration_type VARCHAR(30),  -- CUSTOMER_INFO, PRODUCT_INFO, PRODUCT_CHANGE
    method           VARCHAR(10),
    endpoint_url     VARCHAR(500),
    request_body     JSONB,
    response_status  INT,
    response_body    JSONB,
    response_time_ms INT,
    is_success       BOOLEAN      NOT NULL DEFAULT false,
    error_message    TEXT,
    retry_count      INT          NOT NULL DEFAULT 0,
    created_at       TIMESTAMP    NOT NULL DEFAULT (now() AT TIME ZONE 'Asia/Seoul')
);
CREATE INDEX IF NOT EXISTS pc_kos_integration_log_request_idx
    ON product_change.pc_kos_integration_log (request_id);

-- Idempotency-Key of POST /products/change, scoped per user, kept 24 h
-- (§10.5). The first request inserts the row with NULL response and
-- status_code ("still running") and fills both when it answers.
CREATE TABLE IF NOT EXISTS product_change.idempotency_keys (
    user_id      VARCHAR(50) NOT NULL,
    key          VARCHAR(64) NOT NULL,
    request_hash TEXT        NOT NULL,  -- a different body under the same key → 422
    response     JSONB,
    status_code  INT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (user_id, key),
    -- Half a stored answer would replay as a broken response.
    CONSTRAINT idempotency_keys_complete_check CHECK ((response IS NULL) = (status_code IS NULL))
);
-- Purge of keys older than 24 h.
CREATE INDEX IF NOT EXISTS idempotency_keys_created_idx ON product_change.idempotency_keys (created_at);

-- Transactional outbox: a row commits with the status change it announces
-- and is published afterwards (id = the CloudEvent id).
CREATE TABLE IF NOT EXISTS product_change.outbox (
    id           UUID        PRIMARY KEY,
    type         TEXT        NOT NULL,
    source       TEXT        NOT NULL,
    subject      TEXT,
    data         JSONB       NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at TIMESTAMPTZ,
    attempts     INT         NOT NULL DEFAULT 0
);
-- The relay reads unpublished rows oldest first; published rows, the vast
-- majority, stay out of the index.
CREATE INDEX IF NOT EXISTS outbox_unpublished_idx
    ON product_change.outbox (created_at, id)
    WHERE published_at IS NULL;

-- Events the change worker consumed; inserted in the same transaction as the
-- status change so a redelivery is recognised.
CREATE TABLE IF NOT EXISTS product_change.processed_events (
    source       TEXT        NOT NULL,
    id           TEXT        NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT processed_events_pkey PRIMARY KEY (source, id)
);

-- Undeliverable events (any Trigger) and changes given up after 24 h, kept
-- for an operator. event is NULL when what arrived was not JSON.
CREATE TABLE IF NOT EXISTS product_change.dead_letters (
    id          BIGSERIAL   PRIMARY KEY,
    event       JSONB,
    error       TEXT,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- +goose Down
DROP SCHEMA IF EXISTS product_change CASCADE;
