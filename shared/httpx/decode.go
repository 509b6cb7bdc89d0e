package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// DecodeJSON reads the request body (already bounded by the body-limit
// middleware) into dst. Unknown fields are tolerated because the web client
// sends extras on some screens. An empty body decodes to dst's zero value so
// that "required" rules report field errors rather than a parse error.
func DecodeJSON(r *http.Request, dst any) error {
	body, err := ReadBody(r)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if err := RequireJSON(r); err != nil {
		return err
	}
	if err := json.Unmarshal(body, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			e := Malformed(err)
			e.Fields = map[string]string{te.Field: fmt.Sprintf("%s 값의 형식이 올바르지 않습니다", te.Field)}
			return e
		}
		return Malformed(err)
	}
	return nil
}

// RequireJSON refuses a body sent as anything but JSON with 415: a
// cross-site form can post text/plain or a urlencoded body without a CORS
// preflight, but not application/json. Call it for a non-empty body only
// (a logout sends none and no Content-Type).
func RequireJSON(r *http.Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err == nil && (mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))) {
		return nil
	}
	return &Error{Kind: KindMediaType, Code: "UNSUPPORTED_MEDIA_TYPE", Message: MsgMediaType,
		Details: "Content-Type=" + HeaderText(r.Header.Get("Content-Type"), 100)}
}

// ReadBody reads the whole request body. A body past the size limit or
// the read deadline keeps its error (413, 408 in the route's envelope); any
// other read failure is a malformed request.
func ReadBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err == nil {
		return body, nil
	}
	var mbe *http.MaxBytesError
	var e *Error
	if errors.As(err, &mbe) || errors.As(err, &e) {
		return nil, err
	}
	return nil, Malformed(err)
}

// Fields collects per-field validation messages, keeping the first failure of
// each field (SPEC §3.1.4: one string per field), in the order added.
type Fields struct {
	m     map[string]string
	order []string
}

// Add records msg for field unless the field already failed.
func (f *Fields) Add(field, msg string) {
	if f.m == nil {
		f.m = map[string]string{}
	}
	if _, ok := f.m[field]; ok {
		return
	}
	f.m[field] = msg
	f.order = append(f.order, field)
}

// Has reports whether field already failed.
func (f *Fields) Has(field string) bool { _, ok := f.m[field]; return ok }

// Empty reports whether nothing failed.
func (f *Fields) Empty() bool { return len(f.m) == 0 }

// Map returns the field messages.
func (f *Fields) Map() map[string]string { return f.m }

// First returns the message of the first failed field.
func (f *Fields) First() string {
	if len(f.order) == 0 {
		return ""
	}
	return f.m[f.order[0]]
}

// Joined returns the messages in the order added, joined by sep.
func (f *Fields) Joined(sep string) string {
	msgs := make([]string, 0, len(f.order))
	for _, k := range f.order {
		msgs = append(msgs, f.m[k])
	}
	return strings.Join(msgs, sep)
}

// Err returns nil when nothing failed, else a 400 whose message is msg (or the
// first field's message when msg is empty).
func (f *Fields) Err(msg string) error {
	if f.Empty() {
		return nil
	}
	if msg == "" {
		msg = f.First()
	}
	return Invalid(msg, f.Map())
}
