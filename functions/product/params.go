package product

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"phonebill/shared/auth"
	"phonebill/shared/httpx"
)

// Validation messages of the Product requests (SPEC §3.3).
const (
	msgLineRequired    = "회선번호는 필수입니다"
	msgLineFormat      = "회선번호는 010으로 시작하는 11자리 숫자여야 합니다"
	msgCurrentRequired = "현재 상품 코드는 필수입니다"
	msgTargetRequired  = "변경 대상 상품 코드는 필수입니다"
	msgCodeFormat      = "상품 코드는 50자 이하의 영문, 숫자, '-', '_'로 입력해야 합니다"
	msgKeyFormat       = "Idempotency-Key는 1~64자의 영문, 숫자, '-', '_'만 사용할 수 있습니다"
	msgDateFormat      = "날짜는 YYYY-MM-DD 형식이어야 합니다"
	msgDateOrder       = "시작일이 종료일보다 늦을 수 없습니다"
	msgDateTooOld      = "조회 가능한 기간을 초과했습니다 (최대 2년)"
)

// parseLine validates a line number parameter (either spelling) and
// returns its 11 digits.
func parseLine(field, raw string, required bool) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		if required {
			return "", httpx.InvalidField(field, msgLineRequired, "")
		}
		return "", nil
	}
	line, ok := auth.NormalizeLine(raw)
	if !ok {
		return "", httpx.InvalidField(field, msgLineFormat, field+"="+clip(raw, 40))
	}
	return line, nil
}

// validCode reports whether s can be a product code (the column holds 50).
func validCode(s string) bool {
	if len(s) < 1 || len(s) > maxProductCode {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// changeBody is the JSON body of validation and change (camelCase).
type changeBody struct {
	LineNumber         string `json:"lineNumber"`
	CurrentProductCode string `json:"currentProductCode"`
	TargetProductCode  string `json:"targetProductCode"`
}

// decodeChangeRequest reads and validates the body of validation and change
// (SPEC §3.3.3): 400 with the field errors, never a panic. An empty body is
// an empty request, so the required-field messages answer it.
func decodeChangeRequest(body []byte) (ChangeRequest, error) {
	var b changeBody
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &b); err != nil {
			e := httpx.Malformed(err)
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) && te.Field != "" {
				e.Fields = map[string]string{te.Field: fmt.Sprintf("%s 값의 형식이 올바르지 않습니다", te.Field)}
			}
			return ChangeRequest{}, e
		}
	}
	return validateChange(b)
}

func validateChange(b changeBody) (ChangeRequest, error) {
	var f httpx.Fields
	var req ChangeRequest
	switch line := strings.TrimSpace(b.LineNumber); {
	case line == "":
		f.Add("lineNumber", msgLineRequired)
	default:
		n, ok := auth.NormalizeLine(line)
		if !ok {
			f.Add("lineNumber", msgLineFormat)
		}
		req.LineNumber = n
	}
	req.CurrentProductCode = strings.TrimSpace(b.CurrentProductCode)
	req.TargetProductCode = strings.TrimSpace(b.TargetProductCode)
	for _, c := range []struct{ field, value, required string }{
		{"currentProductCode", req.CurrentProductCode, msgCurrentRequired},
		{"targetProductCode", req.TargetProductCode, msgTargetRequired},
	} {
		switch {
		case c.value == "":
			f.Add(c.field, c.required)
		case !validCode(c.value):
			f.Add(c.field, msgCodeFormat)
		}
	}
	if err := f.Err(""); err != nil {
		return ChangeRequest{}, err
	}
	return req, nil
}

// parseIdempotencyKey validates the optional header; ok=false when absent.
func parseIdempotencyKey(values []string) (key string, ok bool, err error) {
	if len(values) == 0 {
		return "", false, nil
	}
	key = strings.TrimSpace(values[0])
	if len(values) > 1 || !idempotencyKeyPattern.MatchString(key) {
		return "", false, httpx.InvalidField("Idempotency-Key", msgKeyFormat, "")
	}
	return key, true, nil
}

// historyPeriod resolves the history filter dates (SPEC §3.3.5): the last
// month by default, start ≤ end, start not older than two years. It returns
// [from, before) in loc.
func historyPeriod(startRaw, endRaw string, today time.Time, loc *time.Location) (from, before time.Time, err error) {
	today = time.Date(today.In(loc).Year(), today.In(loc).Month(), today.In(loc).Day(), 0, 0, 0, 0, loc)
	parse := func(field, raw string) (time.Time, bool, error) {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			return time.Time{}, false, nil
		}
		t, err := time.ParseInLocation(dateLayout, raw, loc)
		if err != nil {
			return time.Time{}, false, httpx.InvalidField(field, msgDateFormat, field+"="+clip(raw, 40))
		}
		return t, true, nil
	}
	start, hasStart, err := parse("startDate", startRaw)
	if err != nil {
		return from, before, err
	}
	end, hasEnd, err := parse("endDate", endRaw)
	if err != nil {
		return from, before, err
	}
	switch {
	case !hasStart && !hasEnd:
		end, start = today, monthBefore(today)
	case !hasStart:
		start = monthBefore(end)
	case !hasEnd:
		end = today
		if start.After(end) {
			end = start
		}
	}
	if start.After(end) {
		return from, before, httpx.InvalidField("startDate", msgDateOrder,
			"startDate="+start.Format(dateLayout)+", endDate="+end.Format(dateLayout))
	}
	if start.Before(today.AddDate(-historyMaxYears, 0, 0)) {
		return from, before, httpx.InvalidField("startDate", msgDateTooOld, "startDate="+start.Format(dateLayout))
	}
	return start, end.AddDate(0, 0, 1), nil
}

// monthBefore is the same day a month earlier, clamped to that month's
// length (31 March → 28/29 February, where AddDate would give 3 March).
func monthBefore(d time.Time) time.Time {
	first := time.Date(d.Year(), d.Month()-1, 1, 0, 0, 0, 0, d.Location())
	last := first.AddDate(0, 1, -1).Day()
	return time.Date(first.Year(), first.Month(), min(d.Day(), last), 0, 0, 0, 0, d.Location())
}

// clip bounds echoed input in error details.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
