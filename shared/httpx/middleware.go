// Package httpx holds what every function's HTTP layer shares: the response
// envelopes and error bodies of the SPEC, error-to-status mapping in one place,
// JSON decoding with a body limit, CORS, request logging, panic recovery and
// Prometheus metrics.
package httpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sync"
	"time"
)

type requestIDKey struct{}

// RequestID is the request's id: the caller's X-Request-ID when it is sane,
// else a generated one.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

var saneRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	s := hex.EncodeToString(b[:])
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

// StatusRecorder remembers the status a handler wrote.
type StatusRecorder struct {
	http.ResponseWriter
	Status int
	Bytes  int
}

// WriteHeader implements http.ResponseWriter.
func (s *StatusRecorder) WriteHeader(code int) {
	if s.Status == 0 {
		s.Status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (s *StatusRecorder) Write(b []byte) (int, error) {
	if s.Status == 0 {
		s.Status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.Bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *StatusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

type logInfoKey struct{}

// LogInfo carries per-request attributes that inner layers learn (the route
// and the authenticated user) to the outer log line.
type LogInfo struct {
	Route  string
	UserID string
}

// LogInfoOf returns the request's mutable log attributes (nil outside Log).
func LogInfoOf(ctx context.Context) *LogInfo {
	li, _ := ctx.Value(logInfoKey{}).(*LogInfo)
	return li
}

// Log assigns the request id, recovers panics into a 500 envelope, and writes
// one JSON log line per request.
func Log(lg *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if !saneRequestID.MatchString(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-ID", id)
		info := &LogInfo{}
		ctx := context.WithValue(context.WithValue(r.Context(), requestIDKey{}, id), logInfoKey{}, info)
		r = r.WithContext(ctx)
		rec := &StatusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				lg.ErrorContext(ctx, "panic", "panic", fmt.Sprint(p), "request_id", id, "path", r.URL.Path)
				if rec.Status == 0 {
					WriteError(rec, r, lg, Internal(fmt.Errorf("panic: %v", p)))
				}
			}
			attrs := []any{"method", r.Method, "path", r.URL.Path, "status", rec.Status,
				"duration_ms", float64(time.Since(start).Microseconds()) / 1000, "request_id", id}
			if info.Route != "" {
				attrs = append(attrs, "route", info.Route)
			}
			if info.UserID != "" {
				attrs = append(attrs, "user_id", info.UserID)
			}
			lg.InfoContext(ctx, "request", attrs...)
		}()
		next.ServeHTTP(rec, r)
	})
}

// CORS answers preflights with 204 and puts the CORS headers on every
// response (errors and recovered panics included), so it must be outside
// every layer that can answer. An origin named in origins is echoed with
// Access-Control-Allow-Credentials; "*" in origins lets any other origin in
// as a plain wildcard, without credentials: an echoed or wildcard origin
// with credentials would let any site read a logged-in user's answers.
func CORS(origins []string, next http.Handler) http.Handler {
	anyOrigin := slices.Contains(origins, "*")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		named := origin != "" && origin != "*" && slices.Contains(origins, origin)
		if named || (origin != "" && anyOrigin) {
			if named {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Credentials", "true")
			} else {
				h.Set("Access-Control-Allow-Origin", "*")
			}
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-ID, Idempotency-Key, X-Mock-Scenario")
			h.Set("Access-Control-Expose-Headers", "Idempotent-Replayed, X-Request-ID")
			h.Set("Access-Control-Max-Age", "3600")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// SecurityHeaders puts the OWASP REST headers that fit a JSON API on every
// response: answers carry personal data, so no cache may keep them; no MIME
// sniffing; never framed; no Referer leaks. HSTS is the TLS edge's (the
// functions listen on plain HTTP behind it).
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// LimitBody bounds every request body; reading past it fails with an error
// that WriteError maps to 413.
func LimitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// No early Content-Length refusal: the route's envelope style is not
		// known yet; the handler's read fails and answers 413 in its style.
		r.Body = http.MaxBytesReader(w, r.Body, max)
		next.ServeHTTP(w, r)
	})
}

// BodyDeadline gives a client d to send its request body, counted from the
// moment the handler is reached; a body still arriving then fails the read
// with a 408 in the route's envelope and the connection is closed. Requests
// without a body are left alone: the server watches their connection for a
// client going away, and a deadline there would cancel a slow handler.
func BodyDeadline(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d <= 0 || r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(d)); err != nil {
			next.ServeHTTP(w, r) // not a real connection (a recorder)
			return
		}
		r.Body = &deadlineBody{ReadCloser: r.Body, clear: func() { _ = rc.SetReadDeadline(time.Time{}) }}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the read deadline as soon as the body is read to its
// end (or fails): from then on the server's own watch of the connection
// must not time out while the handler works.
type deadlineBody struct {
	io.ReadCloser
	once  sync.Once
	clear func()
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The deadline stays: the server's discard of the unread rest
		// fails at once and the connection closes after the 408.
		return n, &Error{Kind: KindTimeout, Code: "REQUEST_TIMEOUT", Message: MsgBodyTimeout, Err: err}
	case err != nil:
		b.once.Do(b.clear)
	}
	return n, err
}
