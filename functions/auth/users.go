package auth

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"phonebill/shared/auth"
	"phonebill/shared/db"
	"phonebill/shared/httpx"
)

// UserInfo is the flat user object of SPEC §3.1.8 (shape A).
type UserInfo struct {
	UserID                string           `json:"user_id"`
	CustomerID            string           `json:"customer_id"`
	LineNumber            string           `json:"line_number"`
	UserName              string           `json:"user_name"`
	AccountStatus         string           `json:"account_status"`
	LastLoginAt           *httpx.LocalTime `json:"last_login_at,omitempty"`
	LastPasswordChangedAt *httpx.LocalTime `json:"last_password_changed_at,omitempty"`
	Permissions           []string         `json:"permissions"`
}

// RegisteredUser is the `data` of a registration answer (SPEC §3.1.4).
type RegisteredUser struct {
	UserID        string          `json:"user_id"`
	CustomerID    string          `json:"customer_id"`
	LineNumber    string          `json:"line_number"`
	UserName      string          `json:"user_name"`
	AccountStatus string          `json:"account_status"`
	CreatedAt     httpx.LocalTime `json:"created_at"`
	Permissions   []string        `json:"permissions"`
}

// Result is the `{success, message[, data]}` answer of the Auth commands.
type Result struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

func ok(msg string, data any) *Result { return &Result{Success: true, Message: msg, Data: data} }

// Register creates an ACTIVE user with a bcrypt hash and its permissions
// (granted_by SYSTEM, or the registering admin). Duplicates are found by the
// unique constraints, so two racing registrations cannot both succeed.
func (a *Accounts) Register(ctx context.Context, caller *auth.Claims, in RegisterInput) (*Result, error) {
	hash, err := a.hasher.Hash(in.Password)
	if err != nil {
		return nil, err
	}
	grantedBy := "SYSTEM"
	if caller != nil && caller.IsAdmin() {
		grantedBy = caller.UserID
	}
	now := a.now()
	err = db.InTx(ctx, a.pool, func(tx pgx.Tx) error {
		// line_number_digits is generated from line_number; its unique
		// constraint compares the normalized forms.
		_, err := tx.Exec(ctx, `INSERT INTO auth.auth_users (user_id, password_hash, customer_id, line_number,
				user_name, account_status, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, 'ACTIVE', $6::timestamp, $6::timestamp)`,
			in.UserID, hash, in.CustomerID, in.LineNumber, in.UserName, pgTime(now))
		if err != nil {
			return duplicate(err, in)
		}
		_, err = tx.Exec(ctx, `INSERT INTO auth.auth_user_permissions (user_id, permission_id, granted, granted_by,
				granted_at, created_at, updated_at)
			SELECT $1, permission_id, true, $2, $3::timestamp, $3::timestamp, $3::timestamp
			FROM auth.auth_permissions WHERE permission_code = ANY($4::text[])`,
			in.UserID, grantedBy, pgTime(now), in.Permissions)
		return db.Wrap("grant permissions", err)
	})
	if err != nil {
		return nil, err
	}
	perms := slices.Clone(in.Permissions)
	slices.Sort(perms)
	return ok(msgRegistered, RegisteredUser{UserID: in.UserID, CustomerID: in.CustomerID, LineNumber: in.LineNumber,
		UserName: in.UserName, AccountStatus: statusActive, CreatedAt: httpx.LocalTime(now), Permissions: perms}), nil
}

// duplicate maps a unique violation of auth_users to the 409 of the column
// it names (SPEC §3.1.4, §10.7); other errors pass through.
func duplicate(err error, in RegisterInput) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" {
		return db.Wrap("insert user", err)
	}
	// Constraint names are fixed by the migration (auth_users_pkey,
	// auth_users_customer_id_key, auth_users_line_number[_digits]_key, and
	// auth_users_user_id_lower_key for an id taken in another case).
	switch c := pe.ConstraintName; {
	case strings.Contains(c, "customer"):
		return httpx.Conflict("CUSTOMER_ALREADY_EXISTS", "이미 존재하는 고객 ID입니다: "+in.CustomerID)
	case strings.Contains(c, "line"):
		return httpx.Conflict("LINE_ALREADY_EXISTS", "이미 존재하는 회선번호입니다: "+in.LineNumber)
	}
	return httpx.Conflict("USER_ALREADY_EXISTS", msgUserExists)
}

// mayActOn answers 403 unless the caller is admin or the user themself.
func mayActOn(caller *auth.Claims, userID string) error {
	if caller == nil || !caller.MayActOnUser(userID) {
		return errOtherUser()
	}
	return nil
}

// User returns one user (self or admin).
func (a *Accounts) User(ctx context.Context, caller *auth.Claims, userID string) (*UserInfo, error) {
	if err := checkPathID("userId", userID); err != nil {
		return nil, err
	}
	if err := mayActOn(caller, userID); err != nil {
		return nil, err
	}
	return a.lookup(ctx, userByID, userID, "userId", userID)
}

// UserByLine returns the user of a line (either spelling; self or admin).
func (a *Accounts) UserByLine(ctx context.Context, caller *auth.Claims, line string) (*UserInfo, error) {
	digits, valid := auth.NormalizeLine(line)
	if !valid {
		return nil, httpx.InvalidField("lineNumber", msgLineDigits, "")
	}
	if caller == nil || !caller.MayActOnLine(digits) {
		return nil, errOtherUser()
	}
	return a.lookup(ctx, userByLine, digits, "lineNumber", auth.DashedLine(digits))
}

// UserByCustomer returns the user of a customer id (self or admin).
func (a *Accounts) UserByCustomer(ctx context.Context, caller *auth.Claims, customerID string) (*UserInfo, error) {
	if len(customerID) > 50 || !idPattern.MatchString(customerID) {
		return nil, httpx.InvalidField("customerId", msgCustomerIDPattern, "")
	}
	if caller == nil || !caller.MayActOnCustomer(customerID) {
		return nil, errOtherUser()
	}
	return a.lookup(ctx, userByCustomer, customerID, "customerId", customerID)
}

func (a *Accounts) lookup(ctx context.Context, query, key, name, shown string) (*UserInfo, error) {
	now := a.now()
	u, err := findUser(ctx, a.pool, query, now, key)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, errUserNotFound(name, shown)
	}
	info := u.info(now)
	return &info, nil
}

// Users lists every user by id (admin).
func (a *Accounts) Users(ctx context.Context) ([]UserInfo, error) {
	now := a.now()
	us, err := listUsers(ctx, a.pool, now)
	if err != nil {
		return nil, err
	}
	out := make([]UserInfo, 0, len(us))
	for _, u := range us {
		out = append(out, u.info(now))
	}
	return out, nil
}

// SetPermission grants (upsert, granted=true) or revokes (granted=false) a
// permission of a user (admin; SPEC §3.1.12–13). The code is
// case-insensitive; grantedBy defaults to the caller.
func (a *Accounts) SetPermission(ctx context.Context, caller *auth.Claims, userID, rawCode, grantedBy string,
	grant bool) (*Result, error) {
	if err := checkPathID("userId", userID); err != nil {
		return nil, err
	}
	code, valid := permissionCode(rawCode)
	if !valid {
		return nil, errInvalidPermission(rawCode)
	}
	if grantedBy == "" {
		grantedBy = caller.UserID
	}
	if len(grantedBy) > 50 {
		return nil, httpx.InvalidField("grantedBy", "grantedBy는 50자 이하여야 합니다", "")
	}
	now := a.now()
	err := db.InTx(ctx, a.pool, func(tx pgx.Tx) error {
		if err := userExists(ctx, tx, userID); err != nil {
			return err
		}
		var err error
		if grant {
			_, err = tx.Exec(ctx, `INSERT INTO auth.auth_user_permissions (user_id, permission_id, granted, granted_by,
					granted_at, created_at, updated_at)
				SELECT $1, permission_id, true, $3, $4::timestamp, $4::timestamp, $4::timestamp
				FROM auth.auth_permissions WHERE permission_code = $2
				ON CONFLICT (user_id, permission_id) DO UPDATE SET granted = true, granted_by = EXCLUDED.granted_by,
					granted_at = EXCLUDED.granted_at, expires_at = NULL, updated_at = EXCLUDED.updated_at`,
				userID, code, grantedBy, pgTime(now))
		} else {
			_, err = tx.Exec(ctx, `UPDATE auth.auth_user_permissions up SET granted = false, updated_at = $3::timestamp
				FROM auth.auth_permissions p
				WHERE p.permission_id = up.permission_id AND up.user_id = $1 AND p.permission_code = $2`,
				userID, code, pgTime(now))
		}
		return db.Wrap("set permission", err)
	})
	if err != nil {
		return nil, err
	}
	if grant {
		return ok(msgGranted, nil), nil
	}
	return ok(msgRevoked, nil), nil
}

// userExists answers 404 for an unknown user, locking the row so the
// change commits against a user that still exists.
func userExists(ctx context.Context, tx pgx.Tx, userID string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM auth.auth_users WHERE user_id = $1 FOR UPDATE`, userID).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return errUserNotFound("userId", userID)
	}
	return db.Wrap("find user", err)
}

// Unlock clears the id's failure count and lock and a stored LOCKED status
// (admin; SPEC §3.1.7).
func (a *Accounts) Unlock(ctx context.Context, userID string) (*Result, error) {
	if err := checkPathID("userId", userID); err != nil {
		return nil, err
	}
	now := a.now()
	err := db.InTx(ctx, a.pool, func(tx pgx.Tx) error {
		if err := userExists(ctx, tx, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM auth.auth_login_attempts WHERE user_id = $1`, userID); err != nil {
			return db.Wrap("clear attempts", err)
		}
		_, err := tx.Exec(ctx, `UPDATE auth.auth_users SET failed_login_count = 0, account_locked_until = NULL,
			account_status = CASE WHEN account_status = 'LOCKED' THEN 'ACTIVE' ELSE account_status END,
			updated_at = $2::timestamp WHERE user_id = $1`, userID, pgTime(now))
		return db.Wrap("unlock user", err)
	})
	if err != nil {
		return nil, err
	}
	return ok(msgUnlocked, nil), nil
}

// ChangePassword sets a new password (SPEC §3.1.6). Users changing their
// own password give the current one; an admin changing another user's does
// not. Every session of the user ends and its tokens are revoked, the
// caller's own token included when it is the user's.
func (a *Accounts) ChangePassword(ctx context.Context, caller *auth.Claims, in ChangePasswordInput) (*Result, error) {
	if in.UserID == "" {
		in.UserID = caller.UserID
	}
	if err := checkPathID("userId", in.UserID); err != nil {
		return nil, err
	}
	if err := mayActOn(caller, in.UserID); err != nil {
		return nil, err
	}
	self := caller.UserID == in.UserID
	var f httpx.Fields
	if self && in.CurrentPassword == "" {
		f.Add("currentPassword", msgCurrentRequired)
	}
	checkNewPassword(&f, "newPassword", in.NewPassword)
	if err := f.Err(httpx.MsgValidation); err != nil {
		return nil, err
	}
	hash, err := a.hasher.Hash(in.NewPassword)
	if err != nil {
		return nil, err
	}
	now := a.now()
	var revs []auth.Revoked
	err = db.InTx(ctx, a.pool, func(tx pgx.Tx) error {
		var current string
		err := tx.QueryRow(ctx, `SELECT password_hash FROM auth.auth_users WHERE user_id = $1 FOR UPDATE`,
			in.UserID).Scan(&current)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return errUserNotFound("userId", in.UserID)
		case err != nil:
			return db.Wrap("load user", err)
		}
		if self && !a.hasher.Compare(current, in.CurrentPassword) {
			return errWrongCurrentPassword()
		}
		if _, err := tx.Exec(ctx, `UPDATE auth.auth_users SET password_hash = $2, last_password_changed_at = $3::timestamp,
			updated_at = $3::timestamp WHERE user_id = $1`, in.UserID, hash, pgTime(now)); err != nil {
			return db.Wrap("update password", err)
		}
		ended, err := deactivate(ctx, tx, `UPDATE auth.auth_user_sessions SET is_active = false,
			updated_at = $2::timestamp WHERE user_id = $1 AND is_active
			RETURNING session_id, access_jti, refresh_jti, expires_at`, in.UserID, pgTime(now))
		if err != nil {
			return err
		}
		revs = a.revokeSessions(in.UserID, reasonPasswordChanged, ended)
		if self && !slices.ContainsFunc(revs, func(r auth.Revoked) bool { return r.JTI == caller.ID }) {
			revs = append(revs, a.revocation(caller.ID, in.UserID, reasonPasswordChanged, caller.Expiry()))
		}
		return a.revoked.Add(ctx, tx, revs...)
	})
	if err != nil {
		return nil, err
	}
	a.revoked.Mirror(ctx, revs...)
	return ok(msgPasswordChanged, nil), nil
}
