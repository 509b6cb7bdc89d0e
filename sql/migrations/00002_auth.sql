-- Schema of the Auth service (SPEC §6.1, §4.1–4.3, §10.4). Other services
-- only read auth_revoked_tokens (one primary-key lookup, §4.2).
--
-- TIMESTAMP columns hold Asia/Seoul wall clock. Their defaults name the zone
-- instead of relying on the session's TimeZone, so a connection that lacks
-- the setting (e.g. a database cloned from a template, which does not inherit
-- ALTER DATABASE settings) still writes Seoul time.

-- +goose Up
CREATE SCHEMA IF NOT EXISTS auth;

CREATE TABLE IF NOT EXISTS auth.auth_users (
    user_id                  VARCHAR(50)  NOT NULL,
    password_hash            VARCHAR(255) NOT NULL,           -- bcrypt, cost 10–12
    password_salt            VARCHAR(100),                    -- unused; bcrypt carries its salt
    customer_id              VARCHAR(50)  NOT NULL,
    line_number              VARCHAR(20)  NOT NULL,           -- dashed: 010-XXXX-XXXX
    -- Uniqueness and by-line lookups use the 11-digit form, so two spellings
    -- of one line cannot both be registered.
    line_number_digits       VARCHAR(11)  NOT NULL GENERATED ALWAYS AS (replace(line_number, '-', '')) STORED,
    user_name                VARCHAR(100),
    account_status           VARCHAR(20)  NOT NULL DEFAULT 'ACTIVE',
    failed_login_count       INT          NOT NULL DEFAULT 0, -- legacy; auth_login_attempts is the counter of record
    last_failed_login_at     TIMESTAMP,
    account_locked_until     TIMESTAMP,
    last_login_at            TIMESTAMP,
    last_password_changed_at TIMESTAMP,
    created_at               TIMESTAMP    NOT NULL DEFAULT (now() AT TIME ZONE 'Asia/Seoul'),
    updated_at               TIMESTAMP    NOT NULL DEFAULT (now() AT TIME ZONE 'Asia/Seoul'),
    -- Constraint names are spelled out: registration maps each unique
    -- violation to its own 409 code (§10.7).
    CONSTRAINT auth_users_pkey PRIMARY KEY (user_id),
    CONSTRAINT auth_users_customer_id_key UNIQUE (customer_id),
    CONSTRAINT auth_users_line_number_key UNIQUE (line_number),
    CONSTRAINT auth_users_line_number_digits_key UNIQUE (line_number_digits),
    -- The normalized form must be a real line (010 + 8 digits); this also
    -- keeps it within VARCHAR(11).
    CONSTRAINT auth_users_line_number_check CHECK (replace(line_number, '-', '') ~ '^010[0-9]{8}$'),
    CONSTRAINT auth_users_account_status_check
        CHECK (account_status IN ('ACTIVE', 'LOCKED', 'SUSPENDED', 'INACTIVE'))
);

CREATE TABLE IF NOT EXISTS auth.auth_permissions (
    permission_id          SERIAL       PRIMARY KEY,
    permission_code        VARCHAR(50)  NOT NULL UNIQUE,
    permission_name        VARCHAR(100),
    permission_description TEXT,
    service_code           VARCHAR(30),
    is_active              BOOLEAN      NOT NULL DEFAULT true,
    created_at             TIMESTAMP    NOT NULL DEFAULT (now() AT TIME ZONE 'Asia/Seoul'),
    updated_at             TIMESTAMP    NOT NULL DEFAULT (now() AT TIME ZONE 'Asia/Seoul')
);

CREATE TABLE IF NOT EXISTS auth.auth_user_permissions (
    user_permission_id SERIAL      PRIMARY KEY,
    user_id            VARCHAR(50) NOT NULL REFERENCES auth.auth_users (user_id) ON DELETE CASCADE,
    permission_id      INT         NOT NULL REFERENCES auth.auth_permissions (permission_id),
    granted            BOOLEAN     NOT NULL DEFAULT true,
    granted_by         VARCHAR(50),
    granted_at         TIMESTAMP   DEFAULT (now() AT TIME ZONE 'Asia/Seoul'),
    expires_at         TIMESTAMP,
    created_at         TIMESTAMP   NOT NULL DEFAULT (now() AT TIME ZONE 'Asia/Seoul'),
    updated_at         TIMESTAMP   NOT NULL DEFAULT (now() AT TIME ZONE 'Asia/Seoul'),
    CONSTRAINT auth_user_permissions_user_id_permission_id_key UNIQUE (user_id, permission_id)
);
-- Token issuance reads a user's granted permissions.
CREATE INDEX IF NOT EXISTS auth_user_permissions_user_granted_idx
    ON auth.auth_user_permissions (user_id, granted);
-- Lets a permission be deleted or listed without scanning every grant.
CREATE INDEX IF NOT EXISTS auth_user_permissions_permission_idx
    ON auth.auth_user_permissions (permission_id);

-- One row per login or refresh. A refresh creates a new row in the same
-- family (family_id = the first session's id) and stamps rotated_at on the
-- old one; presenting a rotated refresh token revokes the family (§10.4).
CREATE TABLE IF NOT EXISTS auth.auth_user_sessions (
    session_id         VARCHAR(100)  PRIMARY KEY,
    user_id            VARCHAR(50)   NOT NULL REFERENCES auth.auth_users (user_id) ON DELETE CASCADE,
    access_jti         VARCHAR(64),
    refresh_jti        VARCHAR(64),
    session_token      VARCHAR(1000),
    refresh_token      VARCHAR(1000),
    client_ip          VARCHAR(45),  -- fits an IPv6 text form
    user_agent         TEXT,
    auto_login_enabled BOOLEAN       NOT NULL DEFAULT false,
    expires_at         TIMESTAMP     NOT NULL,             -- the refresh token's expiry
    is_active          BOOLEAN       NOT NULL DEFAULT true,
    family_id          VARCHAR(100)  NOT NULL,
    rotated_at         TIMESTAMP,
    last_accessed_at   TIMESTAMP,
    created_at         TIMESTAMP     NOT NULL DEFAULT (now() AT TIME ZONE 'Asia/Seoul'),
    updated_at         TIMESTAMP     NOT NULL DEFAULT (now() AT TIME ZONE 'Asia/Seoul')
);
CREATE INDEX IF NOT EXISTS auth_user_sessions_user_active_idx ON auth.auth_user_sessions (user_id, is_active);
CREATE INDEX IF NOT EXISTS auth_user_sessions_refresh_jti_idx ON auth.auth_user_sessions (refresh_jti);
-- Logout finds the session from the access token it was called with.
CREATE INDEX IF NOT EXISTS auth_user_sessions_access_jti_idx ON auth.auth_user_sessions (access_jti);
CREATE INDEX IF NOT EXISTS auth_user_sessions_family_idx ON auth.auth_user_sessions (family_id);
CREATE INDEX IF NOT EXISTS auth_user_sessions_expires_idx ON auth.auth_user_sessions (expires_at);

-- Failure counting and locks per submitted id, existing or not, so unknown
-- and real ids behave alike (§4.1). No FK to auth_users on purpose.
CREATE TABLE IF NOT EXISTS auth.auth_login_attempts (
    user_id        VARCHAR(50) PRIMARY KEY,
    failed_count   INT         NOT NULL DEFAULT 0,
    last_failed_at TIMESTAMP,
    locked_until   TIMESTAMP
);

-- Authoritative revocation list (§4.2); Redis mirrors it (§10.3). No FK: a
-- revocation must hold until its token expires, whatever happens to the user.
CREATE TABLE IF NOT EXISTS auth.auth_revoked_tokens (
    jti        VARCHAR(64) PRIMARY KEY,
    user_id    VARCHAR(50),
    reason     VARCHAR(30) NOT NULL,
    expires_at TIMESTAMP   NOT NULL,
    revoked_at TIMESTAMP   NOT NULL DEFAULT (now() AT TIME ZONE 'Asia/Seoul'),
    CONSTRAINT auth_revoked_tokens_reason_check
        CHECK (reason IN ('LOGOUT', 'LOGOUT_ALL', 'PASSWORD_CHANGED', 'ROTATED', 'REUSE_DETECTED'))
);
-- The mirror rebuild scans unexpired rows, and purges drop expired ones.
CREATE INDEX IF NOT EXISTS auth_revoked_tokens_expires_idx ON auth.auth_revoked_tokens (expires_at);
-- After a rebuild, the rows revoked while it scanned are re-read by revoked_at.
CREATE INDEX IF NOT EXISTS auth_revoked_tokens_revoked_idx ON auth.auth_revoked_tokens (revoked_at);

-- Audit log of logins and logouts. Values are not constrained: recording an
-- attempt must never be the reason a login fails. No FK: unknown ids are
-- logged too.
CREATE TABLE IF NOT EXISTS auth.auth_login_history (
    history_id     SERIAL       PRIMARY KEY,
    user_id        VARCHAR(50),
    login_type     VARCHAR(20),  -- LOGIN, LOGOUT, AUTO_LOGIN
    login_status   VARCHAR(20),  -- SUCCESS, FAILURE, LOCKED
    client_ip      VARCHAR(45),
    user_agent     TEXT,
    failure_reason TEXT,
    session_id     VARCHAR(100),
    attempted_at   TIMESTAMP    NOT NULL DEFAULT (now() AT TIME ZONE 'Asia/Seoul')
);
CREATE INDEX IF NOT EXISTS auth_login_history_user_attempted_idx
    ON auth.auth_login_history (user_id, attempted_at);

-- +goose Down
DROP SCHEMA IF EXISTS auth CASCADE;
