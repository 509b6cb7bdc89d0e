package auth

import (
	"fmt"
	"time"

	"phonebill/shared/httpx"
)

// Messages of SPEC §3.1 and §4.1 that the Auth service sends.
const (
	msgInvalidCredentials = "ID 또는 비밀번호를 확인해주세요"
	msgAccountInactive    = "비활성 상태인 계정입니다."
	msgInvalidToken       = "유효하지 않은 토큰입니다."
	msgExpiredToken       = "만료된 토큰입니다."
	msgValidToken         = "유효한 토큰입니다."
	msgWrongCurrent       = "현재 비밀번호가 올바르지 않습니다."
	msgUserExists         = "이미 사용중인 사용자ID입니다"
	msgLogout             = "로그아웃이 완료되었습니다."
	msgRegistered         = "사용자가 성공적으로 등록되었습니다"
	msgPasswordChanged    = "비밀번호가 성공적으로 변경되었습니다. 다시 로그인해 주세요."
	msgUnlocked           = "계정 잠금이 성공적으로 해제되었습니다."
	msgGranted            = "권한이 성공적으로 부여되었습니다."
	msgRevoked            = "권한이 성공적으로 철회되었습니다."
)

// errInvalidCredentials is the one answer for a wrong password and an unknown
// id alike (SPEC §4.1: no account enumeration).
func errInvalidCredentials() error {
	return &httpx.Error{Kind: httpx.KindUnauthorized, Code: "INVALID_CREDENTIALS", Message: msgInvalidCredentials}
}

// errLocked is the 423 of a locked id; the message names the configured
// threshold and duration and the unlock time.
func (a *Accounts) errLocked(until time.Time) error {
	at := httpx.FormatLocal(until)
	return &httpx.Error{Kind: httpx.KindLocked, Code: "ACCOUNT_LOCKED",
		Message: fmt.Sprintf("로그인 %d회 실패로 계정이 잠겼습니다. %d분 후 다시 시도해주세요. (잠금 해제 시간: %s)",
			a.cfg.MaxFailedAttempts, int(a.cfg.Lockout/time.Minute), at),
		Extra: map[string]any{"lockedUntil": at}}
}

func errInactive() error {
	return httpx.Forbidden("ACCOUNT_INACTIVE", msgAccountInactive, "")
}

func errInvalidToken(cause error) error {
	return &httpx.Error{Kind: httpx.KindUnauthorized, Code: "INVALID_TOKEN", Message: msgInvalidToken, Err: cause}
}

func errWrongCurrentPassword() error {
	return &httpx.Error{Kind: httpx.KindUnauthorized, Code: "INVALID_CREDENTIALS", Message: msgWrongCurrent}
}

// errUserNotFound names what was looked up ("userId", "lineNumber",
// "customerId") and the value, as SPEC §3.1.6 does for userId.
func errUserNotFound(key, value string) error {
	return httpx.NotFound("USER_NOT_FOUND", "사용자를 찾을 수 없습니다. "+key+": "+value)
}

// errOtherUser is the 403 of a self|admin route called on someone else.
func errOtherUser() error {
	return httpx.Forbidden("ACCESS_DENIED", httpx.MsgAccessDenied, "본인 또는 관리자만 접근할 수 있습니다")
}

func errInvalidPermission(code string) error {
	msg := "유효하지 않은 권한 코드입니다: " + code
	return httpx.InvalidField("permissionCode", msg, "")
}
