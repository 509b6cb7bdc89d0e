package httpx

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"
)

// Style is one of the envelope shapes of SPEC §2.4; each service (and a few
// routes) answers in exactly one.
type Style int

const (
	// StyleStandard is shape C (Bill, Product): success/resultCode/message/data.
	StyleStandard Style = iota
	// StyleAuth is shape B for errors; Auth's successes are flat objects.
	StyleAuth
	// StyleKOS is KOS-Mock's KosCommonResponse (shape D).
	StyleKOS
	// StyleKOSAPI is KOS-Mock's ApiResponse of the mock-datas routes (shape D).
	StyleKOSAPI
	// StyleText answers plain text (health endpoints that Java served so).
	StyleText
)

type styleKey struct{}

// WithStyle makes errors of the request answer in style s.
func WithStyle(ctx context.Context, s Style) context.Context {
	return context.WithValue(ctx, styleKey{}, s)
}

// StyleOf is the envelope style of the request (StyleStandard by default).
func StyleOf(ctx context.Context) Style {
	s, _ := ctx.Value(styleKey{}).(Style)
	return s
}

// Envelope is shape C of SPEC §2.4. Data is omitted on failures because the
// client tests `success && data`.
type Envelope struct {
	Success       bool       `json:"success"`
	ResultCode    string     `json:"resultCode"`
	ResultMessage string     `json:"resultMessage"`
	Message       string     `json:"message"`
	Data          any        `json:"data,omitempty"`
	Error         *ErrorBody `json:"error,omitempty"`
	Timestamp     LocalTime  `json:"timestamp"`
	TraceID       string     `json:"traceId,omitempty"`
}

// ErrorBody is the `error` object of a shape C failure.
type ErrorBody struct {
	Code      string    `json:"code"`
	Message   string    `json:"message"`
	Details   string    `json:"details,omitempty"`
	Timestamp LocalTime `json:"timestamp"`
	Path      string    `json:"path,omitempty"`
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// OK writes a shape C success (HTTP 200, resultCode 0000).
func OK(w http.ResponseWriter, r *http.Request, message string, data any) {
	WriteJSON(w, http.StatusOK, Envelope{
		Success: true, ResultCode: "0000", ResultMessage: message, Message: message,
		Data: data, Timestamp: LocalTime(time.Now()), TraceID: RequestID(r.Context()),
	})
}

// Fail writes a shape C business failure: HTTP 200 with success:false, the
// way the client expects messages it should show (SPEC §2.4).
func Fail(w http.ResponseWriter, r *http.Request, code, message, details string) {
	writeStandardError(w, r, http.StatusOK, &Error{Code: code, Message: message, Details: details})
}

func writeStandardError(w http.ResponseWriter, r *http.Request, status int, e *Error) {
	now := LocalTime(time.Now())
	WriteJSON(w, status, Envelope{
		Success: false, ResultCode: e.Code, ResultMessage: e.Message, Message: e.Message,
		Error:     &ErrorBody{Code: e.Code, Message: e.Message, Details: e.Details, Timestamp: now, Path: r.URL.Path},
		Timestamp: now, TraceID: RequestID(r.Context()),
	})
}

// kosCodes maps generic kinds to KOS result codes (SPEC §5.7).
var kosCodes = map[Kind]string{
	KindInvalid: "9001", KindMalformed: "9003", KindNotFound: "9006", KindMethod: "9005",
	KindTooLarge: "9003", KindTimeout: "9003", KindMediaType: "9003", KindInternal: "9999", KindUnavailable: "9999",
}

// WriteError maps err to its status and body in the request's style, the one
// place where errors become HTTP. Only 5xx are logged; the client never sees
// internal error text.
func WriteError(w http.ResponseWriter, r *http.Request, lg *slog.Logger, err error) {
	e := AsError(err)
	status := e.Status()
	if status >= 500 && lg != nil {
		lg.ErrorContext(r.Context(), "request failed", "status", status, "code", e.Code, "err", err.Error(),
			"request_id", RequestID(r.Context()), "path", r.URL.Path)
	}
	switch StyleOf(r.Context()) {
	case StyleAuth:
		body := map[string]any{
			"timestamp": LocalTime(time.Now()), "status": status, "error": http.StatusText(status),
			"code": e.Code, "message": e.Message, "path": r.URL.Path,
		}
		if len(e.Fields) > 0 {
			body["fieldErrors"] = e.Fields
		}
		for k, v := range e.Extra {
			body[k] = v
		}
		WriteJSON(w, status, body)
	case StyleKOS:
		code := e.Code
		if c, ok := kosCodes[e.Kind]; ok && (len(code) != 4 || code == "") {
			code = c
		}
		WriteJSON(w, status, map[string]any{
			"success": false, "resultCode": code, "resultMessage": e.Message,
			"timestamp": LocalTime(time.Now()), "traceId": RequestID(r.Context()),
		})
	case StyleKOSAPI:
		code := e.Code
		if len(code) != 4 {
			code = "4000"
			if status >= 500 {
				code = "5000"
			}
		}
		WriteJSON(w, status, map[string]any{
			"success": false, "message": e.Message, "errorCode": code, "timestamp": time.Now().UnixMilli(),
		})
	case StyleText:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(e.Message))
	default:
		writeStandardError(w, r, status, e)
	}
}

// HandlerFunc is a handler that returns its error instead of writing it.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handle adapts h to http.Handler, writing any returned error with WriteError.
func Handle(lg *slog.Logger, h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			WriteError(w, r, lg, err)
		}
	})
}
