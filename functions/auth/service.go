// Package auth is the Auth service: login with lockout, tokens and their
// revocation, registration, users and permissions (SPEC §3.1, §4).
package auth

import (
	"phonebill/shared/auth"
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
		Routes: []fn.Route{
			{Name: "auth-login", Method: "POST", Path: "/api/v1/auth/login",
				Access: auth.AccessPublic, Handle: fn.Bind((*Handlers).Login)},
			{Name: "auth-logout", Method: "POST", Path: "/api/v1/auth/logout",
				Access: auth.AccessToken, Handle: fn.Bind((*Handlers).Logout)},
			{Name: "auth-refresh", Method: "POST", Path: "/api/v1/auth/refresh",
				Access: auth.AccessPublic, Handle: fn.Bind((*Handlers).Refresh)},
			// Public, but a valid admin token may grant any permission.
			{Name: "auth-register", Method: "POST", Path: "/api/v1/auth/register",
				Access: auth.AccessPublic, Handle: fn.Bind((*Handlers).Register)},
			{Name: "auth-verify", Method: "GET", Path: "/api/v1/auth/verify",
				Access: auth.AccessPublic, Handle: fn.Bind((*Handlers).Verify)},
			{Name: "auth-change-password", Method: "POST", Path: "/api/v1/auth/change-password",
				Access: auth.AccessSelf, Handle: fn.Bind((*Handlers).ChangePassword)},
			{Name: "auth-unlock", Method: "POST", Path: "/api/v1/auth/unlock/{userId}",
				Access: auth.AccessAdmin, Handle: fn.Bind((*Handlers).Unlock)},
			{Name: "user-get", Method: "GET", Path: "/api/v1/users/{userId}",
				Access: auth.AccessSelf, Handle: fn.Bind((*Handlers).User)},
			{Name: "user-list", Method: "GET", Path: "/api/v1/users",
				Access: auth.AccessAdmin, Handle: fn.Bind((*Handlers).Users)},
			{Name: "user-by-line", Method: "GET", Path: "/api/v1/users/by-line/{lineNumber}",
				Access: auth.AccessSelf, Handle: fn.Bind((*Handlers).UserByLine)},
			{Name: "user-by-customer", Method: "GET", Path: "/api/v1/users/by-customer/{customerId}",
				Access: auth.AccessSelf, Handle: fn.Bind((*Handlers).UserByCustomer)},
			{Name: "user-permission-grant", Method: "POST", Path: "/api/v1/users/{userId}/permissions/{permissionCode}/grant",
				Access: auth.AccessAdmin, Handle: fn.Bind((*Handlers).GrantPermission)},
			{Name: "user-permission-revoke", Method: "DELETE", Path: "/api/v1/users/{userId}/permissions/{permissionCode}",
				Access: auth.AccessAdmin, Handle: fn.Bind((*Handlers).RevokePermission)},
		},
	}
}
