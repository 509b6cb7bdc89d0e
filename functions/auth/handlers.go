package auth

import (
	"net"
	"net/http"
	"strings"

	"phonebill/shared/auth"
	"phonebill/shared/httpx"
)

// Handlers are the thin HTTP layer: decode, call Accounts, encode. Auth
// successes are flat JSON (shape A or {success, message}); errors are written
// by the runtime in shape B.
type Handlers struct {
	acc *Accounts
}

// Accounts is the logic behind the handlers (tests call it directly).
func (h *Handlers) Accounts() *Accounts { return h.acc }

func writeOK(w http.ResponseWriter, v any) error {
	httpx.WriteJSON(w, http.StatusOK, v)
	return nil
}

// clientIP is the first X-Forwarded-For hop (the ingress sets it), else the
// peer address; it is only recorded, never trusted for decisions.
func clientIP(r *http.Request) string {
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		first, _, _ := strings.Cut(xff, ",")
		if ip := strings.TrimSpace(first); net.ParseIP(ip) != nil {
			return ip
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return httpx.HeaderText(r.RemoteAddr, 45)
	}
	return host
}

// userAgent is the cleaned, bounded copy of the User-Agent that the history
// and session rows keep: any bytes a client sends become storable text.
func userAgent(r *http.Request) string { return httpx.HeaderText(r.UserAgent(), 500) }

// Login is POST /api/v1/auth/login.
func (h *Handlers) Login(w http.ResponseWriter, r *http.Request) error {
	var b loginBody
	if err := httpx.DecodeJSON(r, &b); err != nil {
		return err
	}
	in, err := b.input()
	if err != nil {
		return err
	}
	in.ClientIP, in.UserAgent = clientIP(r), userAgent(r)
	resp, err := h.acc.Login(r.Context(), in)
	if err != nil {
		return err
	}
	return writeOK(w, resp)
}

// Logout is POST /api/v1/auth/logout: no body, no Content-Type needed.
func (h *Handlers) Logout(w http.ResponseWriter, r *http.Request) error {
	if err := h.acc.Logout(r.Context(), auth.FromContext(r.Context()), clientIP(r), userAgent(r)); err != nil {
		return err
	}
	return writeOK(w, ok(msgLogout, nil))
}

// Refresh is POST /api/v1/auth/refresh.
func (h *Handlers) Refresh(w http.ResponseWriter, r *http.Request) error {
	var b refreshBody
	if err := httpx.DecodeJSON(r, &b); err != nil {
		return err
	}
	tok := strings.TrimSpace(pick(b.RefreshToken, b.RefreshTokenAlias))
	if tok == "" {
		return httpx.Invalid(httpx.MsgValidation, map[string]string{"refreshToken": msgRefreshRequired})
	}
	resp, err := h.acc.Refresh(r.Context(), tok, clientIP(r), userAgent(r))
	if err != nil {
		return err
	}
	return writeOK(w, resp)
}

// Register is POST /api/v1/auth/register; a valid admin token (passed on by
// the public guard) may grant any permission.
func (h *Handlers) Register(w http.ResponseWriter, r *http.Request) error {
	var b registerBody
	if err := httpx.DecodeJSON(r, &b); err != nil {
		return err
	}
	caller := auth.FromContext(r.Context())
	in, err := b.input(caller != nil && caller.IsAdmin())
	if err != nil {
		return err
	}
	resp, err := h.acc.Register(r.Context(), caller, in)
	if err != nil {
		return err
	}
	return writeOK(w, resp)
}

// Verify is GET /api/v1/auth/verify?token=….
func (h *Handlers) Verify(w http.ResponseWriter, r *http.Request) error {
	var f httpx.Fields
	tok := httpx.ParamsOf(r, &f).Text("token")
	if tok == "" && !f.Has("token") {
		f.Add("token", msgTokenRequired)
	}
	if err := f.Err(httpx.MsgValidation); err != nil {
		return err
	}
	resp, err := h.acc.Verify(r.Context(), tok)
	if err != nil {
		return err
	}
	return writeOK(w, resp)
}

// ChangePassword is POST /api/v1/auth/change-password with its parameters in
// the query (Java/OpenAPI) or a JSON body; the query wins per parameter.
func (h *Handlers) ChangePassword(w http.ResponseWriter, r *http.Request) error {
	var b changePasswordBody
	if err := httpx.DecodeJSON(r, &b); err != nil {
		return err
	}
	var f httpx.Fields
	q := httpx.ParamsOf(r, &f)
	in := ChangePasswordInput{
		UserID:          pick(q.Text("userId"), pick(b.UserID, b.UserIDAlias)),
		CurrentPassword: pick(q.Text("currentPassword"), pick(b.CurrentPassword, b.CurrentPasswordAlias)),
		NewPassword:     pick(q.Text("newPassword"), pick(b.NewPassword, b.NewPasswordAlias)),
	}
	httpx.CheckText(&f, &b)
	if err := f.Err(httpx.MsgValidation); err != nil {
		return err
	}
	resp, err := h.acc.ChangePassword(r.Context(), auth.FromContext(r.Context()), in)
	if err != nil {
		return err
	}
	return writeOK(w, resp)
}

// Unlock is POST /api/v1/auth/unlock/{userId} (admin).
func (h *Handlers) Unlock(w http.ResponseWriter, r *http.Request) error {
	resp, err := h.acc.Unlock(r.Context(), r.PathValue("userId"))
	if err != nil {
		return err
	}
	return writeOK(w, resp)
}

// User is GET /api/v1/users/{userId} (self or admin).
func (h *Handlers) User(w http.ResponseWriter, r *http.Request) error {
	resp, err := h.acc.User(r.Context(), auth.FromContext(r.Context()), r.PathValue("userId"))
	if err != nil {
		return err
	}
	return writeOK(w, resp)
}

// Users is GET /api/v1/users (admin).
func (h *Handlers) Users(w http.ResponseWriter, r *http.Request) error {
	resp, err := h.acc.Users(r.Context())
	if err != nil {
		return err
	}
	return writeOK(w, resp)
}

// UserByLine is GET /api/v1/users/by-line/{lineNumber} (self or admin).
func (h *Handlers) UserByLine(w http.ResponseWriter, r *http.Request) error {
	resp, err := h.acc.UserByLine(r.Context(), auth.FromContext(r.Context()), r.PathValue("lineNumber"))
	if err != nil {
		return err
	}
	return writeOK(w, resp)
}

// UserByCustomer is GET /api/v1/users/by-customer/{customerId} (self or admin).
func (h *Handlers) UserByCustomer(w http.ResponseWriter, r *http.Request) error {
	resp, err := h.acc.UserByCustomer(r.Context(), auth.FromContext(r.Context()), r.PathValue("customerId"))
	if err != nil {
		return err
	}
	return writeOK(w, resp)
}

// GrantPermission is POST /api/v1/users/{userId}/permissions/{permissionCode}/grant (admin).
func (h *Handlers) GrantPermission(w http.ResponseWriter, r *http.Request) error {
	var f httpx.Fields
	grantedBy := httpx.ParamsOf(r, &f).Text("grantedBy")
	if err := f.Err(httpx.MsgValidation); err != nil {
		return err
	}
	resp, err := h.acc.SetPermission(r.Context(), auth.FromContext(r.Context()), r.PathValue("userId"),
		r.PathValue("permissionCode"), grantedBy, true)
	if err != nil {
		return err
	}
	return writeOK(w, resp)
}

// RevokePermission is DELETE /api/v1/users/{userId}/permissions/{permissionCode} (admin).
func (h *Handlers) RevokePermission(w http.ResponseWriter, r *http.Request) error {
	resp, err := h.acc.SetPermission(r.Context(), auth.FromContext(r.Context()), r.PathValue("userId"),
		r.PathValue("permissionCode"), "", false)
	if err != nil {
		return err
	}
	return writeOK(w, resp)
}
