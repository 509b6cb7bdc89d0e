package httpx

import (
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"
)

// HeaderText is the copy of a request header value that phonebill stores or
// logs (User-Agent, X-Forwarded-For): valid UTF-8 whatever the client sent,
// without control characters, at most max bytes. HTTP allows any byte above
// 0x7f in a header (obs-text) and PostgreSQL refuses invalid UTF-8, so bytes
// that do not form UTF-8 are read as Latin-1, the encoding obs-text came
// from: "Caf\xe9" is kept as "Café", never as a failed insert.
func HeaderText(v string, max int) string {
	if !utf8.ValidString(v) {
		v = latin1Fallback(v)
	}
	if strings.ContainsFunc(v, isControl) {
		v = strings.Map(func(r rune) rune {
			if isControl(r) {
				return -1
			}
			return r
		}, v)
	}
	return clipUTF8(v, max)
}

// latin1Fallback keeps v's valid UTF-8 sequences and reads each byte that
// is not part of one as a Latin-1 character.
func latin1Fallback(v string) string {
	var b strings.Builder
	b.Grow(len(v) + 8)
	for i := 0; i < len(v); {
		r, n := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(rune(v[i]))
		} else {
			b.WriteString(v[i : i+n])
		}
		i += n
	}
	return b.String()
}

// clipUTF8 cuts v to at most max bytes without splitting a character.
func clipUTF8(v string, max int) string {
	if len(v) <= max {
		return v
	}
	for max > 0 && !utf8.RuneStart(v[max]) {
		max--
	}
	return v[:max]
}

// isControl is a C0 or C1 control character or DEL (NUL included, which
// PostgreSQL refuses in text).
func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r <= 0x9f) }

// TextFault says why a request string cannot be stored as text, or "" when
// it can: invalid UTF-8 and control characters (tab, CR and LF included:
// none of phonebill's fields is multi-line) are refused everywhere.
func TextFault(v string) string {
	switch {
	case !utf8.ValidString(v):
		return "올바른 UTF-8 문자열이 아닙니다"
	case strings.ContainsFunc(v, isControl):
		return "제어 문자는 사용할 수 없습니다"
	}
	return ""
}

// NameFault is TextFault for a name shown to people (a user's or product's
// name): it also refuses the invisible characters that make one name look
// like another or reverse the text around it — bidi controls (U+202A–202E,
// U+2066–2069, U+200E/F, U+061C), zero-width characters (U+200B–200D,
// U+2060, U+FEFF) and other format characters (category Cf).
func NameFault(v string) string {
	if f := TextFault(v); f != "" {
		return f
	}
	if strings.ContainsFunc(v, func(r rune) bool { return unicode.Is(unicode.Cf, r) }) {
		return "보이지 않는 문자나 방향 제어 문자는 사용할 수 없습니다"
	}
	return ""
}

// CheckText adds a TextFault field error for every string (or string in a
// slice) of the decoded body v, a pointer to a struct with json tags, whose
// field has not already failed: call it after a route's own rules, so their
// more specific messages win, and no body string the rules let through can
// carry a NUL (which PostgreSQL refuses) or a control character into a row.
func CheckText(f *Fields, v any) {
	rv := reflect.Indirect(reflect.ValueOf(v))
	if rv.Kind() != reflect.Struct {
		return
	}
	rt := rv.Type()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" || f.Has(name) {
			continue
		}
		fv := reflect.Indirect(rv.Field(i))
		switch {
		case fv.Kind() == reflect.String:
			if fault := TextFault(fv.String()); fault != "" {
				f.Add(name, fault)
			}
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.String:
			for j := range fv.Len() {
				if fault := TextFault(fv.Index(j).String()); fault != "" {
					f.Add(name, fault)
					break
				}
			}
		}
	}
}
