package main

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"phonebill/functions/routes"
	"phonebill/shared/auth"
	"phonebill/shared/fn/fntest"
)

// bodyRoute is a route with a JSON body: a valid body and its string
// fields.
type bodyRoute struct {
	method, path string
	body         map[string]any
}

var bodyRoutes = []bodyRoute{
	{"POST", "/api/v1/auth/login", map[string]any{"userId": "testuser01", "password": "test1234"}},
	{"POST", "/api/v1/auth/register", map[string]any{"userId": "newuser9", "customerId": "C9", "lineNumber": "010-5555-9999",
		"userName": "김철수", "password": "Passw0rd!", "permissions": []string{"BILL_INQUIRY"}}},
	{"POST", "/api/v1/auth/change-password", map[string]any{"userId": "admin", "currentPassword": "Admin1234!",
		"newPassword": "Admin5678!"}},
	{"POST", "/api/v1/bills/inquiry", map[string]any{"lineNumber": "010-1234-5678", "inquiryMonth": "202509"}},
	{"POST", "/api/v1/products/change/validation", map[string]any{"lineNumber": "01012345678",
		"currentProductCode": "5G-STANDARD-001", "targetProductCode": "5G-PREMIUM-001"}},
	{"POST", "/api/v1/products/change", map[string]any{"lineNumber": "01012345678",
		"currentProductCode": "5G-STANDARD-001", "targetProductCode": "5G-PREMIUM-001"}},
	{"POST", "/api/v1/kos/bill/inquiry", map[string]any{"lineNumber": "01012345678", "billingMonth": "202509",
		"requestId": "r1"}},
	{"POST", "/api/v1/kos/product/inquiry", map[string]any{"lineNumber": "01012345678", "requestId": "r1"}},
	{"POST", "/api/v1/kos/product/change", map[string]any{"lineNumber": "01012345678",
		"currentProductCode": "5G-STANDARD-001", "targetProductCode": "5G-PREMIUM-001", "requestId": "r1"}},
	{"POST", "/api/v1/kos/mock-datas", map[string]any{"customerId": "C1", "lineNumber": "01077778888"}},
}

func post(t *testing.T, base string, r bodyRoute, body, contentType, tok string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(r.method, base+r.path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-Mock-Scenario", "success")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(raw)
}

// TestBodyStringsRefuseControlCharacters: every string field of every JSON
// body, given a NUL, another control character or a bidi override (names),
// answers 400 with the route's validation error — never a 5xx from the
// database, never a 200 that stored it.
func TestBodyStringsRefuseControlCharacters(t *testing.T) {
	h, base := serveAllInOne(t)
	admin := h.AccessToken(t, "admin", "CUST900", "010-1234-5678", auth.PermAdmin, auth.PermBillInquiry,
		auth.PermProductChange)
	for _, r := range bodyRoutes {
		for field, valid := range r.body {
			bad := []string{"a\x00b", "a\x01b", "a\x7fb"}
			if field == "userName" {
				bad = append(bad, "\u202eabc", "ab\u200bc")
			}
			for _, v := range bad {
				body := map[string]any{}
				for k, x := range r.body {
					body[k] = x
				}
				if _, list := valid.([]string); list {
					body[field] = []string{v}
				} else {
					body[field] = v
				}
				b, _ := json.Marshal(body)
				status, raw := post(t, base, r, string(b), "application/json", admin)
				if status != 400 {
					t.Errorf("%s %s with %s=%q: %d %s", r.method, r.path, field, v, status, raw)
				}
			}
		}
	}
}

// TestBodiesAreJSONOnly: a body sent as text/plain or a form (which a
// cross-site page can post without a preflight) is refused with 415 in the
// route's envelope, whatever it holds.
func TestBodiesAreJSONOnly(t *testing.T) {
	h, base := serveAllInOne(t)
	admin := h.AccessToken(t, "admin", "CUST900", "010-1234-5678", auth.PermAdmin, auth.PermBillInquiry,
		auth.PermProductChange)
	for _, r := range bodyRoutes {
		b, _ := json.Marshal(r.body)
		for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
			status, raw := post(t, base, r, string(b), ct, admin)
			if status != http.StatusUnsupportedMediaType {
				t.Errorf("%s %s as %s: %d %s", r.method, r.path, ct, status, raw)
			}
		}
	}
	var n int
	if err := h.Pool.QueryRow(t.Context(), `SELECT count(*) FROM auth.auth_login_history`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d login attempts recorded for refused bodies (%v)", n, err)
	}
}

// FuzzBodyStrings puts fuzzed text into one string field of one JSON body
// route of the all-in-one: whatever the text, the answer is never a 5xx.
func FuzzBodyStrings(f *testing.F) {
	for i := range bodyRoutes {
		for _, v := range []string{"a\x00b", "\u202e", "\xff", "' OR 1=1 --", strings.Repeat("가", 300), ""} {
			f.Add(uint8(i), uint8(0), v)
			f.Add(uint8(i), uint8(1), v)
		}
	}
	h := fntest.New(f, nil)
	base := h.Listen(f)
	for k, v := range map[string]string{"KOS_BASE_URL": base, "KOS_MOCK_ERROR_RATE": "0", "KOS_MOCK_DELAY_RATE": "0",
		"KOS_MOCK_LATENCY_SCALE": "0.01", "KOS_MOCK_SCENARIO_HEADER": "true", "JWT_SECRET": fntest.Secret, "BCRYPT_COST": "4"} {
		f.Setenv(k, v)
	}
	base = h.Serve(f, routes.All()...).URL
	admin := h.AccessToken(f, "admin", "CUST900", "010-1234-5678", auth.PermAdmin, auth.PermBillInquiry,
		auth.PermProductChange)
	f.Fuzz(func(t *testing.T, route, field uint8, v string) {
		r := bodyRoutes[int(route)%len(bodyRoutes)]
		names := slices.Sorted(maps.Keys(r.body))
		name := names[int(field)%len(names)]
		body := maps.Clone(r.body)
		if _, list := body[name].([]string); list {
			body[name] = []string{v}
		} else {
			body[name] = v
		}
		b, _ := json.Marshal(body)
		if status, raw := post(t, base, r, string(b), "application/json", admin); status >= 500 {
			t.Fatalf("%s %s with %s=%q: %d %s", r.method, r.path, name, v, status, raw)
		}
	})
}
