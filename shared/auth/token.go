// Package auth issues and verifies the HS256 JWTs of SPEC §2.6, checks token
// revocation against PostgreSQL with a Redis mirror (SPEC §10.3), and guards
// routes by permission and line ownership.
package auth

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"phonebill/shared/config"
)

// Token types and audiences of SPEC §2.6.
const (
	TypeAccess      = "ACCESS"
	TypeRefresh     = "REFRESH"
	Issuer          = "phonebill-auth-service"
	AudienceAPI     = "phonebill-api"
	AudienceRefresh = "phonebill-auth"
)

// Permission codes (exactly these four).
const (
	PermBillInquiry    = "BILL_INQUIRY"
	PermProductChange  = "PRODUCT_CHANGE"
	PermAdmin          = "ADMIN"
	PermUserManagement = "USER_MANAGEMENT"
)

// Permissions lists every valid permission code.
var Permissions = []string{PermBillInquiry, PermProductChange, PermAdmin, PermUserManagement}

// Claims are the JWT claims of SPEC §2.6. Every value is restricted to
// [A-Za-z0-9_-] so the client's atob() decoding never meets '-' or '_' in
// the base64url payload.
type Claims struct {
	UserID      string   `json:"userId"`
	CustomerID  string   `json:"customerId,omitempty"`
	LineNumber  string   `json:"lineNumber,omitempty"`
	Permissions []string `json:"permissions,omitempty"`
	Type        string   `json:"type"`
	jwt.RegisteredClaims
}

// IsAdmin reports whether the token carries ADMIN or USER_MANAGEMENT.
func (c *Claims) IsAdmin() bool {
	return slices.Contains(c.Permissions, PermAdmin) || slices.Contains(c.Permissions, PermUserManagement)
}

// Has reports whether the token carries permission p.
func (c *Claims) Has(p string) bool { return slices.Contains(c.Permissions, p) }

// OwnsLine reports whether line (either spelling) is the token's line.
func (c *Claims) OwnsLine(line string) bool {
	mine, ok1 := NormalizeLine(c.LineNumber)
	other, ok2 := NormalizeLine(line)
	return ok1 && ok2 && mine == other
}

// MayActOnLine reports whether the caller may act on line: their own, or any
// line for an admin.
func (c *Claims) MayActOnLine(line string) bool { return c.IsAdmin() || c.OwnsLine(line) }

// MayActOnUser reports whether the caller may act on userID.
func (c *Claims) MayActOnUser(userID string) bool { return c.IsAdmin() || c.UserID == userID }

// MayActOnCustomer reports whether the caller may act on customerID.
func (c *Claims) MayActOnCustomer(customerID string) bool {
	return c.IsAdmin() || (c.CustomerID != "" && c.CustomerID == customerID)
}

// Line returns the token's line as 11 digits ("" when it has none).
func (c *Claims) Line() string {
	l, _ := NormalizeLine(c.LineNumber)
	return l
}

// Expiry is the token's exp.
func (c *Claims) Expiry() time.Time {
	if c.ExpiresAt == nil {
		return time.Time{}
	}
	return c.ExpiresAt.Time
}

// Errors of Verify; ErrExpired lets /auth/verify say "만료된 토큰입니다.".
var (
	ErrInvalid = errors.New("auth: invalid token")
	ErrExpired = errors.New("auth: token expired")
)

// Tokens issues and verifies tokens with one HS256 secret.
type Tokens struct {
	secret     []byte
	accessTTL  time.Duration
	refreshTTL time.Duration
	leeway     time.Duration
	now        func() time.Time
}

// NewTokens refuses secrets shorter than 32 bytes. now is the clock (tests
// inject one); nil means time.Now.
func NewTokens(cfg config.JWT, now func() time.Time) (*Tokens, error) {
	if len(cfg.Secret) < config.MinSecretBytes {
		return nil, fmt.Errorf("auth: JWT_SECRET must be at least %d bytes", config.MinSecretBytes)
	}
	if now == nil {
		now = time.Now
	}
	return &Tokens{secret: []byte(cfg.Secret), now: now,
		accessTTL:  time.Duration(cfg.AccessValiditySeconds) * time.Second,
		refreshTTL: time.Duration(cfg.RefreshValiditySeconds) * time.Second,
		leeway:     time.Duration(cfg.LeewaySeconds) * time.Second,
	}, nil
}

// AccessTTL is the access token lifetime (expires_in).
func (t *Tokens) AccessTTL() time.Duration { return t.accessTTL }

// RefreshTTL is the refresh token lifetime.
func (t *Tokens) RefreshTTL() time.Duration { return t.refreshTTL }

// Leeway is the clock skew Verify tolerates: a token passes until exp plus
// Leeway, so revocations must be kept at least that long.
func (t *Tokens) Leeway() time.Duration { return t.leeway }

// Issue signs c as a token of type typ (TypeAccess or TypeRefresh), filling
// sub, iss, aud, iat, exp and a fresh jti. It returns the token and the
// claims as signed.
func (t *Tokens) Issue(c Claims, typ string) (string, Claims, error) {
	now := t.now().Truncate(time.Second)
	c.Type = typ
	c.Subject = c.UserID
	c.Issuer = Issuer
	c.ID = uuid.NewString()
	c.IssuedAt = jwt.NewNumericDate(now)
	c.NotBefore = nil
	switch typ {
	case TypeAccess:
		c.Audience = jwt.ClaimStrings{AudienceAPI}
		c.ExpiresAt = jwt.NewNumericDate(now.Add(t.accessTTL))
	case TypeRefresh:
		// Refresh tokens carry only who and when (SPEC §2.6).
		c.CustomerID, c.LineNumber, c.Permissions = "", "", nil
		c.Audience = jwt.ClaimStrings{AudienceRefresh}
		c.ExpiresAt = jwt.NewNumericDate(now.Add(t.refreshTTL))
	default:
		return "", Claims{}, fmt.Errorf("auth: unknown token type %q", typ)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.secret)
	if err != nil {
		return "", Claims{}, fmt.Errorf("auth: sign: %w", err)
	}
	return s, c, nil
}

// Verify checks the signature (HS256 only: alg none, RS*, ES* and other HMACs
// are refused), exp, iat, iss, the audience of typ and the type claim. An
// expired but otherwise valid token returns ErrExpired with its claims.
func (t *Tokens) Verify(token, typ string) (*Claims, error) {
	aud := AudienceAPI
	if typ == TypeRefresh {
		aud = AudienceRefresh
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithAudience(aud),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(t.leeway),
		jwt.WithTimeFunc(t.now),
		jwt.WithStrictDecoding(),
	)
	var c Claims
	_, err := p.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.secret, nil })
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired) && onlyExpired(err):
		return &c, ErrExpired
	default:
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if c.Type != typ || c.ID == "" || c.UserID == "" || c.Subject != c.UserID || c.IssuedAt == nil {
		return nil, fmt.Errorf("%w: wrong type or missing claims", ErrInvalid)
	}
	return &c, nil
}

// onlyExpired reports whether expiry is the only validation failure (the
// signature was checked before the claims, so it is valid).
func onlyExpired(err error) bool {
	for _, other := range []error{jwt.ErrTokenSignatureInvalid, jwt.ErrTokenMalformed, jwt.ErrTokenUnverifiable,
		jwt.ErrTokenInvalidIssuer, jwt.ErrTokenInvalidAudience, jwt.ErrTokenUsedBeforeIssued, jwt.ErrTokenRequiredClaimMissing} {
		if errors.Is(err, other) {
			return false
		}
	}
	return true
}
