// Package kos is the one client every service uses to call the carrier core
// (KOS, or KOS-Mock): a per-call timeout, one circuit breaker per process,
// retries with jittered backoff for reads, and the request headers of SPEC
// §2.8. A KOS business failure (success:false with a business code) is an
// answer, not an error; only unknown outcomes (transport error, timeout, 5xx,
// 9999, open breaker) are errors.
package kos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"phonebill/shared/config"
)

// Result codes the client itself interprets.
const (
	CodeOK          = "0000"
	CodeSystemError = "9999"
)

// ScenarioHeader forces a KOS-Mock pattern (SPEC §5.5); passed through only
// when KOS_MOCK_SCENARIO_HEADER is on.
const ScenarioHeader = "X-Mock-Scenario"

// Response is the KosCommonResponse envelope; Data is left raw for the
// caller's type.
type Response struct {
	Success       bool            `json:"success"`
	ResultCode    string          `json:"resultCode"`
	ResultMessage string          `json:"resultMessage"`
	Data          json.RawMessage `json:"data,omitempty"`
	// Status is the HTTP status of the answer.
	Status int `json:"-"`
}

// OK reports a successful answer with result code 0000.
func (r *Response) OK() bool { return r != nil && r.Success && r.ResultCode == CodeOK }

// Decode unmarshals Data into dst.
func (r *Response) Decode(dst any) error {
	if len(r.Data) == 0 {
		return errors.New("kos: answer has no data")
	}
	return json.Unmarshal(r.Data, dst)
}

// Outcome classifies why a call did not produce an answer.
type Outcome string

// Outcomes of failed calls; all mean "KOS may or may not have acted".
const (
	OutcomeTransport   Outcome = "transport"
	OutcomeTimeout     Outcome = "timeout"
	OutcomeServerError Outcome = "server_error"
	OutcomeSystemError Outcome = "system_error" // resultCode 9999
	OutcomeBreakerOpen Outcome = "breaker_open"
	OutcomeBadAnswer   Outcome = "bad_answer"
)

// Error is a call whose outcome is unknown. Resp is set when KOS answered
// (5xx or 9999).
type Error struct {
	Outcome Outcome
	Op      string
	Resp    *Response
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("kos %s: %s: %v", e.Op, e.Outcome, e.Err)
	}
	return fmt.Sprintf("kos %s: %s", e.Op, e.Outcome)
}

func (e *Error) Unwrap() error { return e.Err }

// IsBreakerOpen reports whether err is a call refused by the open breaker.
func IsBreakerOpen(err error) bool {
	var ke *Error
	return errors.As(err, &ke) && ke.Outcome == OutcomeBreakerOpen
}

// Attempt describes one HTTP exchange, for callers that record each try
// (bill inquiry's kos_inquiry_history).
type Attempt struct {
	N        int // 0 for the first try
	Start    time.Time
	End      time.Time
	Response *Response
	Err      error
}

// Call is one logical KOS call.
type Call struct {
	Op     string // metrics label, e.g. "bill_inquiry"
	Method string
	Path   string // path and query, e.g. "/api/v1/kos/bill/inquiry"
	Body   any
	// RequestID goes into X-Request-ID (and the body, by the caller).
	RequestID string
	// Retries is how many more tries after the first (reads: 2; writes
	// re-send at their own pace).
	Retries int
	// UntilDeadline re-sends an unknown outcome until ctx's deadline instead
	// of Retries times — for a write KOS deduplicates by its request id (a
	// plan change) — pausing twice as long each time from the first backoff
	// up to 1 s, and never starting an attempt with less than MinAttempt
	// left.
	UntilDeadline bool
	// Scenario is the caller's X-Mock-Scenario, sent only if enabled.
	Scenario string
	// OnAttempt, if set, sees every exchange.
	OnAttempt func(Attempt)
}

// Options configure a Client.
type Options struct {
	Config config.KOS
	// ServiceName is sent as X-Service-Name (MVNO-BILL-INQUIRY, ...).
	ServiceName string
	// Function names the function the client (and its breaker) belongs to
	// (fn.FunctionName at Start): the breaker gauge's function label.
	Function string
	Registry prometheus.Registerer
	Log      *slog.Logger
	// Transport overrides the HTTP transport (tests).
	Transport http.RoundTripper
	// Backoff is the delays between retries before jitter (default 100 ms, 300 ms).
	Backoff []time.Duration
}

// Client calls KOS. It is safe for concurrent use; its breaker is shared by
// every call made through it (one client per function).
type Client struct {
	base     *url.URL
	hc       *http.Client
	service  string
	timeout  time.Duration
	scenario bool
	backoff  []time.Duration
	breaker  *gobreaker.CircuitBreaker[*Response]
	log      *slog.Logger
	metrics  *metrics
}

// New builds a client from the KOS settings.
func New(o Options) (*Client, error) {
	base, err := url.Parse(o.Config.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("kos: KOS_BASE_URL: %w", err)
	}
	tr := o.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 32
		t.ResponseHeaderTimeout = 0 // the per-call context bounds it
		tr = t
	}
	if o.Backoff == nil {
		o.Backoff = []time.Duration{100 * time.Millisecond, 300 * time.Millisecond}
	}
	lg := o.Log
	if lg == nil {
		lg = slog.Default()
	}
	c := &Client{base: base, hc: &http.Client{Transport: tr}, service: o.ServiceName,
		timeout: o.Config.Timeout(), scenario: o.Config.ScenarioHeader, backoff: o.Backoff, log: lg,
		metrics: newMetrics(o.Registry, o.ServiceName, o.Function)}
	failures := uint32(o.Config.BreakerFailures)
	c.breaker = gobreaker.NewCircuitBreaker[*Response](gobreaker.Settings{
		Name:        "kos",
		MaxRequests: 1, // one probe when half-open
		Timeout:     o.Config.BreakerOpen(),
		ReadyToTrip: func(cn gobreaker.Counts) bool { return cn.ConsecutiveFailures >= failures },
		// A business refusal is a healthy KOS; a caller's cancellation says
		// nothing about KOS either.
		IsSuccessful: func(err error) bool { return err == nil },
		IsExcluded:   func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			lg.Warn("kos breaker", "from", from.String(), "to", to.String())
			c.metrics.state(to)
		},
	})
	c.metrics.state(gobreaker.StateClosed)
	return c, nil
}

// BreakerState is the breaker's current state ("closed", "open", "half-open").
func (c *Client) BreakerState() string { return c.breaker.State().String() }

// Do performs the call through the breaker, retrying unknown outcomes up to
// call.Retries times with jittered backoff while ctx allows. It returns the
// answer (maybe a business failure) or an *Error.
func (c *Client) Do(ctx context.Context, call Call) (*Response, error) {
	var lastErr error
	need := time.Duration(0)
	if call.UntilDeadline {
		need = MinAttempt
	}
	for n := 0; call.UntilDeadline || n <= call.Retries; n++ {
		if n == 0 && !c.sleep(ctx, 0, need) {
			break
		}
		if n > 0 && !c.sleep(ctx, c.pause(call, n-1), need) {
			break
		}
		resp, err := c.once(ctx, call, n)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if IsBreakerOpen(err) || ctx.Err() != nil {
			break
		}
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("kos %s: no time left before the deadline: %w", call.Op, context.DeadlineExceeded)
	}
	return nil, lastErr
}

// MinAttempt is the least time an UntilDeadline call starts an attempt with.
const MinAttempt = 50 * time.Millisecond

// maxResendPause caps the doubling pauses of an UntilDeadline call.
const maxResendPause = time.Second

// pause is the wait before re-send n+1 of call, with ±50 % jitter so that
// callers do not re-send in step.
func (c *Client) pause(call Call, n int) time.Duration {
	if !call.UntilDeadline {
		return c.delay(n)
	}
	d := min(c.backoff[0]<<min(n, 10), maxResendPause)
	return d/2 + rand.N(d)
}

func (c *Client) once(ctx context.Context, call Call, n int) (*Response, error) {
	start := time.Now()
	resp, err := c.breaker.Execute(func() (*Response, error) { return c.exchange(ctx, call) })
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		err = &Error{Outcome: OutcomeBreakerOpen, Op: call.Op, Err: err}
	}
	end := time.Now()
	outcome := "ok"
	var ke *Error
	switch {
	case errors.As(err, &ke):
		outcome = string(ke.Outcome)
		resp = ke.Resp
	case err != nil:
		outcome = "error"
	case !resp.Success:
		outcome = "business_failure"
	}
	c.metrics.observe(call.Op, outcome, end.Sub(start))
	if c.log.Enabled(ctx, slog.LevelDebug) {
		// The path (no body, no headers): at most a line number of
		// personal data, in a query.
		status := 0
		if resp != nil {
			status = resp.Status
		}
		c.log.DebugContext(ctx, "kos call", "op", call.Op, "method", call.Method, "path", call.Path, "status", status,
			"outcome", outcome, "duration_ms", float64(end.Sub(start).Microseconds())/1000, "attempt", n+1)
	}
	if call.OnAttempt != nil {
		call.OnAttempt(Attempt{N: n, Start: start, End: end, Response: resp, Err: err})
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// exchange is one HTTP request bounded by the per-call timeout.
func (c *Client) exchange(ctx context.Context, call Call) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if call.Body != nil {
		b, err := json.Marshal(call.Body)
		if err != nil {
			return nil, fmt.Errorf("kos %s: encode: %w", call.Op, err)
		}
		body = bytes.NewReader(b)
	}
	u, err := c.url(call.Path)
	if err != nil {
		return nil, fmt.Errorf("kos %s: path: %w", call.Op, err)
	}
	req, err := http.NewRequestWithContext(ctx, call.Method, u, body)
	if err != nil {
		return nil, fmt.Errorf("kos %s: %w", call.Op, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Service-Name", c.service)
	if call.RequestID != "" {
		req.Header.Set("X-Request-ID", call.RequestID)
	}
	if c.scenario && call.Scenario != "" {
		req.Header.Set(ScenarioHeader, call.Scenario)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &Error{Outcome: OutcomeTimeout, Op: call.Op, Err: err}
		}
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
		return nil, &Error{Outcome: OutcomeTransport, Op: call.Op, Err: err}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		if ctx.Err() != nil {
			return nil, &Error{Outcome: OutcomeTimeout, Op: call.Op, Err: err}
		}
		return nil, &Error{Outcome: OutcomeTransport, Op: call.Op, Err: err}
	}
	var r Response
	decodeErr := json.Unmarshal(raw, &r)
	r.Status = res.StatusCode
	switch {
	case res.StatusCode >= 500:
		return nil, &Error{Outcome: OutcomeServerError, Op: call.Op, Resp: &r, Err: fmt.Errorf("HTTP %d", res.StatusCode)}
	case decodeErr != nil:
		return nil, &Error{Outcome: OutcomeBadAnswer, Op: call.Op, Err: fmt.Errorf("HTTP %d: %w", res.StatusCode, decodeErr)}
	case r.ResultCode == CodeSystemError:
		return nil, &Error{Outcome: OutcomeSystemError, Op: call.Op, Resp: &r}
	}
	return &r, nil
}

// url appends a call's path (and query) to the base URL, keeping the base's
// own path: a carrier gateway such as https://gw.example/kos serves KOS under
// a prefix, which resolving an absolute path against it would drop.
func (c *Client) url(pathAndQuery string) (string, error) {
	ref, err := url.Parse(pathAndQuery)
	if err != nil {
		return "", err
	}
	if ref.IsAbs() || ref.Host != "" {
		return "", fmt.Errorf("%q is not a path", pathAndQuery)
	}
	u := c.base.JoinPath(ref.Path)
	u.RawQuery = ref.RawQuery
	return u.String(), nil
}

// delay is the n-th backoff with ±50 % jitter, so retries of many callers
// do not arrive together.
func (c *Client) delay(n int) time.Duration {
	d := c.backoff[min(n, len(c.backoff)-1)]
	return d/2 + rand.N(d)
}

// sleep waits d unless ctx ends first, or would end during it or within
// need after it.
func (c *Client) sleep(ctx context.Context, d, need time.Duration) bool {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d+need {
		return false
	}
	if d == 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
