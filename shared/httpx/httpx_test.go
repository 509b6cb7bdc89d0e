package httpx_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"phonebill/shared/httpx"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func decode(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q is not JSON: %v", rec.Body.String(), err)
	}
	return m
}

var localTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$`)

func TestStandardSuccessEnvelope(t *testing.T) {
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/api/v1/bills/menu", nil)
	httpx.OK(rec, r, "요금조회 메뉴를 성공적으로 조회했습니다", map[string]int{"n": 0})
	m := decode(t, rec)
	if m["success"] != true || m["resultCode"] != "0000" || m["message"] != "요금조회 메뉴를 성공적으로 조회했습니다" ||
		m["resultMessage"] != m["message"] {
		t.Errorf("envelope = %v", m)
	}
	if d, ok := m["data"].(map[string]any); !ok || d["n"] != float64(0) {
		t.Errorf("data = %v, want {n:0} (zero numbers are sent)", m["data"])
	}
	if ts, _ := m["timestamp"].(string); !localTime.MatchString(ts) {
		t.Errorf("timestamp = %q, want yyyy-MM-ddTHH:mm:ss", ts)
	}
}

func TestBusinessFailureHasNoData(t *testing.T) {
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/api/v1/bills/inquiry", nil)
	httpx.Fail(rec, r, "1003", "해당 월 요금 정보가 없습니다", "")
	if rec.Code != 200 {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	m := decode(t, rec)
	if _, has := m["data"]; has || m["success"] != false || m["resultCode"] != "1003" {
		t.Errorf("failure = %v", m)
	}
	e := m["error"].(map[string]any)
	if e["code"] != "1003" || e["message"] != "해당 월 요금 정보가 없습니다" || e["path"] != "/api/v1/bills/inquiry" {
		t.Errorf("error = %v", e)
	}
}

func TestWriteErrorPerStyle(t *testing.T) {
	fieldErr := httpx.Invalid("", map[string]string{"userId": "사용자 ID는 필수입니다"})
	cases := []struct {
		name   string
		style  httpx.Style
		err    error
		status int
		check  func(t *testing.T, m map[string]any)
	}{
		{"auth validation", httpx.StyleAuth, fieldErr, 400, func(t *testing.T, m map[string]any) {
			fe, _ := m["fieldErrors"].(map[string]any)
			if m["status"] != float64(400) || m["error"] != "Bad Request" || m["code"] != "INVALID_REQUEST" ||
				m["message"] != httpx.MsgValidation || fe["userId"] != "사용자 ID는 필수입니다" || m["path"] != "/p" {
				t.Errorf("shape B = %v", m)
			}
		}},
		{"auth locked extra", httpx.StyleAuth, &httpx.Error{Kind: httpx.KindLocked, Code: "ACCOUNT_LOCKED", Message: "잠김",
			Extra: map[string]any{"lockedUntil": "2025-09-08T15:00:00"}}, 423, func(t *testing.T, m map[string]any) {
			if m["lockedUntil"] != "2025-09-08T15:00:00" || m["error"] != "Locked" {
				t.Errorf("423 = %v", m)
			}
		}},
		{"standard 401", httpx.StyleStandard, httpx.Unauthorized(errors.New("x")), 401, func(t *testing.T, m map[string]any) {
			e := m["error"].(map[string]any)
			if m["success"] != false || m["resultCode"] != "UNAUTHORIZED" || m["message"] != httpx.MsgUnauthorized ||
				e["details"] != httpx.MsgTokenDetails {
				t.Errorf("shape C = %v", m)
			}
		}},
		{"internal hides cause", httpx.StyleStandard, errors.New("pq: secret detail"), 500, func(t *testing.T, m map[string]any) {
			if m["message"] != httpx.MsgInternal || strings.Contains(toJSON(m), "secret detail") {
				t.Errorf("500 = %v", m)
			}
		}},
		{"kos validation", httpx.StyleKOS, httpx.Invalid("입력값이 올바르지 않습니다: x", nil), 400, func(t *testing.T, m map[string]any) {
			if m["resultCode"] != "9001" || m["success"] != false {
				t.Errorf("KOS = %v", m)
			}
		}},
		{"kos api", httpx.StyleKOSAPI, httpx.Invalid("고객 ID는 필수입니다", nil), 400, func(t *testing.T, m map[string]any) {
			if m["errorCode"] != "4000" || m["message"] != "고객 ID는 필수입니다" {
				t.Errorf("ApiResponse = %v", m)
			}
			if _, ok := m["timestamp"].(float64); !ok {
				t.Errorf("timestamp = %v, want epoch ms number", m["timestamp"])
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			r := httptest.NewRequest("GET", "/p", nil)
			r = r.WithContext(httpx.WithStyle(r.Context(), tc.style))
			httpx.WriteError(rec, r, quiet, tc.err)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d", rec.Code, tc.status)
			}
			tc.check(t, decode(t, rec))
		})
	}
}

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// stack is the middleware order fn uses inside its outermost security
// headers: CORS, then logging and recovery, then the body limit.
func stack(h http.Handler) http.Handler {
	return httpx.CORS([]string{"http://localhost:3000"}, httpx.Log(quiet, httpx.LimitBody(64, h)))
}

func TestDecodeLimitsAndErrors(t *testing.T) {
	var got struct {
		UserID string `json:"userId"`
		N      int    `json:"n"`
	}
	h := stack(httpx.Handle(quiet, func(w http.ResponseWriter, r *http.Request) error {
		if err := httpx.DecodeJSON(r, &got); err != nil {
			return err
		}
		httpx.WriteJSON(w, 200, got)
		return nil
	}))
	cases := []struct {
		name, body string
		status     int
	}{
		{"ok", `{"userId":"a","extra":true}`, 200},
		{"empty body decodes to zero", ``, 200},
		{"malformed", `{"userId":`, 400},
		{"wrong type", `{"n":"x"}`, 400},
		{"too large", `{"userId":"` + strings.Repeat("a", 100) + `"}`, 413},
		{"text/plain", `{"userId":"a"}`, 415},
		{"form", `userId=a`, 415},
		{"no content type", `{"userId":"a"}`, 415},
		{"json with charset", `{"userId":"a"}`, 200},
		{"problem+json", `{"userId":"a"}`, 200},
	}
	contentType := map[string]string{"text/plain": "text/plain;charset=UTF-8", "form": "application/x-www-form-urlencoded",
		"no content type": "", "json with charset": "application/json; charset=utf-8",
		"problem+json": "application/merge-patch+json"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("POST", "/x", strings.NewReader(tc.body))
			if ct, ok := contentType[tc.name]; ok {
				req.Header.Set("Content-Type", ct)
			} else {
				req.Header.Set("Content-Type", "application/json")
			}
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status == 400 && decode(t, rec)["message"] != httpx.MsgMalformed {
				t.Errorf("message = %v", decode(t, rec)["message"])
			}
			if tc.status == 413 && decode(t, rec)["resultCode"] != "PAYLOAD_TOO_LARGE" {
				t.Errorf("413 body = %s", rec.Body)
			}
		})
	}
}

func TestCORSOnEveryResponse(t *testing.T) {
	h := stack(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		httpx.WriteError(w, r, quiet, httpx.NotFound("NOT_FOUND", "없음"))
	}))
	for _, path := range []string{"/missing", "/panic"} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Origin", "http://localhost:3000")
		h.ServeHTTP(rec, r)
		if got := rec.Header().Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != "http://localhost:3000" {
			t.Errorf("%s: Access-Control-Allow-Origin = %v, want exactly one echo of the origin", path, got)
		}
		if path == "/panic" && (rec.Code != 500 || decode(t, rec)["message"] != httpx.MsgInternal) {
			t.Errorf("panic: status %d body %s, want a 500 envelope", rec.Code, rec.Body)
		}
		if rec.Header().Get("X-Request-ID") == "" {
			t.Errorf("%s: no X-Request-ID", path)
		}
	}
	pre := httptest.NewRequest("OPTIONS", "/api/v1/products/change", nil)
	pre.Header.Set("Origin", "http://localhost:3000")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, pre)
	if rec.Code != 204 || !strings.Contains(rec.Header().Get("Access-Control-Allow-Headers"), "Idempotency-Key") ||
		rec.Header().Get("Access-Control-Max-Age") != "3600" || rec.Header().Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("preflight: %d %v", rec.Code, rec.Header())
	}
	evil := httptest.NewRequest("GET", "/missing", nil)
	evil.Header.Set("Origin", "http://evil.example")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, evil)
	if rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("disallowed origin was echoed")
	}
}

func TestFieldsKeepFirstFailure(t *testing.T) {
	var f httpx.Fields
	f.Add("password", "first")
	f.Add("password", "second")
	f.Add("userId", "third")
	if f.Map()["password"] != "first" || f.First() != "first" || f.Joined(", ") != "first, third" {
		t.Errorf("fields = %v", f.Map())
	}
	var e *httpx.Error
	if !errors.As(f.Err(""), &e) || e.Status() != 400 {
		t.Errorf("Err = %v", f.Err(""))
	}
}

// "*" in the allow-list lets any origin read public answers, never with
// credentials; an origin named beside it keeps them.
func TestCORSWildcardNeverCarriesCredentials(t *testing.T) {
	h := httpx.CORS([]string{"*", "http://localhost:3000"}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	cases := []struct{ origin, acao, creds string }{
		{"http://evil.example", "*", ""},
		{"*", "*", ""},
		{"http://localhost:3000", "http://localhost:3000", "true"},
		{"", "", ""},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/api/v1/kos/mock-datas", nil)
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if got := rec.Header().Values("Access-Control-Allow-Origin"); len(got) > 1 || rec.Header().Get("Access-Control-Allow-Origin") != c.acao ||
			rec.Header().Get("Access-Control-Allow-Credentials") != c.creds {
			t.Errorf("Origin %q: ACAO %v credentials %q, want %q %q", c.origin, got,
				rec.Header().Get("Access-Control-Allow-Credentials"), c.acao, c.creds)
		}
	}
}
