package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"phonebill/shared/config"
)

// accepted checks what an accepted access token must be, whatever produced
// it: HS256 in its header, a signature the secret re-computes, and every
// claim rule of SPEC §2.6 at the verifier's clock.
func accepted(t *testing.T, tok string, c *Claims, now time.Time, leeway time.Duration) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("accepted a token of %d segments: %q", len(parts), tok)
	}
	var head struct {
		Alg string `json:"alg"`
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(raw, &head) != nil || head.Alg != "HS256" {
		t.Fatalf("accepted header %q (alg %q)", raw, head.Alg)
	}
	mac := hmac.New(sha256.New, []byte(testSecret))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		t.Fatalf("accepted a signature the secret does not compute: %q", tok)
	}
	switch {
	case c.Issuer != Issuer:
		t.Fatalf("accepted iss %q", c.Issuer)
	case !contains(c.Audience, AudienceAPI):
		t.Fatalf("accepted aud %v", c.Audience)
	case c.ExpiresAt == nil || !c.ExpiresAt.Add(leeway).After(now):
		t.Fatalf("accepted exp %v at %v", c.ExpiresAt, now)
	case c.IssuedAt == nil || c.IssuedAt.After(now.Add(leeway)):
		t.Fatalf("accepted iat %v at %v", c.IssuedAt, now)
	case c.NotBefore != nil && c.NotBefore.After(now.Add(leeway)):
		t.Fatalf("accepted nbf %v at %v", c.NotBefore, now)
	case c.Type != TypeAccess || c.ID == "" || c.UserID == "" || c.Subject != c.UserID:
		t.Fatalf("accepted claims %+v", c)
	}
}

// fuzzTokens is newTestTokens for a fuzz target.
func fuzzTokens(f *testing.F) (*Tokens, *fakeClock) {
	clk := &fakeClock{t: time.Date(2025, 9, 8, 14, 30, 0, 0, time.UTC)}
	tk, err := NewTokens(config.JWT{Secret: testSecret, AccessValiditySeconds: 1800, RefreshValiditySeconds: 86400,
		LeewaySeconds: 30}, clk.now)
	if err != nil {
		f.Fatal(err)
	}
	return tk, clk
}

func contains(list jwt.ClaimStrings, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// FuzzVerify: any string given as a token never panics, and whatever Verify
// accepts was signed HS256 with the secret and satisfies every claim rule.
// Seeds: valid, alg none, expired, truncated, other algorithms, key headers.
func FuzzVerify(f *testing.F) {
	tk, clk := fuzzTokens(f)
	now := clk.now()
	valid, _, _ := tk.Issue(sample, TypeAccess)
	refresh, _, _ := tk.Issue(sample, TypeRefresh)
	mustSign := func(m jwt.SigningMethod, c jwt.Claims, key any) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	expired := mapClaims(now.Add(-2 * time.Hour))
	kid := jwt.NewWithClaims(jwt.SigningMethodHS256, mapClaims(now))
	kid.Header["kid"] = "../../../../dev/null"
	kid.Header["jku"] = "https://evil.example/keys.json"
	kidTok, _ := kid.SignedString([]byte("attacker-key-0123456789abcdef-0123456"))
	for _, s := range []string{
		valid, refresh, valid[:len(valid)/2], valid + "x", strings.ToUpper(valid),
		mustSign(jwt.SigningMethodNone, mapClaims(now), jwt.UnsafeAllowNoneSignatureType),
		mustSign(jwt.SigningMethodHS512, mapClaims(now), []byte(testSecret)),
		mustSign(jwt.SigningMethodHS256, expired, []byte(testSecret)),
		kidTok, "", ".", "..", "a.b.c", "eyJhbGciOiJIUzI1NiJ9..", strings.Repeat("A", 9000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := tk.Verify(tok, TypeAccess)
		switch {
		case err == nil:
			accepted(t, tok, c, now, tk.Leeway())
		case errors.Is(err, ErrExpired):
			if c == nil {
				t.Fatal("ErrExpired without claims")
			}
		case !errors.Is(err, ErrInvalid):
			t.Fatalf("error %v is neither ErrInvalid nor ErrExpired", err)
		}
	})
}

// FuzzVerifyForged builds tokens from fuzzed header and payload JSON and
// signs them HS256 with the real secret (or, when wrongKey, another key): a
// token under another key is never accepted, and one under the right key
// only when its header says HS256 and its claims pass every rule. This
// explores the claim checks, which random token strings never reach.
func FuzzVerifyForged(f *testing.F) {
	tk, clk := fuzzTokens(f)
	now := clk.now()
	claims := func(m jwt.MapClaims) string { b, _ := json.Marshal(m); return string(b) }
	good := mapClaims(now)
	for _, h := range []string{`{"alg":"HS256","typ":"JWT"}`, `{"alg":"none"}`, `{"alg":"HS512"}`, `{"alg":"RS256"}`,
		`{"alg":"HS256","kid":"x","jku":"https://evil.example/k","jwk":{"kty":"oct","k":"AAAA"}}`, `{}`, `[]`, `{"alg":"hs256"}`} {
		for _, p := range []string{claims(good), `{}`, `null`, `{"exp":"soon"}`,
			claims(jwt.MapClaims{"userId": "a", "sub": "a", "type": "ACCESS", "iss": Issuer, "aud": []string{"x", AudienceAPI},
				"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": "j"}),
			claims(jwt.MapClaims{"userId": "a", "sub": "a", "type": "ACCESS", "iss": Issuer, "aud": AudienceAPI,
				"iat": now.Unix(), "exp": now.Add(-29 * time.Second).Unix(), "nbf": now.Add(time.Hour).Unix(), "jti": "j"}),
		} {
			f.Add(h, p, false)
			f.Add(h, p, true)
		}
	}
	f.Fuzz(func(t *testing.T, header, payload string, wrongKey bool) {
		enc := base64.RawURLEncoding
		signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
		key := []byte(testSecret)
		if wrongKey {
			key = []byte("attacker-key-0123456789abcdef-0123456")
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(signing))
		tok := signing + "." + enc.EncodeToString(mac.Sum(nil))
		c, err := tk.Verify(tok, TypeAccess)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrExpired) {
				t.Fatalf("error %v is neither ErrInvalid nor ErrExpired", err)
			}
			if wrongKey && errors.Is(err, ErrExpired) {
				t.Fatal("a token under another key was reported merely expired")
			}
			return
		}
		if wrongKey {
			t.Fatalf("accepted a token signed with another key: %s / %s", header, payload)
		}
		accepted(t, tok, c, now, tk.Leeway())
	})
}

// Key-selection headers (kid, jku, jwk, x5u) are ignored: only the
// configured secret verifies, whatever they point at (ASVS 9.1.3).
func TestVerifyIgnoresKeyHeaders(t *testing.T) {
	tk, clk := newTestTokens(t)
	attacker := []byte("attacker-key-0123456789abcdef-0123456")
	for _, key := range [][]byte{attacker, []byte(testSecret)} {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, mapClaims(clk.now()))
		tok.Header["kid"] = "attacker"
		tok.Header["jku"] = "https://evil.example/jwks.json"
		tok.Header["x5u"] = "https://evil.example/cert.pem"
		tok.Header["jwk"] = map[string]string{"kty": "oct", "k": base64.RawURLEncoding.EncodeToString(attacker)}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tk.Verify(s, TypeAccess)
		if string(key) == testSecret && err != nil {
			t.Fatalf("our own key with extra headers refused: %v", err)
		}
		if string(key) != testSecret && !errors.Is(err, ErrInvalid) {
			t.Fatalf("the key named by the headers was used: %v", err)
		}
	}
}
