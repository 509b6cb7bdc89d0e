-- Schema of KOS-Mock, the stand-in for the carrier's core system (SPEC §6.4,
-- §3.4, §5.6). Line numbers are the 11-digit form; months are YYYYMM and due
-- dates YYYYMMDD, stored as text because KOS answers them as text.

-- +goose Up
CREATE SCHEMA IF NOT EXISTS kos_mock;

CREATE TABLE IF NOT EXISTS kos_mock.products (
    product_code    VARCHAR(50)  PRIMARY KEY,
    product_name    VARCHAR(100) NOT NULL,
    monthly_fee     INT          NOT NULL,
    -- Allowances are display text ('100GB', '무제한', '기본 제공'), as KOS sends them.
    data_allowance  VARCHAR(20),
    voice_allowance VARCHAR(20),
    sms_allowance   VARCHAR(20),
    operator_code   VARCHAR(10)  NOT NULL,
    network_type    VARCHAR(10)  NOT NULL,
    status          VARCHAR(20)  NOT NULL,
    description     VARCHAR(200),
    created_at      TIMESTAMP    NOT NULL DEFAULT (now() AT TIME ZONE 'Asia/Seoul'),
    updated_at      TIMESTAMP    NOT NULL DEFAULT (now() AT TIME ZONE 'Asia/Seoul'),
    CONSTRAINT products_status_check CHECK (status IN ('ACTIVE', 'DISCONTINUED'))
);

CREATE TABLE IF NOT EXISTS kos_mock.customers (
    line_number          VARCHAR(11)  PRIMARY KEY,
    customer_id          VARCHAR(50)  NOT NULL,
    customer_name        VARCHAR(100),
    operator_code        VARCHAR(10)  NOT NULL,
    current_product_code VARCHAR(50)  NOT NULL REFERENCES kos_mock.products (product_code),
    line_status          VARCHAR(20)  NOT NULL,
    contract_date        TIMESTAMP    NOT NULL,
    created_at           TIMESTAMP    NOT NULL DEFAULT (now() AT TIME ZONE 'Asia/Seoul'),
    updated_at           TIMESTAMP    NOT NULL DEFAULT (now() AT TIME ZONE 'Asia/Seoul'),
    CONSTRAINT customers_line_status_check CHECK (line_status IN ('ACTIVE', 'SUSPENDED', 'TERMINATED')),
    -- Its index, led by customer_id, also serves lookups by customer alone.
    CONSTRAINT customers_customer_id_line_number_key UNIQUE (customer_id, line_number)
);
-- Lets a product be deleted or re-priced without scanning every line.
CREATE INDEX IF NOT EXISTS customers_current_product_idx ON kos_mock.customers (current_product_code);

-- Monthly bills; mock-data creation and lazy generation add months with
-- ON CONFLICT (line_number, billing_month) DO NOTHING.
CREATE TABLE IF NOT EXISTS kos_mock.bills (
    id              BIGSERIAL    PRIMARY KEY,
    line_number     VARCHAR(11)  NOT NULL REFERENCES kos_mock.customers (line_number),
    billing_month   CHAR(6)      NOT NULL,
    product_code    VARCHAR(50),
    product_name    VARCHAR(100),
    monthly_fee     INT,
    usage_fee       INT,
    discount_amount INT          NOT NULL DEFAULT 0,
    total_fee       INT,          -- monthly_fee + usage_fee − discount_amount
    data_usage      VARCHAR(20),  -- display text: '45GB', '210분', '35건'
    voice_usage     VARCHAR(20),
    sms_usage       VARCHAR(20),
    bill_status     VARCHAR(20)  NOT NULL,
    due_date        CHAR(8),
    created_at      TIMESTAMP    NOT NULL DEFAULT (now() AT TIME ZONE 'Asia/Seoul'),
    CONSTRAINT bills_line_number_billing_month_key UNIQUE (line_number, billing_month)
);

-- KOS is idempotent on a product change's requestId: the first request
-- stores its full answer here and every repeat replays it (§3.4.5).
CREATE TABLE IF NOT EXISTS kos_mock.processing_results (
    request_id         VARCHAR(64) PRIMARY KEY,
    processing_type    VARCHAR(30),
    line_number        VARCHAR(11),
    status             VARCHAR(20),
    message            TEXT,
    response           JSONB       NOT NULL,
    requested_at       TIMESTAMP   NOT NULL DEFAULT (now() AT TIME ZONE 'Asia/Seoul'),
    completed_at       TIMESTAMP,
    processing_time_ms INT
);

-- +goose Down
DROP SCHEMA IF EXISTS kos_mock CASCADE;
