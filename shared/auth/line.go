package auth

import "strings"

// NormalizeLine strips dashes and returns the 11-digit form when the result
// is 010 followed by 8 digits (SPEC §2.1).
func NormalizeLine(s string) (string, bool) {
	d := strings.ReplaceAll(strings.TrimSpace(s), "-", "")
	if len(d) != 11 || !strings.HasPrefix(d, "010") {
		return "", false
	}
	for i := range len(d) {
		if d[i] < '0' || d[i] > '9' {
			return "", false
		}
	}
	return d, true
}

// DashedLine formats an 11-digit line as 010-XXXX-XXXX.
func DashedLine(digits string) string {
	d, ok := NormalizeLine(digits)
	if !ok {
		return digits
	}
	return d[:3] + "-" + d[3:7] + "-" + d[7:]
}
