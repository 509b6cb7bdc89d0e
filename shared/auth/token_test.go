package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"phonebill/shared/config"
)

const testSecret = "unit-test-secret-0123456789abcdef-xyz"

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newTestTokens(t *testing.T) (*Tokens, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2025, 9, 8, 14, 30, 0, 0, time.UTC)}
	tk, err := NewTokens(config.JWT{Secret: testSecret, AccessValiditySeconds: 1800, RefreshValiditySeconds: 86400,
		LeewaySeconds: 30}, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	return tk, clk
}

var sample = Claims{UserID: "testuser01", CustomerID: "CUST001", LineNumber: "010-1234-5678",
	Permissions: []string{PermBillInquiry, PermProductChange}}

// mapClaims is a valid access token's claims as a map, for forging variants.
func mapClaims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{"sub": "testuser01", "userId": "testuser01", "customerId": "CUST001",
		"lineNumber": "010-1234-5678", "permissions": []string{PermBillInquiry}, "type": TypeAccess,
		"iss": Issuer, "aud": AudienceAPI, "iat": now.Unix(), "exp": now.Add(30 * time.Minute).Unix(),
		"jti": "0b5e3f0a-1111-4222-8333-944455556666"}
}

func sign(t *testing.T, m jwt.SigningMethod, c jwt.Claims, key any) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyValid(t *testing.T) {
	tk, clk := newTestTokens(t)
	tok, issued, err := tk.Issue(sample, TypeAccess)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tk.Verify(tok, TypeAccess)
	if err != nil {
		t.Fatal(err)
	}
	if c.UserID != "testuser01" || c.Subject != "testuser01" || c.CustomerID != "CUST001" ||
		c.LineNumber != "010-1234-5678" || len(c.Permissions) != 2 || c.Type != TypeAccess || c.Issuer != Issuer ||
		c.Audience[0] != AudienceAPI || c.ID != issued.ID || c.ID == "" ||
		!c.Expiry().Equal(clk.now().Add(30*time.Minute)) || !c.IssuedAt.Time.Equal(clk.now()) {
		t.Fatalf("claims %+v", c)
	}
	rt, _, err := tk.Issue(sample, TypeRefresh)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := tk.Verify(rt, TypeRefresh)
	if err != nil || rc.CustomerID != "" || rc.Permissions != nil || rc.Audience[0] != AudienceRefresh ||
		!rc.Expiry().Equal(clk.now().Add(24*time.Hour)) {
		t.Fatalf("refresh claims %+v: %v", rc, err)
	}
	// Every token gets its own jti.
	tok2, _, _ := tk.Issue(sample, TypeAccess)
	c2, _ := tk.Verify(tok2, TypeAccess)
	if c2.ID == c.ID {
		t.Fatal("jti reused")
	}
}

func TestVerifyExpiry(t *testing.T) {
	tk, clk := newTestTokens(t)
	tok, _, _ := tk.Issue(sample, TypeAccess)
	clk.advance(30*time.Minute + 20*time.Second) // inside the 30 s leeway
	if _, err := tk.Verify(tok, TypeAccess); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	clk.advance(11 * time.Second)
	c, err := tk.Verify(tok, TypeAccess)
	if !errors.Is(err, ErrExpired) || c == nil || c.UserID != "testuser01" {
		t.Fatalf("expired: %v %+v", err, c)
	}
	// Expired and tampered is invalid, not merely expired.
	if _, err := tk.Verify(tamper(tok), TypeAccess); !errors.Is(err, ErrInvalid) {
		t.Fatalf("expired and tampered: %v", err)
	}
}

// tamper changes the payload's userId, keeping header and signature.
func tamper(tok string) string {
	p := strings.Split(tok, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(p[1])
	raw = []byte(strings.Replace(string(raw), `"userId":"testuser01"`, `"userId":"admin00001"`, 1))
	p[1] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(p, ".")
}

func TestVerifyRefuses(t *testing.T) {
	tk, clk := newTestTokens(t)
	now := clk.now()
	valid, _, _ := tk.Issue(sample, TypeAccess)
	refresh, _, _ := tk.Issue(sample, TypeRefresh)
	with := func(k string, v any) jwt.MapClaims {
		m := mapClaims(now)
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(valid, ".")
	cases := map[string]string{
		"alg none":   sign(t, jwt.SigningMethodNone, mapClaims(now), jwt.UnsafeAllowNoneSignatureType),
		"HS512":      sign(t, jwt.SigningMethodHS512, mapClaims(now), []byte(testSecret)),
		"HS384":      sign(t, jwt.SigningMethodHS384, mapClaims(now), []byte(testSecret)),
		"RS256":      sign(t, jwt.SigningMethodRS256, mapClaims(now), key),
		"RS256 head": base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2],
		"wrong secret": sign(t, jwt.SigningMethodHS256, mapClaims(now),
			[]byte("another-secret-0123456789abcdef-0123")),
		"tampered":          tamper(valid),
		"no signature":      parts[0] + "." + parts[1] + ".",
		"wrong iss":         sign(t, jwt.SigningMethodHS256, with("iss", "someone-else"), []byte(testSecret)),
		"no iss":            sign(t, jwt.SigningMethodHS256, with("iss", nil), []byte(testSecret)),
		"wrong aud":         sign(t, jwt.SigningMethodHS256, with("aud", "other-api"), []byte(testSecret)),
		"no aud":            sign(t, jwt.SigningMethodHS256, with("aud", nil), []byte(testSecret)),
		"refresh as access": refresh,
		"no exp":            sign(t, jwt.SigningMethodHS256, with("exp", nil), []byte(testSecret)),
		"iat in future":     sign(t, jwt.SigningMethodHS256, with("iat", now.Add(31*time.Second).Unix()), []byte(testSecret)),
		"no iat":            sign(t, jwt.SigningMethodHS256, with("iat", nil), []byte(testSecret)),
		"type REFRESH":      sign(t, jwt.SigningMethodHS256, with("type", TypeRefresh), []byte(testSecret)),
		"no type":           sign(t, jwt.SigningMethodHS256, with("type", nil), []byte(testSecret)),
		"no jti":            sign(t, jwt.SigningMethodHS256, with("jti", nil), []byte(testSecret)),
		"sub differs":       sign(t, jwt.SigningMethodHS256, with("sub", "admin"), []byte(testSecret)),
		"garbage":           "a.b.c",
		"empty":             "",
	}
	for name, tok := range cases {
		if c, err := tk.Verify(tok, TypeAccess); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v (claims %v), want ErrInvalid", name, err, c)
		}
	}
	// The forging helper itself yields an accepted token when nothing is off.
	if _, err := tk.Verify(sign(t, jwt.SigningMethodHS256, mapClaims(now), []byte(testSecret)), TypeAccess); err != nil {
		t.Fatalf("control token refused: %v", err)
	}
	// iat within the leeway is tolerated (clock skew between pods).
	if _, err := tk.Verify(sign(t, jwt.SigningMethodHS256, with("iat", now.Add(20*time.Second).Unix()),
		[]byte(testSecret)), TypeAccess); err != nil {
		t.Fatalf("iat 20 s ahead: %v", err)
	}
	// An access token is not a refresh token either.
	if _, err := tk.Verify(valid, TypeRefresh); !errors.Is(err, ErrInvalid) {
		t.Fatalf("access as refresh: %v", err)
	}
}

func TestNewTokensRefusesShortSecret(t *testing.T) {
	if _, err := NewTokens(config.JWT{Secret: strings.Repeat("x", 31), AccessValiditySeconds: 1800,
		RefreshValiditySeconds: 86400}, nil); err == nil {
		t.Fatal("31-byte secret accepted")
	}
	if _, err := NewTokens(config.JWT{Secret: strings.Repeat("x", 32), AccessValiditySeconds: 1800,
		RefreshValiditySeconds: 86400}, nil); err != nil {
		t.Fatalf("32-byte secret refused: %v", err)
	}
}

// Payload segments of issued tokens never hold base64url's '-' or '_'
// (the web client decodes them with atob, SPEC §2.6).
func TestIssuedPayloadAlphabet(t *testing.T) {
	tk, _ := newTestTokens(t)
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
	for i := range 3000 {
		id := []byte{alphabet[i%64], alphabet[(i/64)%64], alphabet[(i*7)%64], alphabet[(i*13)%64]}
		c := Claims{UserID: string(id), CustomerID: string(id[1:]) + "_-", LineNumber: "010-1234-5678",
			Permissions: Permissions}
		for _, typ := range []string{TypeAccess, TypeRefresh} {
			tok, _, err := tk.Issue(c, typ)
			if err != nil {
				t.Fatal(err)
			}
			if p := strings.Split(tok, ".")[1]; strings.ContainsAny(p, "-_") {
				t.Fatalf("payload %q", p)
			}
		}
	}
}

func TestClaimsOwnership(t *testing.T) {
	user := &Claims{UserID: "testuser01", CustomerID: "CUST001", LineNumber: "010-1234-5678",
		Permissions: []string{PermBillInquiry}}
	admin := &Claims{UserID: "admin", Permissions: []string{PermUserManagement}}
	switch {
	case !user.MayActOnLine("01012345678"), !user.MayActOnLine("010-1234-5678"), user.MayActOnLine("01087654321"),
		user.MayActOnLine("garbage"), !user.MayActOnUser("testuser01"), user.MayActOnUser("testuser02"),
		!user.MayActOnCustomer("CUST001"), user.MayActOnCustomer("CUST002"), user.IsAdmin(),
		!admin.IsAdmin(), !admin.MayActOnLine("01087654321"), !admin.MayActOnUser("x"), !admin.MayActOnCustomer("y"),
		user.Line() != "01012345678":
		t.Fatal("ownership rules broken")
	}
}
