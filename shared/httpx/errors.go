package httpx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Kind classifies an error for the one place that maps errors to HTTP.
type Kind int

// The error kinds every service shares; each envelope style turns them into
// its own status, code and body.
const (
	KindInternal      Kind = iota // 500, never shows the cause
	KindInvalid                   // 400 validation (field errors)
	KindMalformed                 // 400 unreadable JSON
	KindUnauthorized              // 401
	KindForbidden                 // 403
	KindNotFound                  // 404
	KindMethod                    // 405
	KindConflict                  // 409
	KindTooLarge                  // 413
	KindUnprocessable             // 422
	KindLocked                    // 423
	KindUnavailable               // 503: the database (or both revocation stores) down
	KindTimeout                   // 408: the body did not arrive in time
	KindMediaType                 // 415: a body that is not JSON
)

var kindStatus = map[Kind]int{
	KindInternal: http.StatusInternalServerError, KindInvalid: http.StatusBadRequest,
	KindMalformed: http.StatusBadRequest, KindUnauthorized: http.StatusUnauthorized,
	KindForbidden: http.StatusForbidden, KindNotFound: http.StatusNotFound,
	KindMethod: http.StatusMethodNotAllowed, KindConflict: http.StatusConflict,
	KindTooLarge: http.StatusRequestEntityTooLarge, KindUnprocessable: http.StatusUnprocessableEntity,
	KindLocked: http.StatusLocked, KindUnavailable: http.StatusServiceUnavailable,
	KindTimeout: http.StatusRequestTimeout, KindMediaType: http.StatusUnsupportedMediaType,
}

// Messages the SPEC fixes for the generic errors (§2.5).
const (
	MsgValidation   = "입력값 검증에 실패했습니다."
	MsgMalformed    = "요청 데이터 형식이 올바르지 않습니다"
	MsgUnauthorized = "인증이 필요합니다."
	MsgTokenDetails = "유효한 토큰이 필요합니다."
	MsgAccessDenied = "서비스 이용 권한이 없습니다"
	MsgLineDenied   = "조회 권한이 없는 회선번호입니다"
	MsgTooLarge     = "요청 본문이 허용 크기를 초과했습니다."
	MsgBodyTimeout  = "요청 본문 수신 시간이 초과되었습니다."
	MsgMediaType    = "요청 본문은 application/json 형식이어야 합니다."
	MsgInternal     = "서버 내부 오류가 발생했습니다."
	MsgUnavailable  = "일시적으로 서비스를 이용할 수 없습니다. 잠시 후 다시 시도해주세요"
	MsgNotFound     = "요청한 API를 찾을 수 없습니다"
	MsgMethod       = "지원하지 않는 HTTP 메서드입니다"
)

// Error is an error the client may see: a kind, the SPEC's code and message,
// optional details and per-field messages, and the internal cause (never sent).
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Details string
	// Fields maps camelCase request field names to their first failed rule.
	Fields map[string]string
	// Extra adds style-specific top-level fields (e.g. Auth's lockedUntil).
	Extra map[string]any
	Err   error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Status is the HTTP status of the error.
func (e *Error) Status() int { return kindStatus[e.Kind] }

// Invalid is a 400 with field errors; msg is the envelope's message
// (MsgValidation unless the SPEC says otherwise).
func Invalid(msg string, fields map[string]string) *Error {
	if msg == "" {
		msg = MsgValidation
	}
	return &Error{Kind: KindInvalid, Code: "INVALID_REQUEST", Message: msg, Fields: fields}
}

// InvalidField is a 400 for one field whose message is also the envelope's.
func InvalidField(field, msg, details string) *Error {
	return &Error{Kind: KindInvalid, Code: "INVALID_REQUEST", Message: msg, Details: details,
		Fields: map[string]string{field: msg}}
}

// Malformed is a 400 for a body that is not the expected JSON.
func Malformed(cause error) *Error {
	return &Error{Kind: KindMalformed, Code: "INVALID_REQUEST", Message: MsgMalformed, Err: cause}
}

// Unauthorized is the 401 of a missing, invalid, expired or revoked token.
func Unauthorized(cause error) *Error {
	return &Error{Kind: KindUnauthorized, Code: "UNAUTHORIZED", Message: MsgUnauthorized, Details: MsgTokenDetails, Err: cause}
}

// Forbidden is a 403 with the SPEC's code and message.
func Forbidden(code, msg, details string) *Error {
	return &Error{Kind: KindForbidden, Code: code, Message: msg, Details: details}
}

// AccessDenied is the 403 of a missing permission.
func AccessDenied(permission string) *Error {
	return Forbidden("ACCESS_DENIED", MsgAccessDenied, "필요한 권한: "+permission)
}

// LineDenied is the 403 of a line number that is not the caller's.
func LineDenied() *Error {
	return Forbidden("UNAUTHORIZED_LINE_NUMBER", MsgLineDenied, "")
}

// NotFound is a 404 with the SPEC's code and message.
func NotFound(code, msg string) *Error { return &Error{Kind: KindNotFound, Code: code, Message: msg} }

// Conflict is a 409 with the SPEC's code and message.
func Conflict(code, msg string) *Error { return &Error{Kind: KindConflict, Code: code, Message: msg} }

// Unavailable is the 503 of a dependency that is down.
func Unavailable(cause error) *Error {
	return &Error{Kind: KindUnavailable, Code: "SERVICE_UNAVAILABLE", Message: MsgUnavailable, Err: cause}
}

// Internal wraps an unexpected error as a 500 that hides its cause.
func Internal(cause error) *Error {
	return &Error{Kind: KindInternal, Code: "INTERNAL_SERVER_ERROR", Message: MsgInternal, Err: cause}
}

// Unavailabler is implemented by errors that mean "a dependency is down"
// (shared/db marks connection failures this way) so they map to 503.
type Unavailabler interface{ Unavailable() bool }

// AsError turns any error into an *Error: *Error as is, oversize bodies into
// 413, dependency failures into 503, everything else into a 500.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &Error{Kind: KindTooLarge, Code: "PAYLOAD_TOO_LARGE", Message: MsgTooLarge, Err: err}
	}
	var u Unavailabler
	if errors.As(err, &u) && u.Unavailable() {
		return Unavailable(err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Unavailable(err)
	}
	return Internal(err)
}
