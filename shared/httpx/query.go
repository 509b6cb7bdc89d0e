package httpx

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Params reads a request's query strictly, recording a field error (the
// parameter's name) for what a careless or hostile client sends: a
// parameter given twice (which value would a cache or a proxy have seen?),
// a value that is not storable text (TextFault), a number that is blank or
// out of range, a value outside an enumeration. A blank text parameter is
// taken as absent: the web client sends empty filters that way.
type Params struct {
	v url.Values
	f *Fields
}

// ParamsOf reads r's query (ParseQuery); errors go to f.
func ParamsOf(r *http.Request, f *Fields) Params {
	return Params{v: ParseQuery(r.URL.RawQuery, f), f: f}
}

// msgBadQuery is the field error of a pair that cannot be decoded.
const msgBadQuery = "쿼리 문자열 형식이 올바르지 않습니다"

// ParseQuery decodes a raw query like url.ParseQuery but never drops a pair
// in silence: url.URL.Query() skips a pair holding a ';' or a bad escape,
// so `status=x;drop` would be served as if no status filter were given.
// Such a pair is a field error on its name.
func ParseQuery(raw string, f *Fields) url.Values {
	v := url.Values{}
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		rawKey, rawVal, _ := strings.Cut(pair, "=")
		key, kerr := url.QueryUnescape(rawKey)
		val, verr := url.QueryUnescape(rawVal)
		if kerr != nil {
			key = rawKey
		}
		if kerr != nil || verr != nil || strings.Contains(pair, ";") {
			f.Add(clipUTF8(strings.ToValidUTF8(key, "?"), 60), msgBadQuery)
			continue
		}
		v[key] = append(v[key], val)
	}
	return v
}

// ParamsFrom reads already parsed values; errors go to f.
func ParamsFrom(v url.Values, f *Fields) Params { return Params{v: v, f: f} }

// Value is name's trimmed value, "" when absent or repeated, for a caller
// that checks the content itself with its own messages.
func (p Params) Value(name string) string {
	v, _ := p.single(name)
	return v
}

// single returns the trimmed single value of name and whether it was given.
func (p Params) single(name string) (string, bool) {
	vals, ok := p.v[name]
	if !ok {
		return "", false
	}
	if len(vals) > 1 {
		p.f.Add(name, fmt.Sprintf("%s는 한 번만 지정할 수 있습니다", name))
		return "", false
	}
	return strings.TrimSpace(vals[0]), true
}

// raw is single, with the value checked as text.
func (p Params) raw(name string) (string, bool) {
	v, given := p.single(name)
	if !given {
		return "", false
	}
	if fault := TextFault(v); fault != "" {
		p.f.Add(name, fault)
		return "", false
	}
	return v, true
}

// Text is name's value, "" when absent, blank or refused.
func (p Params) Text(name string) string {
	v, _ := p.raw(name)
	return v
}

// Int is name's value as an integer in [1,max]; absent → def. A given value
// that is blank or not such a number is an error (def is returned).
func (p Params) Int(name string, def, max int) int {
	v, given := p.raw(name)
	if !given {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		p.f.Add(name, fmt.Sprintf("%s는 1 이상 %d 이하의 숫자여야 합니다", name, max))
		return def
	}
	return n
}

// Enum is name's value upper-cased when it is one of allowed; absent or
// blank → ""; any other value is an error with msg.
func (p Params) Enum(name, msg string, allowed ...string) string {
	v := strings.ToUpper(p.Text(name))
	if v != "" && !slices.Contains(allowed, v) {
		p.f.Add(name, msg)
		return ""
	}
	return v
}
