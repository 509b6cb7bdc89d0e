// Package auth is the Auth service: login with lockout, tokens and their
// revocation, registration, users and permissions (SPEC §3.1, §4).
package auth

import (
	"phonebill/shared/fn"
	"phonebill/shared/httpx"
)

// Service is the Auth route table.
func Service() fn.Service {
	return fn.Service{
		Name: "auth", Style: httpx.StyleAuth,
		Prefixes:   []string{"/api/v1/auth", "/api/v1/users"},
		HealthPath: "/api/v1/auth/health", HealthText: "Auth Service is running",
		Start: start,
	}
}
