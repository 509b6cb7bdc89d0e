package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"phonebill/shared/httpx"
)

// Access is what a route requires of its caller.
type Access string

// The access levels of SPEC §3.0. AccessSelf routes need a token and check
// ownership of the path's user, line or customer in the handler.
const (
	AccessPublic        Access = "public"
	AccessToken         Access = "token"
	AccessSelf          Access = "self|admin"
	AccessAdmin         Access = "admin"
	AccessBillInquiry   Access = "token+" + PermBillInquiry
	AccessProductChange Access = "token+" + PermProductChange
)

type claimsKey struct{}

// FromContext returns the verified claims of the request (nil if none).
func FromContext(ctx context.Context) *Claims {
	c, _ := ctx.Value(claimsKey{}).(*Claims)
	return c
}

// WithClaims returns ctx carrying c (tests and in-process callers).
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// Guard authenticates requests: Bearer access token, signature and claims,
// revocation, then the route's permission.
type Guard struct {
	tokens  *Tokens
	revoked *Revocations
}

// NewGuard returns a guard over tokens and revocations.
func NewGuard(tokens *Tokens, revoked *Revocations) *Guard {
	return &Guard{tokens: tokens, revoked: revoked}
}

// Tokens is the guard's token issuer/verifier.
func (g *Guard) Tokens() *Tokens { return g.tokens }

// Revocations is the guard's revocation store.
func (g *Guard) Revocations() *Revocations { return g.revoked }

// BearerToken returns the token of an "Authorization: Bearer" header.
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// Authenticate verifies the request's access token and that it is not
// revoked. Errors are *httpx.Error (401, or 503 when no store can answer).
func (g *Guard) Authenticate(r *http.Request) (*Claims, error) {
	tok := BearerToken(r)
	if tok == "" {
		return nil, httpx.Unauthorized(errors.New("no bearer token"))
	}
	c, err := g.tokens.Verify(tok, TypeAccess)
	if err != nil {
		return nil, httpx.Unauthorized(err)
	}
	revoked, err := g.revoked.IsRevoked(r.Context(), c.ID)
	if err != nil {
		return nil, httpx.Unavailable(err)
	}
	if revoked {
		return nil, httpx.Unauthorized(errors.New("token revoked"))
	}
	return c, nil
}

// Require wraps next with the checks of access. Public routes ignore an
// invalid or expired token (the client sends a stale one to login/register)
// but pass a valid one on, so an admin can register with any permission.
func (g *Guard) Require(access Access, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := g.check(r, access)
		if err != nil {
			httpx.WriteError(w, r, nil, err)
			return
		}
		if c != nil {
			if li := httpx.LogInfoOf(r.Context()); li != nil {
				li.UserID = c.UserID
			}
			r = r.WithContext(WithClaims(r.Context(), c))
		}
		next.ServeHTTP(w, r)
	})
}

func (g *Guard) check(r *http.Request, access Access) (*Claims, error) {
	if access == AccessPublic || access == "" {
		if BearerToken(r) == "" {
			return nil, nil
		}
		c, err := g.Authenticate(r)
		if err != nil {
			return nil, nil
		}
		return c, nil
	}
	c, err := g.Authenticate(r)
	if err != nil {
		return nil, err
	}
	switch access {
	case AccessAdmin:
		if !c.IsAdmin() {
			return nil, httpx.AccessDenied(PermAdmin)
		}
	case AccessBillInquiry, AccessProductChange:
		p := strings.TrimPrefix(string(access), "token+")
		if !c.Has(p) {
			return nil, httpx.AccessDenied(p)
		}
	}
	return c, nil
}
