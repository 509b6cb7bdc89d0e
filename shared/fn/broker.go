package fn

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// BrokerURL is the sink producers post to in the all-in-one; the broker's
// client never sends it over the network.
const BrokerURL = "http://broker.local/"

// Broker stands in for Knative Eventing in the all-in-one: it accepts
// CloudEvents like a Broker ingress (202), delivers each to the event routes
// whose Trigger filter (exact type) matches, retries with each route's
// exponential backoff (Route.Delivery, as its Trigger) on Knative's retry set
// (5xx, 404, 408, 409, 429), and hands undeliverable events to the
// dead-letter route with Knative's error extensions.
type Broker struct {
	log *slog.Logger
	// TimeScale multiplies every route's backoff (Route.DeliveryOf, the
	// Triggers' delivery spec); tests shrink it, 1 otherwise.
	TimeScale float64
	// Interval is the period of scheduled routes (a PingSource in Knative).
	Interval time.Duration

	mu         sync.Mutex
	subs       []BoundRoute
	deadLetter http.Handler
	inflight   sync.WaitGroup
	client     *http.Client
}

// NewBroker returns a broker with the Triggers' delivery settings; the
// schedule period comes from LOCAL_SCHEDULE_SECONDS (default 30).
func NewBroker(lg *slog.Logger) *Broker {
	b := &Broker{log: lg, TimeScale: 1, Interval: 30 * time.Second}
	if s, err := strconv.Atoi(getenv("LOCAL_SCHEDULE_SECONDS")); err == nil && s > 0 {
		b.Interval = time.Duration(s) * time.Second
	}
	b.client = &http.Client{Transport: inProcess{b}, Timeout: 10 * time.Second}
	return b
}

// Client is an HTTP client whose requests reach the broker in-process.
func (b *Broker) Client() *http.Client { return b.client }

// Subscribe registers the event routes (and the dead-letter sink).
func (b *Broker) Subscribe(routes []BoundRoute) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range routes {
		switch {
		case r.Route.DeadLetter:
			b.deadLetter = r.Handler
		default:
			b.subs = append(b.subs, r)
		}
	}
}

// ServeHTTP accepts one event (binary or structured mode) and delivers it
// asynchronously, as a Knative Broker does.
func (b *Broker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || r.Method != http.MethodPost {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	typ := r.Header.Get("Ce-Type")
	if typ == "" {
		typ = structuredType(body)
	}
	if typ == "" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	hdr := r.Header.Clone()
	b.mu.Lock()
	var targets []BoundRoute
	for _, s := range b.subs {
		if s.Route.EventType == typ {
			targets = append(targets, s)
		}
	}
	b.mu.Unlock()
	for _, t := range targets {
		b.inflight.Add(1)
		go func() {
			defer b.inflight.Done()
			b.deliver(t, hdr, body)
		}()
	}
	w.WriteHeader(http.StatusAccepted)
}

func (b *Broker) deliver(t BoundRoute, hdr http.Header, body []byte) {
	var status int
	var resp []byte
	d := t.Route.DeliveryOf()
	for attempt := 0; attempt <= d.Retries; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(float64(d.Backoff<<(attempt-1)) * b.TimeScale))
		}
		status, resp = call(t.Handler, hdr, body)
		if status >= 200 && status < 300 {
			return
		}
		if !retryable(status) {
			break
		}
	}
	b.log.Warn("event undeliverable", "route", t.Route.Name, "type", hdr.Get("Ce-Type"), "id", hdr.Get("Ce-Id"), "status", status)
	b.mu.Lock()
	dl := b.deadLetter
	b.mu.Unlock()
	if dl == nil {
		return
	}
	h := hdr.Clone()
	h.Set("Ce-Knativeerrorcode", strconv.Itoa(status))
	h.Set("Ce-Knativeerrordest", "http://"+t.Route.Name+".local/")
	h.Set("Ce-Knativeerrordata", base64.StdEncoding.EncodeToString(resp))
	if s, _ := call(dl, h, body); s < 200 || s > 299 {
		b.log.Error("dead-letter sink refused event", "id", hdr.Get("Ce-Id"), "status", s)
	}
}

// retryable is Knative's retry set for event delivery.
func retryable(status int) bool {
	return status >= 500 || status == 404 || status == 408 || status == 409 || status == 429
}

// StartSchedules runs the scheduled routes every Interval until the returned
// stop function is called or ctx ends.
func (b *Broker) StartSchedules(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	b.mu.Lock()
	var sched []BoundRoute
	for _, s := range b.subs {
		if s.Route.Schedule != "" {
			sched = append(sched, s)
		}
	}
	b.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range sched {
		wg.Go(func() {
			tk := time.NewTicker(b.Interval)
			defer tk.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tk.C:
					if st, _ := call(s.Handler, PingHeaders(s.Route.Name), []byte("{}")); st >= 300 {
						b.log.Warn("scheduled run failed", "route", s.Route.Name, "status", st)
					}
				}
			}
		})
	}
	return func() { cancel(); wg.Wait() }
}

// PingHeaders are the binary-mode headers of a PingSource event.
func PingHeaders(name string) http.Header {
	var id [16]byte
	_, _ = rand.Read(id[:])
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Ce-Specversion", "1.0")
	h.Set("Ce-Type", "dev.knative.sources.ping")
	h.Set("Ce-Source", "/apis/v1/namespaces/phonebill/pingsources/"+name)
	h.Set("Ce-Id", hex.EncodeToString(id[:]))
	h.Set("Ce-Time", time.Now().UTC().Format(time.RFC3339))
	return h
}

// Wait blocks until in-flight deliveries end or ctx is done.
func (b *Broker) Wait(ctx context.Context) {
	done := make(chan struct{})
	go func() { b.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func call(h http.Handler, hdr http.Header, body []byte) (int, []byte) {
	req, _ := http.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header = hdr.Clone()
	rec := &recorder{header: http.Header{}}
	h.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec.status, rec.body.Bytes()
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// inProcess carries the broker client's requests to the broker directly.
type inProcess struct{ b *Broker }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		_ = req.Body.Close()
	}
	in, _ := http.NewRequestWithContext(req.Context(), req.Method, req.URL.String(), bytes.NewReader(body))
	in.Header = req.Header.Clone()
	rec := &recorder{header: http.Header{}}
	t.b.ServeHTTP(rec, in)
	return &http.Response{StatusCode: rec.status, Status: http.StatusText(rec.status), Header: rec.header,
		Body: io.NopCloser(bytes.NewReader(rec.body.Bytes())), Request: req, ProtoMajor: 1, ProtoMinor: 1}, nil
}

// structuredType reads "type" from a structured-mode event body.
func structuredType(body []byte) string {
	var ev struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(body, &ev) != nil {
		return ""
	}
	return ev.Type
}
