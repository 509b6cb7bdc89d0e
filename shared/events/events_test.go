package events

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const testType = "phonebill.test.v1"

// binary builds a binary-mode delivery as the Broker sends it.
func binary(id, typ, source, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	for k, v := range map[string]string{"Ce-Id": id, "Ce-Type": typ, "Ce-Source": source, "Ce-Specversion": "1.0",
		"Content-Type": "application/json"} {
		if v != "" {
			r.Header.Set(k, v)
		}
	}
	return r
}

// serve runs h (through the same error writer fn mounts) and returns the status.
func serve(h func(http.ResponseWriter, *http.Request) error, r *http.Request) (int, map[string]any) {
	rec := httptest.NewRecorder()
	if err := h(rec, r); err != nil {
		rec.WriteHeader(http.StatusInternalServerError)
	}
	var body map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body
}

func TestHandlerAnswers(t *testing.T) {
	t.Parallel()
	var got atomic.Value
	consume := func(err error) func(context.Context, event.Event) error {
		return func(_ context.Context, e event.Event) error {
			got.Store(e.ID() + "|" + string(e.Data()))
			return err
		}
	}
	ok := Handler(quiet, testType, consume(nil))
	if st, body := serve(ok, binary("e1", testType, "/src", `{"a":1}`)); st != 200 || body["status"] != float64(200) {
		t.Fatalf("valid event: %d %v", st, body)
	}
	if got.Load() != `e1|{"a":1}` {
		t.Fatalf("consumer saw %v", got.Load())
	}
	// Structured mode is read as well.
	structured := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(
		`{"specversion":"1.0","id":"e2","type":"`+testType+`","source":"/src","datacontenttype":"application/json","data":{"b":2}}`))
	structured.Header.Set("Content-Type", "application/cloudevents+json")
	if st, _ := serve(ok, structured); st != 200 || got.Load() != `e2|{"b":2}` {
		t.Fatalf("structured event: %d, consumer saw %v", st, got.Load())
	}
	cases := []struct {
		name   string
		h      func(http.ResponseWriter, *http.Request) error
		r      *http.Request
		status int
	}{
		{"other type (a Trigger filter bug)", ok, binary("e3", "other.v1", "/src", `{}`), 400},
		{"no id", ok, binary("", testType, "/src", `{}`), 400},
		{"no source", ok, binary("e4", testType, "", `{}`), 400},
		{"no headers at all", ok, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{}`)), 400},
		{"consumer says poison", Handler(quiet, testType, consume(Poison(errors.New("bad data")))),
			binary("e5", testType, "/src", `{}`), 400},
		{"consumer fails transiently", Handler(quiet, testType, consume(errors.New("database down"))),
			binary("e6", testType, "/src", `{}`), 500},
	}
	for _, c := range cases {
		st, body := serve(c.h, c.r)
		if st != c.status {
			t.Errorf("%s: %d, want %d", c.name, st, c.status)
		}
		if c.status != 200 && (body["error"] == nil || strings.Contains(body["error"].(string), "database")) {
			t.Errorf("%s: body %v must name the status only, not the cause", c.name, body)
		}
	}
}

// FuzzReceive: random CloudEvent attributes, content types and bodies never
// panic; malformed deliveries answer 400 (poison: Knative does not retry
// them, they go to the dead-letter sink), never 5xx; the consumer only ever
// sees events that validate, of the wanted type.
func FuzzReceive(f *testing.F) {
	for _, s := range []struct{ id, typ, source, spec, ctype, body string }{
		{"1", testType, "/phonebill/product-change", "1.0", "application/json", `{"lineNumber":"01012345678"}`},
		{"", testType, "/s", "1.0", "application/json", `{}`},
		{"1", "", "/s", "1.0", "application/json", `{}`},
		{"1", testType, "", "1.0", "", ``},
		{"1", testType, "/s", "0.3", "application/json", `{}`},
		{"1", testType, "/s", "9.9", "application/json", `{}`},
		{"1", testType, "::not a uri", "1.0", "text/plain", "\xff\xfe"},
		{"", "", "", "", "application/cloudevents+json", `{"specversion":"1.0","id":"x","type":"` + testType + `","source":"/s","data":{}}`},
		{"", "", "", "", "application/cloudevents+json", `{"specversion":"1.0","id":7,"type":[],"source":null}`},
		{"", "", "", "", "application/cloudevents-batch+json", `[{"specversion":"1.0"}]`},
		{"1", testType, "/s", "1.0", "application/json; charset=\x00", `{`},
	} {
		f.Add(s.id, s.typ, s.source, s.spec, s.ctype, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, id, typ, source, spec, ctype string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		for k, v := range map[string]string{"Ce-Id": id, "Ce-Type": typ, "Ce-Source": source, "Ce-Specversion": spec,
			"Content-Type": ctype} {
			if v != "" {
				r.Header[k] = []string{v}
			}
		}
		var seen *event.Event
		h := Handler(quiet, testType, func(_ context.Context, e event.Event) error {
			seen = &e
			return nil
		})
		st, _ := serve(h, r)
		switch st {
		case 200:
			if seen == nil {
				t.Fatal("200 without consuming")
			}
			if err := seen.Validate(); err != nil || seen.Type() != testType {
				t.Fatalf("consumer got an invalid event %v: %v", seen, err)
			}
		case 400:
			if seen != nil {
				t.Fatal("a refused event reached the consumer")
			}
		default:
			t.Fatalf("answered %d", st)
		}
	})
}

func TestSenderSend(t *testing.T) {
	t.Parallel()
	var status atomic.Int32
	var hdr atomic.Value
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hdr.Store(r.Header.Get("Ce-Id") + "|" + r.Header.Get("Ce-Type") + "|" + r.Header.Get("Ce-Source") + "|" +
			r.Header.Get("Content-Type") + "|" + string(b))
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(sink.Close)
	e, err := New("id-1", testType, "/src", "subj", map[string]string{"lineNumber": "01012345678"})
	if err != nil {
		t.Fatal(err)
	}
	s := NewSender(sink.URL, sink.Client())
	status.Store(202)
	if err := s.Send(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	// Binary mode: attributes in headers, the data alone as the body.
	if got := hdr.Load(); got != `id-1|`+testType+`|/src|application/json|{"lineNumber":"01012345678"}` {
		t.Fatalf("sink saw %v", got)
	}
	for _, st := range []int{400, 404, 500, 503} {
		status.Store(int32(st))
		if err := s.Send(context.Background(), e); err == nil {
			t.Errorf("sink answering %d counted as sent", st)
		}
	}
	if err := NewSender("", nil).Send(context.Background(), e); !errors.Is(err, ErrNoSink) {
		t.Errorf("no sink: %v", err)
	}
	bad := event.New()
	if err := s.Send(context.Background(), bad); err == nil {
		t.Error("an invalid event was sent")
	}
}
