-- Schema of the Bill-Inquiry service (SPEC §6.2, §5.2). Redis is its cache
-- and env vars its config, so the design's cache/config tables are absent.
-- Line numbers are the 11-digit form; months are YYYYMM.

-- +goose Up
CREATE SCHEMA IF NOT EXISTS bill_inquiry;

-- One row per inquiry ("요청 이력 MVNO→MP"); a cache hit is inserted
-- already COMPLETED.
CREATE TABLE IF NOT EXISTS bill_inquiry.bill_inquiry_history (
    id             BIGSERIAL   PRIMARY KEY,
    request_id     VARCHAR(50) NOT NULL UNIQUE,
    user_id        VARCHAR(50) NOT NULL,
    line_number    VARCHAR(11) NOT NULL,
    inquiry_month  CHAR(6)     NOT NULL,
    request_time   TIMESTAMP   NOT NULL,
    process_time   TIMESTAMP,
    status         VARCHAR(20) NOT NULL,
    result_code    VARCHAR(20),
    result_summary TEXT,
    cache_hit      BOOLEAN     NOT NULL DEFAULT false,
    bill_info_json JSONB,
    error_message  TEXT,
    created_at     TIMESTAMP   NOT NULL DEFAULT (now() AT TIME ZONE 'Asia/Seoul'),
    updated_at     TIMESTAMP   NOT NULL DEFAULT (now() AT TIME ZONE 'Asia/Seoul'),
    CONSTRAINT bill_inquiry_history_status_check CHECK (status IN ('PROCESSING', 'COMPLETED', 'FAILED'))
);
-- History pages: a line's (or a user's) newest requests first.
CREATE INDEX IF NOT EXISTS bill_inquiry_history_line_time_idx
    ON bill_inquiry.bill_inquiry_history (line_number, request_time DESC);
CREATE INDEX IF NOT EXISTS bill_inquiry_history_user_time_idx
    ON bill_inquiry.bill_inquiry_history (user_id, request_time DESC);
CREATE INDEX IF NOT EXISTS bill_inquiry_history_status_idx
    ON bill_inquiry.bill_inquiry_history (status);

-- One row per KOS attempt of an inquiry ("처리 이력 MP→KOS"), retries included.
CREATE TABLE IF NOT EXISTS bill_inquiry.kos_inquiry_history (
    id              BIGSERIAL   PRIMARY KEY,
    bill_request_id VARCHAR(50) NOT NULL
        REFERENCES bill_inquiry.bill_inquiry_history (request_id) ON DELETE CASCADE,
    line_number     VARCHAR(11),
    inquiry_month   CHAR(6),
    request_time    TIMESTAMP,
    response_time   TIMESTAMP,
    result_code     VARCHAR(10),
    result_message  TEXT,
    kos_data_json   JSONB,
    error_detail    TEXT,
    retry_count     INT         NOT NULL DEFAULT 0,
    created_at      TIMESTAMP   NOT NULL DEFAULT (now() AT TIME ZONE 'Asia/Seoul')
);
-- Also serves the FK's cascade from the parent row.
CREATE INDEX IF NOT EXISTS kos_inquiry_history_request_idx
    ON bill_inquiry.kos_inquiry_history (bill_request_id);
CREATE INDEX IF NOT EXISTS kos_inquiry_history_line_month_idx
    ON bill_inquiry.kos_inquiry_history (line_number, inquiry_month);

-- +goose Down
DROP SCHEMA IF EXISTS bill_inquiry CASCADE;
