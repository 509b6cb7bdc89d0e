package httpx_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"phonebill/shared/httpx"
)

// bodyDeadline is short so the slow-writer tests stay quick.
const bodyDeadline = 300 * time.Millisecond

// deadlineServer serves a JSON-decoding handler in style behind
// BodyDeadline and LimitBody, as the runtime stacks them. With sleep set,
// the handler then works that long and reports on survived whether its
// context outlived the work.
func deadlineServer(t *testing.T, style httpx.Style, sleep time.Duration, survived chan<- bool) *httptest.Server {
	t.Helper()
	h := httpx.Handle(quiet, func(w http.ResponseWriter, r *http.Request) error {
		var body map[string]any
		if err := httpx.DecodeJSON(r, &body); err != nil {
			return err
		}
		if sleep > 0 {
			select {
			case <-time.After(sleep):
				survived <- true
			case <-r.Context().Done():
				survived <- false
			}
		}
		httpx.WriteJSON(w, http.StatusOK, body)
		return nil
	})
	var hh http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(httpx.WithStyle(r.Context(), style)))
	})
	srv := httptest.NewServer(httpx.BodyDeadline(bodyDeadline, httpx.LimitBody(1024, hh)))
	t.Cleanup(srv.Close)
	return srv
}

// trickle sends headers announcing a body of n bytes, then one byte every
// gap, and returns the answer and when it came.
func trickle(t *testing.T, base string, n int, gap time.Duration) (*http.Response, []byte, time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	start := time.Now()
	fmt.Fprintf(conn, "POST /x HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", n)
	done := make(chan struct{})
	go func() {
		// The writer stops once the answer came; at most n bytes in all.
		for i := 1; i < n; i++ {
			select {
			case <-done:
				return
			case <-time.After(gap):
			}
			b := " "
			if i == n-1 {
				b = "}"
			}
			if _, err := conn.Write([]byte(b)); err != nil {
				return
			}
		}
	}()
	defer close(done)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, raw, time.Since(start)
}

// TestSlowBodyIsCut: a body that trickles in (one byte per 100 ms of 200)
// is cut at the body deadline with a 408 in the route's envelope, instead
// of holding the connection for 20 s.
func TestSlowBodyIsCut(t *testing.T) {
	for _, c := range []struct {
		style httpx.Style
		check func(m map[string]any) bool
	}{
		{httpx.StyleStandard, func(m map[string]any) bool {
			return m["success"] == false && m["resultCode"] == "REQUEST_TIMEOUT" && m["message"] == httpx.MsgBodyTimeout
		}},
		{httpx.StyleAuth, func(m map[string]any) bool {
			return m["status"] == float64(408) && m["code"] == "REQUEST_TIMEOUT" && m["message"] == httpx.MsgBodyTimeout
		}},
		{httpx.StyleKOS, func(m map[string]any) bool { return m["success"] == false && m["resultCode"] == "9003" }},
	} {
		srv := deadlineServer(t, c.style, 0, nil)
		res, raw, took := trickle(t, srv.URL, 200, 100*time.Millisecond)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		if res.StatusCode != http.StatusRequestTimeout || !c.check(m) {
			t.Fatalf("style %d: %d %s", c.style, res.StatusCode, raw)
		}
		if took > 4*bodyDeadline+time.Second {
			t.Fatalf("style %d: answered after %v, deadline %v", c.style, took, bodyDeadline)
		}
	}
}

// TestBodyDeadlineSparesTheHandler: once the body is in, a handler that
// works past the body deadline keeps its context, and a quick body sent in
// pieces within the deadline is served.
func TestBodyDeadlineSparesTheHandler(t *testing.T) {
	survived := make(chan bool, 1)
	srv := deadlineServer(t, httpx.StyleStandard, 3*bodyDeadline, survived)
	res, raw, _ := trickle(t, srv.URL, 5, 20*time.Millisecond)
	if res.StatusCode != 200 || !<-survived {
		t.Fatalf("%d %s; handler survived its body deadline: false", res.StatusCode, raw)
	}
	// A request without a body is never given a read deadline.
	res2, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if !<-survived {
		t.Fatal("a GET's handler was cancelled by a body deadline")
	}
}

// FuzzHeaderText: whatever bytes a header holds, the stored copy is valid
// UTF-8 without control characters, within its bound, and a value that was
// already clean text is kept as it was.
func FuzzHeaderText(f *testing.F) {
	for _, s := range []string{"Mozilla/5.0", "x\xff", "Caf\xe9", "\x00\x01", "\xed\x95", "a\u0085b", "한국어"} {
		f.Add(s, 500)
	}
	f.Fuzz(func(t *testing.T, v string, max int) {
		if max < 0 || max > 1000 {
			return
		}
		got := httpx.HeaderText(v, max)
		if !utf8.ValidString(got) || len(got) > max || httpx.TextFault(got) != "" {
			t.Fatalf("HeaderText(%q, %d) = %q", v, max, got)
		}
		if httpx.TextFault(v) == "" && len(v) <= max && got != v {
			t.Fatalf("clean %q changed to %q", v, got)
		}
	})
}
