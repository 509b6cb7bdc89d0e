package httpx

import (
	"bytes"
	"fmt"
	"time"
)

// LayoutLocal is the only timestamp shape the web client parses: Asia/Seoul
// wall-clock time without zone or fraction (SPEC §2.9).
const LayoutLocal = "2006-01-02T15:04:05"

var seoul = mustSeoul()

func mustSeoul() *time.Location {
	loc, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		return time.FixedZone("KST", 9*3600)
	}
	return loc
}

// Seoul is the time zone of every "now", month and timestamp of the API.
func Seoul() *time.Location { return seoul }

// LocalTime marshals as yyyy-MM-ddTHH:mm:ss in Asia/Seoul; the zero value
// marshals as null (fields that may be absent use *LocalTime with omitempty).
type LocalTime time.Time

// NewLocalTime returns t as a LocalTime, or nil for the zero time.
func NewLocalTime(t time.Time) *LocalTime {
	if t.IsZero() {
		return nil
	}
	lt := LocalTime(t)
	return &lt
}

// FormatLocal formats t the way every JSON timestamp of the API is formatted.
func FormatLocal(t time.Time) string { return t.In(seoul).Format(LayoutLocal) }

// MarshalJSON implements json.Marshaler.
func (t LocalTime) MarshalJSON() ([]byte, error) {
	if time.Time(t).IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + FormatLocal(time.Time(t)) + `"`), nil
}

// UnmarshalJSON implements json.Unmarshaler (local time in Asia/Seoul).
func (t *LocalTime) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*t = LocalTime{}
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("timestamp %s is not a string", b)
	}
	v, err := time.ParseInLocation(LayoutLocal, string(b[1:len(b)-1]), seoul)
	if err != nil {
		return err
	}
	*t = LocalTime(v)
	return nil
}

// Time returns the underlying time.
func (t LocalTime) Time() time.Time { return time.Time(t) }
