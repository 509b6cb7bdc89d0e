// Package retention is the data lifecycle: every table phonebill writes has
// a retention period, and one scheduled function (retention-purge; the
// ticker in the all-in-one; `phonebill purge` for a one-off run) deletes
// what is past it in bounded batches. docs/operations.md "Data retention"
// states the policy.
package retention

import (
	"errors"
	"fmt"
	"time"
)

// Settings are the retention periods (env RETENTION_*), with defaults a
// carrier would accept. The lower bounds keep what a guarantee still needs.
type Settings struct {
	// RevocationLeewayHours: a revoked token's row is kept this long past the
	// token's own expiry (at least 1 h: the verifier's clock-skew leeway is
	// at most 5 min, and the Redis mirror and in-memory views drop entries
	// at expiry anyway).
	RevocationLeewayHours int `envconfig:"RETENTION_REVOCATION_LEEWAY_HOURS" default:"24"`
	// SessionDays: a session row is kept this long past its refresh token's
	// expiry (reuse detection needs it only until then).
	SessionDays int `envconfig:"RETENTION_SESSION_DAYS" default:"30"`
	// LoginAttemptDays: a failure counter with no lock in force and no
	// failure for this long is dropped (the count starts again).
	LoginAttemptDays int `envconfig:"RETENTION_LOGIN_ATTEMPT_DAYS" default:"30"`
	// LoginHistoryDays: the login audit log (one year, the usual minimum for
	// access records).
	LoginHistoryDays int `envconfig:"RETENTION_LOGIN_HISTORY_DAYS" default:"365"`
	// BillHistoryDays, ChangeHistoryDays: the customer-visible histories;
	// a change is only purged once finished (COMPLETED or FAILED).
	BillHistoryDays   int `envconfig:"RETENTION_BILL_HISTORY_DAYS" default:"730"`
	ChangeHistoryDays int `envconfig:"RETENTION_CHANGE_HISTORY_DAYS" default:"1095"`
	// KOSLogDays: the KOS attempt rows of bill inquiries and plan changes.
	KOSLogDays int `envconfig:"RETENTION_KOS_LOG_DAYS" default:"90"`
	// IdempotencyHours: Idempotency-Keys (at least their 24 h dedupe window).
	IdempotencyHours int `envconfig:"RETENTION_IDEMPOTENCY_HOURS" default:"48"`
	// OutboxDays: published outbox rows (unpublished ones are never purged).
	OutboxDays int `envconfig:"RETENTION_OUTBOX_DAYS" default:"7"`
	// ProcessedEventDays: the worker's dedupe rows (at least 2 days: a
	// change is re-emitted for up to 24 h, and the broker redelivers after).
	ProcessedEventDays int `envconfig:"RETENTION_PROCESSED_EVENT_DAYS" default:"7"`
	// DeadLetterDays: dead letters, kept for an operator.
	DeadLetterDays int `envconfig:"RETENTION_DEAD_LETTER_DAYS" default:"90"`
	// Batch is the rows one DELETE removes; RunSeconds bounds one run (inside
	// the function's 30 s timeout); what is left goes at the next run.
	Batch      int `envconfig:"RETENTION_BATCH" default:"1000"`
	RunSeconds int `envconfig:"RETENTION_RUN_SECONDS" default:"20"`
}

// Validate implements config.Validator.
func (s Settings) Validate() error {
	var errs []error
	atLeast := func(name string, v, min int) {
		if v < min {
			errs = append(errs, fmt.Errorf("config: %s must be at least %d", name, min))
		}
	}
	atLeast("RETENTION_REVOCATION_LEEWAY_HOURS", s.RevocationLeewayHours, 1)
	atLeast("RETENTION_SESSION_DAYS", s.SessionDays, 1)
	atLeast("RETENTION_LOGIN_ATTEMPT_DAYS", s.LoginAttemptDays, 1)
	atLeast("RETENTION_LOGIN_HISTORY_DAYS", s.LoginHistoryDays, 1)
	atLeast("RETENTION_BILL_HISTORY_DAYS", s.BillHistoryDays, 1)
	atLeast("RETENTION_CHANGE_HISTORY_DAYS", s.ChangeHistoryDays, 1)
	atLeast("RETENTION_KOS_LOG_DAYS", s.KOSLogDays, 1)
	atLeast("RETENTION_IDEMPOTENCY_HOURS", s.IdempotencyHours, 24)
	atLeast("RETENTION_OUTBOX_DAYS", s.OutboxDays, 1)
	atLeast("RETENTION_PROCESSED_EVENT_DAYS", s.ProcessedEventDays, 2)
	atLeast("RETENTION_DEAD_LETTER_DAYS", s.DeadLetterDays, 1)
	if s.Batch < 1 || s.Batch > 100_000 {
		errs = append(errs, errors.New("config: RETENTION_BATCH must be between 1 and 100000"))
	}
	if s.RunSeconds < 1 || s.RunSeconds > 25 {
		errs = append(errs, errors.New("config: RETENTION_RUN_SECONDS must be between 1 and 25 (the function's timeout is 30 s)"))
	}
	return errors.Join(errs...)
}

// Rule is one table's retention: rows matching Where (with $1 the cutoff,
// a timestamptz, and $2 now) are past it.
type Rule struct {
	Table string
	Keep  time.Duration
	Where string
}

const day = 24 * time.Hour

// seoul turns a timestamptz parameter into the Seoul wall-clock TIMESTAMP
// the auth and bill tables store.
func seoul(param string) string { return "(" + param + "::timestamptz AT TIME ZONE 'Asia/Seoul')" }

// Rules lists every table phonebill writes that grows, in purge order (the
// KOS rows of bill inquiries before the inquiries they cascade from).
func (s Settings) Rules() []Rule {
	h := func(n int) time.Duration { return time.Duration(n) * time.Hour }
	return []Rule{
		{"auth.auth_revoked_tokens", h(s.RevocationLeewayHours), "expires_at < " + seoul("$1")},
		{"auth.auth_user_sessions", time.Duration(s.SessionDays) * day, "expires_at < " + seoul("$1")},
		{"auth.auth_login_attempts", time.Duration(s.LoginAttemptDays) * day,
			"last_failed_at < " + seoul("$1") + " AND (locked_until IS NULL OR locked_until < " + seoul("$2") + ")"},
		{"auth.auth_login_history", time.Duration(s.LoginHistoryDays) * day, "attempted_at < " + seoul("$1")},
		{"bill_inquiry.kos_inquiry_history", time.Duration(s.KOSLogDays) * day, "created_at < " + seoul("$1")},
		{"bill_inquiry.bill_inquiry_history", time.Duration(s.BillHistoryDays) * day, "created_at < " + seoul("$1")},
		{"product_change.pc_kos_integration_log", time.Duration(s.KOSLogDays) * day, "created_at < " + seoul("$1")},
		{"product_change.pc_product_change_history", time.Duration(s.ChangeHistoryDays) * day,
			"requested_at < $1::timestamptz AND process_status IN ('COMPLETED', 'FAILED')"},
		{"product_change.idempotency_keys", h(s.IdempotencyHours), "created_at < $1::timestamptz"},
		{"product_change.outbox", time.Duration(s.OutboxDays) * day, "published_at < $1::timestamptz"},
		{"product_change.processed_events", time.Duration(s.ProcessedEventDays) * day, "processed_at < $1::timestamptz"},
		{"product_change.dead_letters", time.Duration(s.DeadLetterDays) * day, "received_at < $1::timestamptz"},
	}
}
