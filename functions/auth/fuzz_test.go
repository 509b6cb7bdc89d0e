package auth

import (
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"phonebill/shared/auth"
	"phonebill/shared/httpx"
)

// decode runs the production decoding of a request body into dst.
func decode(body string, dst any) error {
	req := httptest.NewRequest("POST", "/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return httpx.DecodeJSON(req, dst)
}

// wantBadRequest fails unless err is a client error of the 400 family.
func wantBadRequest(t *testing.T, err error) {
	t.Helper()
	var he *httpx.Error
	if !errors.As(err, &he) || he.Status() != 400 {
		t.Fatalf("error %v is not a 400", err)
	}
}

func FuzzLoginDecode(f *testing.F) {
	for _, s := range []string{
		`{"userId":"testuser01","password":"test1234","autoLogin":false}`,
		`{"user_id":"testuser01","password":"test1234","auto_login":true}`,
		``, `{`, `null`, `[]`, `"x"`, `{"userId":12}`, `{"autoLogin":"yes"}`,
		`{"userId":"' OR 1=1 --","password":"x' OR '1'='1"}`,
		`{"userId":"\u0000\u0000\u0000","password":"\ud800\ud800\ud800\ud800"}`,
		`{"userId":"abc","userId":"def","password":"12345678"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var b loginBody
		if err := decode(body, &b); err != nil {
			wantBadRequest(t, err)
			return
		}
		in, err := b.input()
		if err != nil {
			wantBadRequest(t, err)
			return
		}
		// Accepted input satisfies the login rule.
		if n := utf8.RuneCountInString(in.UserID); n < 3 || n > 20 || !idPattern.MatchString(in.UserID) {
			t.Fatalf("accepted user id %q", in.UserID)
		}
		if n := utf8.RuneCountInString(in.Password); n < 8 || n > 50 {
			t.Fatalf("accepted password of %d characters", n)
		}
	})
}

func FuzzRegisterDecode(f *testing.F) {
	for _, s := range []string{
		`{"userId":"newuser1","customerId":"123456AbCdEfGhIjKlMn","lineNumber":"010-5555-6666","userName":"김철수","password":"Passw0rd!","permissions":["BILL_INQUIRY","PRODUCT_CHANGE"]}`,
		`{"user_id":"newuser1","customer_id":"C1","line_number":"010-5555-6666","user_name":"a","password":"Passw0rd!","permissions":["admin"]}`,
		``, `{`, `null`, `{"permissions":"BILL_INQUIRY"}`, `{"permissions":[null,1]}`, `{"lineNumber":"010-５５５５-6666"}`,
		`{"userId":"' OR 1=1 --","customerId":"' OR 1=1 --","lineNumber":"' OR 1=1 --","password":"' OR 1=1 --"}`,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, body string, admin bool) {
		var b registerBody
		if err := decode(body, &b); err != nil {
			wantBadRequest(t, err)
			return
		}
		in, err := b.input(admin)
		if err != nil {
			wantBadRequest(t, err)
			var he *httpx.Error
			errors.As(err, &he)
			if len(he.Fields) == 0 || he.Message == "" {
				t.Fatalf("400 without field errors: %+v", he)
			}
			return
		}
		// Accepted input satisfies every rule, and every value that goes
		// into a token stays inside the JWT-safe alphabet (SPEC §2.6).
		if !idPattern.MatchString(in.UserID) || len(in.UserID) < 3 || len(in.UserID) > 20 ||
			!idPattern.MatchString(in.CustomerID) || len(in.CustomerID) > 20 {
			t.Fatalf("accepted ids %q %q", in.UserID, in.CustomerID)
		}
		if d, ok := auth.NormalizeLine(in.LineNumber); !ok || d != in.LineDigits || auth.DashedLine(d) != in.LineNumber {
			t.Fatalf("accepted line %q (%q)", in.LineNumber, in.LineDigits)
		}
		if in.UserName == "" || utf8.RuneCountInString(in.UserName) > 50 {
			t.Fatalf("accepted name %q", in.UserName)
		}
		var pf httpx.Fields
		if checkNewPassword(&pf, "p", in.Password); !pf.Empty() || len(in.Password) > 72 {
			t.Fatalf("accepted password %q", in.Password)
		}
		if len(in.Permissions) == 0 {
			t.Fatal("accepted no permissions")
		}
		for _, p := range in.Permissions {
			if !slices.Contains(auth.Permissions, p) || (!admin && !slices.Contains(selfServicePermissions, p)) {
				t.Fatalf("accepted permission %q (admin %v)", p, admin)
			}
		}
	})
}
