package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"
)

// sample is one request of a load: when it started (since the load began),
// how long it took, which endpoint, the HTTP status (0: no answer) and what
// the answer meant.
type sample struct {
	At       time.Duration
	Latency  time.Duration
	Endpoint string
	Status   int
	Outcome  string
	// requestID is the change request's id when the answer named one.
	requestID string
}

// target is one endpoint of an open-model load: requests start at a fixed
// rate whatever the answers take, as independent users would send them.
type target struct {
	name  string
	rate  float64 // requests per second
	build func(i int) (*http.Request, error)
	// judge names the outcome of an answer ("ok", "fail:<code>", ...).
	judge func(status int, body []byte) string
}

// clientTimeout is the web client's axios timeout.
const clientTimeout = 10 * time.Second

func newClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 128
	return &http.Client{Transport: tr, Timeout: clientTimeout}
}

// recorder collects samples from concurrent requests.
type recorder struct {
	mu      sync.Mutex
	samples []sample
}

func (r *recorder) add(s sample) { r.mu.Lock(); r.samples = append(r.samples, s); r.mu.Unlock() }

func (r *recorder) all() []sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.samples)
	sort.Slice(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out
}

// runLoad sends every target's requests at its rate for d (so at most
// rate×d requests each), measured from start, and waits for the answers.
// during, if set, runs alongside (the fault schedule).
func runLoad(ctx context.Context, c *http.Client, start time.Time, d time.Duration, targets []target, rec *recorder, during func()) {
	var wg sync.WaitGroup
	if during != nil {
		wg.Go(during)
	}
	for _, tg := range targets {
		n := int(tg.rate * d.Seconds())
		interval := time.Duration(float64(time.Second) / tg.rate)
		wg.Go(func() {
			var reqs sync.WaitGroup
			for i := range n {
				at := start.Add(time.Duration(i) * interval)
				if w := time.Until(at); w > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(w):
					}
				}
				reqs.Go(func() { rec.add(send(c, start, tg, i)) })
			}
			reqs.Wait()
		})
	}
	wg.Wait()
}

func send(c *http.Client, start time.Time, tg target, i int) sample {
	t0 := time.Now()
	s := sample{At: t0.Sub(start), Endpoint: tg.name}
	req, err := tg.build(i)
	if err != nil {
		s.Outcome = "build: " + err.Error()
		return s
	}
	res, err := c.Do(req)
	if err != nil {
		s.Latency = time.Since(t0)
		s.Outcome = "no answer"
		return s
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	s.Latency = time.Since(t0)
	s.Status = res.StatusCode
	s.Outcome = tg.judge(res.StatusCode, body)
	if tg.name == "product-change" && res.StatusCode == 200 {
		var e envelope
		if json.Unmarshal(body, &e) == nil {
			s.requestID = e.Data.RequestID
		}
	}
	return s
}

// envelope is the part of the shape C envelope the judges read.
type envelope struct {
	Success    bool   `json:"success"`
	ResultCode string `json:"resultCode"`
	Data       struct {
		ProcessStatus string `json:"processStatus"`
		ResultCode    string `json:"resultCode"`
		RequestID     string `json:"requestId"`
		CacheHit      bool   `json:"cacheHit"`
	} `json:"data"`
}

// judgeShapeC: "ok" for success, "fail:<resultCode>" for a business
// failure (HTTP 200), "http <status>" otherwise.
func judgeShapeC(status int, body []byte) string {
	if status != 200 {
		return "http " + strconv.Itoa(status)
	}
	var e envelope
	if json.Unmarshal(body, &e) != nil {
		return "undecodable"
	}
	if !e.Success {
		return "fail:" + e.ResultCode
	}
	if e.Data.CacheHit {
		return "ok (cache hit)"
	}
	return "ok"
}

// judgeChange names a change answer by its processStatus (and code when it
// is not COMPLETED).
func judgeChange(status int, body []byte) string {
	if status != 200 {
		return "http " + strconv.Itoa(status)
	}
	var e envelope
	if json.Unmarshal(body, &e) != nil {
		return "undecodable"
	}
	if e.Data.ProcessStatus == "COMPLETED" {
		return "COMPLETED"
	}
	return e.Data.ProcessStatus + ":" + e.Data.ResultCode
}

func judgeStatus(status int, _ []byte) string { return "http " + strconv.Itoa(status) }

// writeCSV writes the samples as elapsed_ms,latency_ms,endpoint,status,outcome.
func writeCSV(path string, samples []sample) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"elapsed_ms", "latency_ms", "endpoint", "status", "outcome"})
	for _, s := range samples {
		_ = w.Write([]string{fmt.Sprintf("%.1f", ms(s.At)), fmt.Sprintf("%.2f", ms(s.Latency)), s.Endpoint,
			strconv.Itoa(s.Status), s.Outcome})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// stats summarises the samples of one endpoint.
type stats struct {
	N             int
	P50, P99, Max time.Duration
	Non2xx        int
	Outcomes      map[string]int
}

func summarize(samples []sample, keep func(sample) bool) stats {
	st := stats{Outcomes: map[string]int{}}
	var lat []time.Duration
	for _, s := range samples {
		if keep != nil && !keep(s) {
			continue
		}
		st.N++
		lat = append(lat, s.Latency)
		if s.Status < 200 || s.Status > 299 {
			st.Non2xx++
		}
		st.Outcomes[s.Outcome]++
	}
	if len(lat) == 0 {
		return st
	}
	slices.Sort(lat)
	st.P50, st.P99, st.Max = quantile(lat, .50), quantile(lat, .99), lat[len(lat)-1]
	return st
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func byEndpoint(name string) func(sample) bool {
	return func(s sample) bool { return s.Endpoint == name }
}

// outcomes renders outcome counts, largest first.
func (st stats) outcomes() string {
	type kv struct {
		k string
		v int
	}
	var l []kv
	for k, v := range st.Outcomes {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v || (l[i].v == l[j].v && l[i].k < l[j].k) })
	out := ""
	for i, e := range l {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s %d", e.k, e.v)
	}
	return out
}
