package auth

import (
	"context"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"phonebill/shared/auth"
	"phonebill/shared/db"
	"phonebill/shared/httpx"
)

// Config holds the lockout rule of SPEC §4.1.
type Config struct {
	// MaxFailedAttempts consecutive failures lock the submitted id.
	MaxFailedAttempts int
	// Lockout is how long the lock lasts.
	Lockout time.Duration
}

// Deps are what Accounts is built from; start takes them from fn.Env, tests
// pass their own hasher and clock.
type Deps struct {
	Pool        *pgxpool.Pool
	Tokens      *auth.Tokens
	Revocations *auth.Revocations
	Hasher      Hasher
	Log         *slog.Logger
	Now         func() time.Time
	// Registry takes the service's counters (nil: unregistered).
	Registry prometheus.Registerer
}

// Accounts is the Auth business logic: credentials and lockout, sessions and
// their tokens, users and permissions. It knows nothing of HTTP; its errors
// are *httpx.Error values (or wrapped database errors) that the handlers
// return as they are.
type Accounts struct {
	pool    *pgxpool.Pool
	tokens  *auth.Tokens
	revoked *auth.Revocations
	hasher  Hasher
	dummy   func() (string, error)
	log     *slog.Logger
	now     func() time.Time
	cfg     Config
	// attempts counts login-history events (logins, refreshes, logouts) by
	// type and status, lockouts included: what the audit rows record.
	attempts *prometheus.CounterVec
}

// NewAccounts returns the service logic. The dummy hash for unknown ids is
// computed in the background right away, so a cold start does not wait for
// it and the first unknown id does not pay for it.
func NewAccounts(d Deps, cfg Config) *Accounts {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	h := d.Hasher
	a := &Accounts{pool: d.Pool, tokens: d.Tokens, revoked: d.Revocations, hasher: h, log: d.Log, now: d.Now, cfg: cfg,
		dummy: sync.OnceValues(func() (string, error) { return dummyHash(h) }),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phonebill_auth_login_events_total",
			Help: "Login, refresh and logout events by type and status (LOCKED: refused or locked by the lockout)."},
			[]string{"type", "status"})}
	if d.Registry != nil {
		a.attempts = httpx.Register(d.Registry, a.attempts)
	}
	go func() { _, _ = a.dummy() }()
	return a
}

// TokenResponse is the flat login answer of SPEC §3.1.1 (shape A).
type TokenResponse struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	TokenType    string    `json:"token_type"`
	ExpiresIn    int       `json:"expires_in"`
	UserID       string    `json:"user_id"`
	CustomerID   string    `json:"customer_id"`
	LineNumber   string    `json:"line_number"`
	User         LoginUser `json:"user"`
}

// LoginUser is the optional `user` object of the login answer.
type LoginUser struct {
	UserID      string   `json:"user_id"`
	UserName    string   `json:"user_name"`
	PhoneNumber string   `json:"phone_number"`
	Permissions []string `json:"permissions"`
}

// Login checks a submitted id and password with the lockout of SPEC §4.1 and
// opens a session. Every checked attempt is written to the login history.
func (a *Accounts) Login(ctx context.Context, in LoginInput) (*TokenResponse, error) {
	now := a.now()
	id, err := canonicalUserID(ctx, a.pool, in.UserID)
	if err != nil {
		return nil, err
	}
	in.UserID = id
	hist := historyRow{UserID: in.UserID, Type: historyLogin, ClientIP: in.ClientIP, UserAgent: in.UserAgent, At: now}
	until, err := a.lockOf(ctx, in.UserID, now)
	if err != nil {
		return nil, err
	}
	if !until.IsZero() {
		// Locked: the password is not checked and nothing is counted.
		return nil, a.refuseLocked(ctx, hist, until)
	}
	cred, err := loadCredentials(ctx, a.pool, in.UserID)
	if err != nil {
		return nil, err
	}
	hash := ""
	if cred != nil {
		hash = cred.Hash
	} else if hash, err = a.dummy(); err != nil {
		return nil, fmt.Errorf("dummy hash: %w", err)
	}
	// Exactly one comparison whether or not the id exists.
	if match := a.hasher.Compare(hash, in.Password); !match || cred == nil {
		return nil, a.countFailure(ctx, hist)
	}
	if cred.Status == statusSuspended || cred.Status == statusInactive {
		hist.Status, hist.Reason = historyFailure, "ACCOUNT_INACTIVE"
		a.audit(ctx, a.pool, hist)
		return nil, errInactive()
	}
	return a.succeed(ctx, in, hist)
}

// lockOf returns when the id's lock ends, or zero when it is not locked. An
// expired lock is cleared (counter reset) in the same round trip.
func (a *Accounts) lockOf(ctx context.Context, userID string, now time.Time) (time.Time, error) {
	var locked *time.Time
	err := a.pool.QueryRow(ctx, `WITH cleared AS (
			UPDATE auth.auth_login_attempts SET failed_count = 0, locked_until = NULL
			WHERE user_id = $1 AND locked_until <= $2::timestamp RETURNING 1)
		SELECT locked_until FROM auth.auth_login_attempts WHERE user_id = $1`, userID, pgTime(now)).Scan(&locked)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return time.Time{}, nil
	case err != nil:
		return time.Time{}, db.Wrap("check lock", err)
	}
	if until := localTime(locked); until.After(now) {
		return until, nil
	}
	return time.Time{}, nil
}

// refuseLocked records an attempt refused by the lock and answers 423.
func (a *Accounts) refuseLocked(ctx context.Context, hist historyRow, until time.Time) error {
	hist.Status, hist.Reason = historyLocked, "ACCOUNT_LOCKED"
	a.audit(ctx, a.pool, hist)
	return a.errLocked(until)
}

// countFailureSQL counts one failure of an id in one atomic statement that
// only increments while the id is not locked (SPEC §4.1 step 2): concurrent
// attempts queue on the row, and those that find the lock return no row. An
// expired lock restarts the count at 1. $1 id, $2 now, $3 lock end, $4 limit.
const countFailureSQL = `INSERT INTO auth.auth_login_attempts AS a (user_id, failed_count, last_failed_at, locked_until)
	VALUES ($1, 1, $2::timestamp, CASE WHEN 1 >= $4::int THEN $3::timestamp END)
	ON CONFLICT (user_id) DO UPDATE SET
		failed_count = CASE WHEN a.locked_until IS NULL THEN a.failed_count + 1 ELSE 1 END,
		last_failed_at = EXCLUDED.last_failed_at,
		locked_until = CASE WHEN (CASE WHEN a.locked_until IS NULL THEN a.failed_count + 1 ELSE 1 END) >= $4::int
			THEN $3::timestamp END
	WHERE a.locked_until IS NULL OR a.locked_until <= $2::timestamp
	RETURNING failed_count`

// countFailure counts a wrong password or unknown id and answers 401, or 423
// when this failure reached the limit or another one locked the id first.
func (a *Accounts) countFailure(ctx context.Context, hist historyRow) error {
	lockUntil := hist.At.Add(a.cfg.Lockout)
	var answer error
	err := db.InTx(ctx, a.pool, func(tx pgx.Tx) error {
		var count int
		err := tx.QueryRow(ctx, countFailureSQL, hist.UserID, pgTime(hist.At), pgTime(lockUntil),
			a.cfg.MaxFailedAttempts).Scan(&count)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			// Locked by a concurrent attempt since lockOf: not counted.
			var locked *time.Time
			if err := tx.QueryRow(ctx, `SELECT locked_until FROM auth.auth_login_attempts WHERE user_id = $1`,
				hist.UserID).Scan(&locked); err != nil {
				return db.Wrap("read lock", err)
			}
			hist.Status, hist.Reason = historyLocked, "ACCOUNT_LOCKED"
			answer = a.errLocked(localTime(locked))
		case err != nil:
			return db.Wrap("count failure", err)
		case count >= a.cfg.MaxFailedAttempts:
			hist.Status, hist.Reason = historyLocked, "INVALID_CREDENTIALS"
			answer = a.errLocked(lockUntil)
		default:
			hist.Status, hist.Reason = historyFailure, "INVALID_CREDENTIALS"
			answer = errInvalidCredentials()
		}
		a.audit(ctx, tx, hist)
		return nil
	})
	if err != nil {
		return err
	}
	return answer
}

// errLockedRace carries a lock found by the success transaction.
type errLockedRace struct{ until time.Time }

func (e errLockedRace) Error() string { return "locked while logging in" }

// succeed resets the id's failures, stamps last_login_at and opens a session,
// in one transaction. A lock set by a parallel failure after lockOf wins.
func (a *Accounts) succeed(ctx context.Context, in LoginInput, hist historyRow) (*TokenResponse, error) {
	now := hist.At
	var resp *TokenResponse
	err := db.InTx(ctx, a.pool, func(tx pgx.Tx) error {
		var locked *time.Time
		err := tx.QueryRow(ctx, `SELECT locked_until FROM auth.auth_login_attempts WHERE user_id = $1 FOR UPDATE`,
			in.UserID).Scan(&locked)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return db.Wrap("lock attempts", err)
		}
		if until := localTime(locked); until.After(now) {
			return errLockedRace{until}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM auth.auth_login_attempts WHERE user_id = $1`, in.UserID); err != nil {
			return db.Wrap("reset attempts", err)
		}
		// A stored LOCKED status is a legacy marker: the lock of record is
		// auth_login_attempts, which allowed this login.
		if _, err := tx.Exec(ctx, `UPDATE auth.auth_users SET last_login_at = $2::timestamp, failed_login_count = 0,
			account_status = CASE WHEN account_status = 'LOCKED' THEN 'ACTIVE' ELSE account_status END,
			account_locked_until = NULL, updated_at = $2::timestamp WHERE user_id = $1`, in.UserID, pgTime(now)); err != nil {
			return db.Wrap("stamp login", err)
		}
		u, err := findUser(ctx, tx, userByID, now, in.UserID)
		if err != nil {
			return err
		}
		if u == nil {
			return errInvalidCredentials() // deleted since the password check
		}
		id := uuid.NewString()
		pair, err := a.openSession(ctx, tx, u, sessionInsert{ID: id, FamilyID: id, AutoLogin: in.AutoLogin,
			ClientIP: in.ClientIP, UserAgent: in.UserAgent, At: now})
		if err != nil {
			return err
		}
		hist.Status, hist.SessionID = historySuccess, id
		a.audit(ctx, tx, hist)
		resp = &TokenResponse{AccessToken: pair.access, RefreshToken: pair.refresh, TokenType: "Bearer",
			ExpiresIn: int(a.tokens.AccessTTL() / time.Second), UserID: u.UserID, CustomerID: u.CustomerID,
			LineNumber: u.LineNumber, User: LoginUser{UserID: u.UserID, UserName: u.UserName,
				PhoneNumber: u.LineNumber, Permissions: u.info(now).Permissions}}
		return nil
	})
	var race errLockedRace
	if errors.As(err, &race) {
		return nil, a.refuseLocked(ctx, hist, race.until)
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// tokenPair is a freshly issued access and refresh token.
type tokenPair struct {
	access, refresh string
}

// openSession issues a token pair for u (claims of SPEC §2.6, permissions as
// granted now) and stores the session row; s carries id, family and client.
func (a *Accounts) openSession(ctx context.Context, tx pgx.Tx, u *user, s sessionInsert) (tokenPair, error) {
	claims := auth.Claims{UserID: u.UserID, CustomerID: u.CustomerID, LineNumber: u.LineNumber,
		Permissions: u.Permissions}
	access, ac, err := a.tokens.Issue(claims, auth.TypeAccess)
	if err != nil {
		return tokenPair{}, err
	}
	refresh, rc, err := a.tokens.Issue(auth.Claims{UserID: u.UserID}, auth.TypeRefresh)
	if err != nil {
		return tokenPair{}, err
	}
	s.UserID, s.AccessJTI, s.RefreshJTI = u.UserID, ac.ID, rc.ID
	s.AccessToken, s.RefreshToken, s.ExpiresAt = access, refresh, rc.Expiry()
	if err := insertSession(ctx, tx, s); err != nil {
		return tokenPair{}, err
	}
	return tokenPair{access: access, refresh: refresh}, nil
}

// revocation is a revoked jti kept until the token could no longer pass
// verification (its expiry plus the verifier's leeway).
func (a *Accounts) revocation(jti, userID, reason string, exp time.Time) auth.Revoked {
	return auth.Revoked{JTI: jti, UserID: userID, Reason: reason, ExpiresAt: exp.Add(a.tokens.Leeway())}
}

// revokeSessions turns ended sessions into revocations of both their tokens.
func (a *Accounts) revokeSessions(userID, reason string, ended []endedSession) []auth.Revoked {
	var out []auth.Revoked
	for _, s := range ended {
		// The session's expiry is the refresh token's, which outlives the
		// access token: keeping the access jti that long is merely generous.
		for _, jti := range []string{s.AccessJTI, s.RefreshJTI} {
			if jti != "" {
				out = append(out, a.revocation(jti, userID, reason, s.ExpiresAt))
			}
		}
	}
	return out
}

// Revocation reasons of SPEC §4.2.
const (
	reasonLogout          = "LOGOUT"
	reasonLogoutAll       = "LOGOUT_ALL"
	reasonPasswordChanged = "PASSWORD_CHANGED"
	reasonRotated         = "ROTATED"
	reasonReuse           = "REUSE_DETECTED"
)

// Logout ends the session of the presented access token and revokes both of
// its tokens; when no active session holds the token it ends every active
// session of the user (SPEC §3.1.2). Revocations commit with the session
// change and are mirrored to Redis afterwards (SPEC §10.3).
func (a *Accounts) Logout(ctx context.Context, c *auth.Claims, clientIP, userAgent string) error {
	now := a.now()
	var revs []auth.Revoked
	err := db.InTx(ctx, a.pool, func(tx pgx.Tx) error {
		revs = []auth.Revoked{a.revocation(c.ID, c.UserID, reasonLogout, c.Expiry())}
		ended, err := deactivate(ctx, tx, `UPDATE auth.auth_user_sessions SET is_active = false, updated_at = $3::timestamp
			WHERE access_jti = $1 AND user_id = $2 AND is_active
			RETURNING session_id, access_jti, refresh_jti, expires_at`, c.ID, c.UserID, pgTime(now))
		if err != nil {
			return err
		}
		reason := reasonLogout
		if len(ended) == 0 {
			reason = reasonLogoutAll
			if ended, err = deactivate(ctx, tx, `UPDATE auth.auth_user_sessions SET is_active = false,
				updated_at = $2::timestamp WHERE user_id = $1 AND is_active
				RETURNING session_id, access_jti, refresh_jti, expires_at`, c.UserID, pgTime(now)); err != nil {
				return err
			}
		}
		for _, r := range a.revokeSessions(c.UserID, reason, ended) {
			if r.JTI != c.ID {
				revs = append(revs, r)
			}
		}
		if err := a.revoked.Add(ctx, tx, revs...); err != nil {
			return err
		}
		sid := ""
		if len(ended) == 1 {
			sid = ended[0].ID
		}
		a.audit(ctx, tx, historyRow{UserID: c.UserID, Type: historyLogout, Status: historySuccess,
			SessionID: sid, ClientIP: clientIP, UserAgent: userAgent, At: now})
		return nil
	})
	if err != nil {
		return err
	}
	a.revoked.Mirror(ctx, revs...)
	return nil
}

// RefreshResponse is the refresh answer of SPEC §3.1.3: the flat snake_case
// fields plus the camelCase success/data wrapper, with the same values.
type RefreshResponse struct {
	AccessToken  string      `json:"access_token"`
	RefreshToken string      `json:"refresh_token"`
	TokenType    string      `json:"token_type"`
	ExpiresIn    int         `json:"expires_in"`
	Success      bool        `json:"success"`
	Data         RefreshData `json:"data"`
}

// RefreshData is the camelCase copy inside RefreshResponse.
type RefreshData struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	TokenType    string `json:"tokenType"`
	ExpiresIn    int    `json:"expiresIn"`
}

// errReuse marks a rotated refresh token presented again: the transaction
// that revoked its family commits, then the caller gets 401.
var errReuse = errors.New("refresh token reused")

// Refresh rotates a refresh token (SPEC §4.2, §10.4): the old session ends
// (rotated_at), both old tokens are revoked, and a new session of the same
// family holds the new pair. A token whose session was already rotated
// revokes every session and token of its family; a logged-out one is a plain
// 401.
func (a *Accounts) Refresh(ctx context.Context, token, clientIP, userAgent string) (*RefreshResponse, error) {
	if len(token) > maxTokenBytes {
		return nil, errInvalidToken(errors.New("token too long"))
	}
	c, err := a.tokens.Verify(token, auth.TypeRefresh)
	if err != nil {
		return nil, errInvalidToken(err)
	}
	now := a.now()
	var revs []auth.Revoked
	var pair tokenPair
	err = db.InTx(ctx, a.pool, func(tx pgx.Tx) error {
		revs = nil
		var s session
		var rotated *time.Time
		var exp time.Time
		err := tx.QueryRow(ctx, `SELECT session_id, user_id, COALESCE(access_jti, ''), family_id, is_active IS TRUE,
				auto_login_enabled IS TRUE, rotated_at, expires_at
			FROM auth.auth_user_sessions WHERE refresh_jti = $1 FOR UPDATE`, c.ID).
			Scan(&s.ID, &s.UserID, &s.AccessJTI, &s.FamilyID, &s.Active, &s.AutoLogin, &rotated, &exp)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return errInvalidToken(errors.New("no session holds the refresh token"))
		case err != nil:
			return db.Wrap("load session", err)
		case s.UserID != c.UserID:
			return errInvalidToken(errors.New("session of another user"))
		case rotated != nil:
			ended, err := deactivate(ctx, tx, `UPDATE auth.auth_user_sessions SET is_active = false,
				updated_at = $2::timestamp WHERE family_id = $1
				RETURNING session_id, access_jti, refresh_jti, expires_at`, s.FamilyID, pgTime(now))
			if err != nil {
				return err
			}
			revs = a.revokeSessions(c.UserID, reasonReuse, ended)
			if err := a.revoked.Add(ctx, tx, revs...); err != nil {
				return err
			}
			return nil // commit the family's revocation, then answer 401
		case !s.Active || !db.Local(exp).After(now):
			return errInvalidToken(errors.New("session ended"))
		}
		var one int
		err = tx.QueryRow(ctx, `SELECT 1 FROM auth.auth_revoked_tokens WHERE jti = $1`, c.ID).Scan(&one)
		if err == nil {
			return errInvalidToken(errors.New("refresh token revoked"))
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return db.Wrap("check revocation", err)
		}
		u, err := findUser(ctx, tx, userByID, now, c.UserID)
		if err != nil {
			return err
		}
		if u == nil || u.Status == statusSuspended || u.Status == statusInactive || u.lockedAt(now) {
			return errInvalidToken(errors.New("account not usable"))
		}
		if _, err := tx.Exec(ctx, `UPDATE auth.auth_user_sessions SET is_active = false, rotated_at = $2::timestamp,
			updated_at = $2::timestamp WHERE session_id = $1`, s.ID, pgTime(now)); err != nil {
			return db.Wrap("rotate session", err)
		}
		revs = []auth.Revoked{a.revocation(c.ID, c.UserID, reasonRotated, c.Expiry())}
		if s.AccessJTI != "" {
			// The old access token goes with its session: one live pair per family.
			revs = append(revs, a.revocation(s.AccessJTI, c.UserID, reasonRotated, db.Local(exp)))
		}
		if err := a.revoked.Add(ctx, tx, revs...); err != nil {
			return err
		}
		pair, err = a.openSession(ctx, tx, u, sessionInsert{ID: uuid.NewString(), FamilyID: s.FamilyID,
			AutoLogin: s.AutoLogin, ClientIP: clientIP, UserAgent: userAgent, At: now})
		return err
	})
	if err != nil {
		return nil, err
	}
	a.revoked.Mirror(ctx, revs...)
	if pair.access == "" {
		a.log.WarnContext(ctx, "refresh token reuse: session family revoked", "user_id", c.UserID,
			"revoked", len(revs), "request_id", httpx.RequestID(ctx))
		return nil, errInvalidToken(errReuse)
	}
	ttl := int(a.tokens.AccessTTL() / time.Second)
	return &RefreshResponse{AccessToken: pair.access, RefreshToken: pair.refresh, TokenType: "Bearer", ExpiresIn: ttl,
		Success: true, Data: RefreshData{AccessToken: pair.access, RefreshToken: pair.refresh, TokenType: "Bearer",
			ExpiresIn: ttl}}, nil
}

// maxTokenBytes bounds what the verifier parses; real tokens are < 1 KiB.
const maxTokenBytes = 8 << 10

// VerifyResponse is the answer of GET /auth/verify (SPEC §3.1.5).
type VerifyResponse struct {
	Valid      bool             `json:"valid"`
	UserID     string           `json:"user_id,omitempty"`
	CustomerID string           `json:"customer_id,omitempty"`
	LineNumber string           `json:"line_number,omitempty"`
	ExpiresAt  *httpx.LocalTime `json:"expires_at,omitempty"`
	Message    string           `json:"message"`
}

// Verify reports whether an access token is valid: signature, claims, expiry
// and revocation. "Expired" is said only when expiry is the sole failure.
func (a *Accounts) Verify(ctx context.Context, token string) (*VerifyResponse, error) {
	invalid := &VerifyResponse{Message: msgInvalidToken}
	if len(token) > maxTokenBytes {
		return invalid, nil
	}
	c, err := a.tokens.Verify(token, auth.TypeAccess)
	expired := errors.Is(err, auth.ErrExpired)
	if err != nil && !expired {
		return invalid, nil
	}
	revoked, err := a.revoked.IsRevoked(ctx, c.ID)
	if err != nil {
		return nil, httpx.Unavailable(err)
	}
	switch {
	case revoked:
		return invalid, nil
	case expired:
		return &VerifyResponse{Message: msgExpiredToken}, nil
	}
	return &VerifyResponse{Valid: true, UserID: c.UserID, CustomerID: c.CustomerID, LineNumber: c.LineNumber,
		ExpiresAt: httpx.NewLocalTime(c.Expiry()), Message: msgValidToken}, nil
}
