package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"phonebill/shared/db"
	"phonebill/shared/httpx"
)

// querier is what the SQL helpers need: the pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// pgTime is t as the Asia/Seoul wall clock a TIMESTAMP column holds (SPEC
// §10.2). Every "now" goes through the injected clock, so tests can move it.
func pgTime(t time.Time) string { return t.In(db.Seoul).Format("2006-01-02 15:04:05.999999") }

// nullable maps "" to SQL NULL.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// clip bounds s to n bytes for a VARCHAR(n) column, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// localTime reads a nullable TIMESTAMP as the instant it denotes.
func localTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return db.Local(*t)
}

// Account statuses of auth_users.account_status.
const (
	statusActive    = "ACTIVE"
	statusLocked    = "LOCKED"
	statusSuspended = "SUSPENDED"
	statusInactive  = "INACTIVE"
)

// user is one auth_users row with its lock and granted, active permissions.
type user struct {
	UserID, CustomerID, LineNumber, UserName, Status string
	LastLoginAt, PasswordChangedAt, CreatedAt        time.Time
	LockedUntil                                      time.Time
	Permissions                                      []string
}

// lockedAt reports whether the submitted id's lock is in force at now.
func (u *user) lockedAt(now time.Time) bool { return u.LockedUntil.After(now) }

// info is the flat user object of SPEC §3.1.8: LOCKED while the id's lock is
// in force (SPEC §4.1 step 5).
func (u *user) info(now time.Time) UserInfo {
	status := u.Status
	if u.lockedAt(now) {
		status = statusLocked
	}
	perms := u.Permissions
	if perms == nil {
		perms = []string{}
	}
	return UserInfo{UserID: u.UserID, CustomerID: u.CustomerID, LineNumber: u.LineNumber, UserName: u.UserName,
		AccountStatus: status, LastLoginAt: httpx.NewLocalTime(u.LastLoginAt),
		LastPasswordChangedAt: httpx.NewLocalTime(u.PasswordChangedAt), Permissions: perms}
}

// userColumns selects a user, the lock of its id and its granted, active,
// unexpired permission codes (sorted). $1 is now.
const userColumns = `SELECT u.user_id, u.customer_id, u.line_number, COALESCE(u.user_name, ''), u.account_status,
	u.last_login_at, u.last_password_changed_at, u.created_at, a.locked_until,
	COALESCE((SELECT array_agg(p.permission_code::text ORDER BY p.permission_code)
		FROM auth.auth_user_permissions up JOIN auth.auth_permissions p ON p.permission_id = up.permission_id
		WHERE up.user_id = u.user_id AND up.granted AND p.is_active IS NOT FALSE
		  AND (up.expires_at IS NULL OR up.expires_at > $1::timestamp)), '{}'::text[])
	FROM auth.auth_users u LEFT JOIN auth.auth_login_attempts a ON a.user_id = u.user_id`

// The lookups of SPEC §3.1.8–3.1.11; $2 is the key.
const (
	userByID       = userColumns + ` WHERE u.user_id = $2`
	userByLine     = userColumns + ` WHERE u.line_number_digits = $2`
	userByCustomer = userColumns + ` WHERE u.customer_id = $2`
	userList       = userColumns + ` ORDER BY u.user_id`
)

func scanUser(row pgx.Row) (*user, error) {
	var u user
	var last, changed, created, locked *time.Time
	if err := row.Scan(&u.UserID, &u.CustomerID, &u.LineNumber, &u.UserName, &u.Status,
		&last, &changed, &created, &locked, &u.Permissions); err != nil {
		return nil, err
	}
	u.LastLoginAt, u.PasswordChangedAt, u.CreatedAt = localTime(last), localTime(changed), localTime(created)
	u.LockedUntil = localTime(locked)
	return &u, nil
}

// findUser runs one of the single-user lookups; nil when nothing matches.
func findUser(ctx context.Context, q querier, query string, now time.Time, key string) (*user, error) {
	u, err := scanUser(q.QueryRow(ctx, query, pgTime(now), key))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return u, db.Wrap("load user", err)
}

// listUsers returns every user ordered by id.
func listUsers(ctx context.Context, q querier, now time.Time) ([]*user, error) {
	rows, err := q.Query(ctx, userList, pgTime(now))
	if err != nil {
		return nil, db.Wrap("list users", err)
	}
	defer rows.Close()
	var out []*user
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, db.Wrap("list users", err)
		}
		out = append(out, u)
	}
	return out, db.Wrap("list users", rows.Err())
}

// credentials is what login needs before it knows the password is right.
type credentials struct {
	Hash, Status string
}

// canonicalUserID is the stored spelling of an id given in any case (ids
// are unique case-insensitively, migration 00007), else the id lower-cased:
// the lockout counts every spelling of one id as that id.
func canonicalUserID(ctx context.Context, q querier, userID string) (string, error) {
	var stored string
	err := q.QueryRow(ctx, `SELECT user_id FROM auth.auth_users WHERE lower(user_id) = lower($1)`, userID).Scan(&stored)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return strings.ToLower(userID), nil
	case err != nil:
		return "", db.Wrap("find user id", err)
	}
	return stored, nil
}

// loadCredentials returns nil for an unknown id.
func loadCredentials(ctx context.Context, q querier, userID string) (*credentials, error) {
	var c credentials
	err := q.QueryRow(ctx, `SELECT password_hash, account_status FROM auth.auth_users WHERE user_id = $1`,
		userID).Scan(&c.Hash, &c.Status)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, db.Wrap("load credentials", err)
	}
	return &c, nil
}

// historyRow is one auth_login_history row (SPEC §6.1).
type historyRow struct {
	UserID, Type, Status, Reason, SessionID, ClientIP, UserAgent string
	At                                                           time.Time
}

// Login history values.
const (
	historyLogin   = "LOGIN"
	historyLogout  = "LOGOUT"
	historySuccess = "SUCCESS"
	historyFailure = "FAILURE"
	historyLocked  = "LOCKED"
)

// audit writes a login-history row without letting it undo or refuse what
// it records: inside a transaction it runs in a savepoint, so a failed insert
// rolls back only itself and the counted failure, the revocation or the
// session commits all the same (the lockout must not hinge on an audit row).
// A failure is logged with the row.
func (a *Accounts) audit(ctx context.Context, q querier, h historyRow) {
	a.attempts.WithLabelValues(h.Type, h.Status).Inc()
	var err error
	if tx, ok := q.(pgx.Tx); ok {
		err = inSavepoint(ctx, tx, func(sp pgx.Tx) error { return writeHistory(ctx, sp, h) })
	} else {
		err = writeHistory(ctx, q, h)
	}
	if err != nil {
		a.log.ErrorContext(ctx, "login history row not written", "user_id", h.UserID, "type", h.Type,
			"status", h.Status, "reason", h.Reason, "error", err, "request_id", httpx.RequestID(ctx))
	}
}

// inSavepoint runs fn in a savepoint of tx: fn's failure rolls back fn's
// writes only and tx stays usable.
func inSavepoint(ctx context.Context, tx pgx.Tx, fn func(sp pgx.Tx) error) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return db.Wrap("savepoint", err)
	}
	if err := fn(sp); err != nil {
		if rbErr := sp.Rollback(ctx); rbErr != nil {
			return errors.Join(err, db.Wrap("rollback to savepoint", rbErr))
		}
		return err
	}
	return db.Wrap("release savepoint", sp.Commit(ctx))
}

func writeHistory(ctx context.Context, q querier, h historyRow) error {
	_, err := q.Exec(ctx, `INSERT INTO auth.auth_login_history
		(user_id, login_type, login_status, client_ip, user_agent, failure_reason, session_id, attempted_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8::timestamp)`,
		clip(h.UserID, 50), h.Type, h.Status, nullable(clip(h.ClientIP, 45)), nullable(h.UserAgent),
		nullable(h.Reason), nullable(h.SessionID), pgTime(h.At))
	return db.Wrap("write login history", err)
}

// session is one auth_user_sessions row.
type session struct {
	ID, UserID, AccessJTI, RefreshJTI, FamilyID string
	Active, AutoLogin                           bool
	Rotated                                     bool
	ExpiresAt                                   time.Time
}

// sessionInsert is a new session (SPEC §4.2, §10.4).
type sessionInsert struct {
	ID, UserID, FamilyID      string
	AccessJTI, RefreshJTI     string
	AccessToken, RefreshToken string
	ClientIP, UserAgent       string
	AutoLogin                 bool
	ExpiresAt, At             time.Time
}

func insertSession(ctx context.Context, q querier, s sessionInsert) error {
	_, err := q.Exec(ctx, `INSERT INTO auth.auth_user_sessions
		(session_id, user_id, access_jti, refresh_jti, session_token, refresh_token, client_ip, user_agent,
		 auto_login_enabled, expires_at, is_active, family_id, last_accessed_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::timestamp, true, $11, $12::timestamp, $12::timestamp, $12::timestamp)`,
		s.ID, s.UserID, s.AccessJTI, s.RefreshJTI, s.AccessToken, s.RefreshToken, nullable(clip(s.ClientIP, 45)),
		nullable(s.UserAgent), s.AutoLogin, pgTime(s.ExpiresAt), s.FamilyID, pgTime(s.At))
	return db.Wrap("insert session", err)
}

// endedSession is what revocation needs of a deactivated session.
type endedSession struct {
	ID, AccessJTI, RefreshJTI string
	ExpiresAt                 time.Time
}

// deactivate runs an UPDATE … RETURNING session_id, access_jti, refresh_jti,
// expires_at and collects the sessions it ended.
func deactivate(ctx context.Context, q querier, query string, args ...any) ([]endedSession, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, db.Wrap("end sessions", err)
	}
	defer rows.Close()
	var out []endedSession
	for rows.Next() {
		var s endedSession
		var access, refresh *string
		var exp time.Time
		if err := rows.Scan(&s.ID, &access, &refresh, &exp); err != nil {
			return nil, db.Wrap("end sessions", err)
		}
		if access != nil {
			s.AccessJTI = *access
		}
		if refresh != nil {
			s.RefreshJTI = *refresh
		}
		s.ExpiresAt = db.Local(exp)
		out = append(out, s)
	}
	return out, db.Wrap("end sessions", rows.Err())
}
