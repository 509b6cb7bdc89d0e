package auth

import (
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"phonebill/shared/auth"
	"phonebill/shared/httpx"
)

// Field messages of SPEC §3.1.4; login reuses the userId and password ones.
const (
	msgUserIDRequired     = "사용자 ID는 필수입니다"
	msgUserIDLength       = "사용자 ID는 3자 이상 20자 이하여야 합니다"
	msgUserIDPattern      = "사용자 ID는 영문, 숫자, _, - 만 사용 가능합니다"
	msgCustomerIDRequired = "고객 ID는 필수입니다"
	msgCustomerIDLength   = "고객 ID는 20자 이하여야 합니다"
	msgCustomerIDPattern  = "고객 ID는 영문, 숫자, _, - 만 사용 가능합니다"
	msgLineRequired       = "회선번호는 필수입니다"
	msgLineFormat         = "회선번호는 010-XXXX-XXXX 형식이어야 합니다"
	msgLineDigits         = "회선번호는 010으로 시작하는 11자리 숫자여야 합니다"
	msgUserNameRequired   = "사용자 이름은 필수입니다"
	msgUserNameLength     = "사용자 이름은 50자 이하여야 합니다"
	msgPasswordRequired   = "비밀번호는 필수입니다"
	msgPasswordLength     = "비밀번호는 8자 이상 50자 이하여야 합니다"
	msgPasswordPolicy     = "비밀번호는 대문자, 소문자, 숫자, 특수문자(@$!%*?&)를 각각 최소 1개씩 포함해야 합니다"
	msgPermissionsEmpty   = "권한은 최소 1개 이상 필요합니다"
	msgPermissionInvalid  = "유효하지 않은 권한 코드입니다: "
	msgCurrentRequired    = "현재 비밀번호는 필수입니다"
	msgRefreshRequired    = "리프레시 토큰은 필수입니다"
	msgTokenRequired      = "토큰은 필수입니다"
)

var (
	// idPattern is the alphabet of user and customer ids: it keeps every JWT
	// claim inside [A-Za-z0-9_-] (SPEC §2.6).
	idPattern      = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	dashedLine     = regexp.MustCompile(`^010-[0-9]{4}-[0-9]{4}$`)
	passwordChars  = regexp.MustCompile(`^[A-Za-z0-9@$!%*?&]+$`)
	passwordLower  = regexp.MustCompile(`[a-z]`)
	passwordUpper  = regexp.MustCompile(`[A-Z]`)
	passwordDigit  = regexp.MustCompile(`[0-9]`)
	passwordSymbol = regexp.MustCompile(`[@$!%*?&]`)
)

// pick returns the camelCase value, else its snake_case alias (SPEC §2.3).
func pick(camel, snake string) string {
	if camel != "" {
		return camel
	}
	return snake
}

func blank(s string) bool { return strings.TrimSpace(s) == "" }

// checkUserID applies the userId rule (required, 3–20, id alphabet) to field.
func checkUserID(f *httpx.Fields, field, v string) {
	switch n := utf8.RuneCountInString(v); {
	case blank(v):
		f.Add(field, msgUserIDRequired)
	case n < 3 || n > 20:
		f.Add(field, msgUserIDLength)
	case !idPattern.MatchString(v):
		f.Add(field, msgUserIDPattern)
	}
}

// checkLoginPassword is login's password rule: 8–50 characters only, so the
// seeded passwords (test1234) keep working (SPEC §9 #8).
func checkLoginPassword(f *httpx.Fields, field, v string) {
	switch n := utf8.RuneCountInString(v); {
	case blank(v):
		f.Add(field, msgPasswordRequired)
	case n < 8 || n > 50:
		f.Add(field, msgPasswordLength)
	}
}

// checkNewPassword is the registration and change rule of SPEC §3.1.4. Its
// alphabet is ASCII, so a valid password never exceeds bcrypt's 72 bytes.
func checkNewPassword(f *httpx.Fields, field, v string) {
	switch n := utf8.RuneCountInString(v); {
	case v == "":
		f.Add(field, msgPasswordRequired)
	case n < 8 || n > 50:
		f.Add(field, msgPasswordLength)
	case !passwordChars.MatchString(v) || !passwordLower.MatchString(v) || !passwordUpper.MatchString(v) ||
		!passwordDigit.MatchString(v) || !passwordSymbol.MatchString(v):
		f.Add(field, msgPasswordPolicy)
	}
}

// checkPathID validates an id taken from a path or query: the id alphabet
// and the column's 50 characters, so hostile input answers 400 before any
// lookup.
func checkPathID(field, v string) error {
	var f httpx.Fields
	switch {
	case v == "":
		f.Add(field, msgUserIDRequired)
	case len(v) > 50 || !idPattern.MatchString(v):
		f.Add(field, msgUserIDPattern)
	}
	return f.Err(httpx.MsgValidation)
}

// permissionCode returns the canonical code of s (case-insensitive).
func permissionCode(s string) (string, bool) {
	up := strings.ToUpper(strings.TrimSpace(s))
	for _, p := range auth.Permissions {
		if p == up {
			return p, true
		}
	}
	return "", false
}

// selfServicePermissions are the codes an anonymous registration may ask for
// (SPEC §9 #7); an admin token may grant any.
var selfServicePermissions = []string{auth.PermBillInquiry, auth.PermProductChange}

// LoginInput is a validated login request.
type LoginInput struct {
	UserID    string
	Password  string
	AutoLogin bool
	ClientIP  string
	UserAgent string
}

// loginBody is the login request as sent: camelCase with snake_case aliases.
type loginBody struct {
	UserID       string `json:"userId"`
	UserIDAlias  string `json:"user_id"`
	Password     string `json:"password"`
	AutoLogin    *bool  `json:"autoLogin"`
	AutoLoginAlt *bool  `json:"auto_login"`
}

// input validates b (SPEC §3.1.1).
func (b loginBody) input() (LoginInput, error) {
	in := LoginInput{UserID: pick(b.UserID, b.UserIDAlias), Password: b.Password}
	switch {
	case b.AutoLogin != nil:
		in.AutoLogin = *b.AutoLogin
	case b.AutoLoginAlt != nil:
		in.AutoLogin = *b.AutoLoginAlt
	}
	var f httpx.Fields
	checkUserID(&f, "userId", in.UserID)
	checkLoginPassword(&f, "password", in.Password)
	httpx.CheckText(&f, &b)
	return in, f.Err(httpx.MsgValidation)
}

// RegisterInput is a validated registration request.
type RegisterInput struct {
	UserID, CustomerID, LineNumber, LineDigits, UserName, Password string
	Permissions                                                    []string
}

// registerBody is the registration request as sent.
type registerBody struct {
	UserID          string   `json:"userId"`
	UserIDAlias     string   `json:"user_id"`
	CustomerID      string   `json:"customerId"`
	CustomerIDAlias string   `json:"customer_id"`
	LineNumber      string   `json:"lineNumber"`
	LineNumberAlias string   `json:"line_number"`
	UserName        string   `json:"userName"`
	UserNameAlias   string   `json:"user_name"`
	Password        string   `json:"password"`
	Permissions     []string `json:"permissions"`
}

// input validates b with the rules and messages of SPEC §3.1.4: one message
// per field (the first failed rule); the envelope's message is the first
// failure among customerId and permissions, which the form does not show
// (SPEC §10.7), else the generic text. admin widens the allowed permissions.
func (b registerBody) input(admin bool) (RegisterInput, error) {
	in := RegisterInput{
		UserID: pick(b.UserID, b.UserIDAlias), CustomerID: pick(b.CustomerID, b.CustomerIDAlias),
		LineNumber: pick(b.LineNumber, b.LineNumberAlias), UserName: strings.TrimSpace(pick(b.UserName, b.UserNameAlias)),
		Password: b.Password,
	}
	var f httpx.Fields
	checkUserID(&f, "userId", in.UserID)
	switch {
	case blank(in.CustomerID):
		f.Add("customerId", msgCustomerIDRequired)
	case utf8.RuneCountInString(in.CustomerID) > 20:
		f.Add("customerId", msgCustomerIDLength)
	case !idPattern.MatchString(in.CustomerID):
		f.Add("customerId", msgCustomerIDPattern)
	}
	switch {
	case blank(in.LineNumber):
		f.Add("lineNumber", msgLineRequired)
	case !dashedLine.MatchString(in.LineNumber):
		f.Add("lineNumber", msgLineFormat)
	default:
		in.LineDigits, _ = auth.NormalizeLine(in.LineNumber)
	}
	switch {
	case in.UserName == "":
		f.Add("userName", msgUserNameRequired)
	case httpx.NameFault(in.UserName) != "":
		f.Add("userName", httpx.NameFault(in.UserName))
	case utf8.RuneCountInString(in.UserName) > 50:
		f.Add("userName", msgUserNameLength)
	}
	checkNewPassword(&f, "password", in.Password)
	if len(b.Permissions) == 0 {
		f.Add("permissions", msgPermissionsEmpty)
	}
	for _, raw := range b.Permissions {
		code, ok := permissionCode(raw)
		if ok && !admin && !slices.Contains(selfServicePermissions, code) {
			ok = false
		}
		if !ok {
			f.Add("permissions", msgPermissionInvalid+raw)
			break
		}
		if !slices.Contains(in.Permissions, code) {
			in.Permissions = append(in.Permissions, code)
		}
	}
	httpx.CheckText(&f, &b)
	msg := httpx.MsgValidation
	for _, k := range []string{"customerId", "permissions"} {
		if m, ok := f.Map()[k]; ok {
			msg = m
			break
		}
	}
	return in, f.Err(msg)
}

// ChangePasswordInput is a password change request.
type ChangePasswordInput struct {
	UserID, CurrentPassword, NewPassword string
}

// changePasswordBody is the JSON form of the change-password parameters.
type changePasswordBody struct {
	UserID               string `json:"userId"`
	UserIDAlias          string `json:"user_id"`
	CurrentPassword      string `json:"currentPassword"`
	CurrentPasswordAlias string `json:"current_password"`
	NewPassword          string `json:"newPassword"`
	NewPasswordAlias     string `json:"new_password"`
}

// refreshBody is the refresh request.
type refreshBody struct {
	RefreshToken      string `json:"refreshToken"`
	RefreshTokenAlias string `json:"refresh_token"`
}
