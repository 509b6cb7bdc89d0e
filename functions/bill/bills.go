package bill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"phonebill/shared/auth"
	"phonebill/shared/cache"
	"phonebill/shared/httpx"
	"phonebill/shared/kos"
)

// kosDoer is the one method of the KOS client the bill logic uses.
type kosDoer interface {
	Do(ctx context.Context, call kos.Call) (*kos.Response, error)
}

// Config holds the Bill settings (SPEC §10.1) resolved to durations.
type Config struct {
	// CacheTTL is how long a bill read from KOS answers from Redis.
	CacheTTL time.Duration
	// MonthsTTL is how long a line's available months are kept (SPEC §6.5: 1 h).
	MonthsTTL time.Duration
	// Deadline bounds a whole inquiry, KOS retries included, inside the web
	// client's 10 s.
	Deadline time.Duration
	// MenuKOSBudget bounds the menu's months lookup: the menu must answer
	// quickly even when KOS hangs, and it has a fallback.
	MenuKOSBudget time.Duration
	// Location is the zone of "now", the current month and request ids.
	Location *time.Location
}

// writeReserve is kept out of the KOS budget so the history row can still
// be completed and the answer written inside the request deadline.
const writeReserve = 500 * time.Millisecond

// completionTimeout bounds the final history write, which runs even after
// the deadline or a departed client: the row must end terminal.
const completionTimeout = 3 * time.Second

// Bills is the Bill-Inquiry logic: menu, inquiry, history and eviction.
type Bills struct {
	store   *historyStore
	cache   *cache.Cache
	kos     kosDoer
	log     *slog.Logger
	now     func() time.Time
	cfg     Config
	metrics *metrics
}

// dataKey and monthsKey are the Redis keys of SPEC §6.5.
func dataKey(line, month string) string { return "bill:data:" + line + ":" + month }
func monthsKey(line string) string      { return "bill:months:" + line }

// Menu returns the caller's menu: customer and line from the token, the
// months KOS holds bills for (cached 1 h), the current month. It never fails
// because of KOS: without an answer the last 6 calendar months are offered.
func (b *Bills) Menu(ctx context.Context, c *auth.Claims) MenuData {
	now := b.now()
	line := c.Line()
	d := MenuData{
		CustomerInfo: MenuCustomer{CustomerID: c.CustomerID, LineNumber: auth.DashedLine(c.LineNumber)},
		CurrentMonth: now.In(b.cfg.Location).Format("2006-01"),
	}
	if line != "" {
		d.AvailableMonths = b.months(ctx, line)
	}
	if len(d.AvailableMonths) == 0 {
		d.AvailableMonths = recentMonths(now, b.cfg.Location, 6)
	}
	return d
}

// months returns the line's months from the cache or KOS; nil when KOS
// cannot say (the caller falls back).
func (b *Bills) months(ctx context.Context, line string) []string {
	var cached []string
	if b.cache.Get(ctx, monthsKey(line), &cached) && len(cached) > 0 {
		b.metrics.cache("months", true)
		return cached
	}
	b.metrics.cache("months", false)
	kctx, cancel := context.WithTimeout(ctx, b.cfg.MenuKOSBudget)
	defer cancel()
	resp, err := b.kos.Do(kctx, kos.Call{Op: "bill_available_months", Method: "GET",
		Path: "/api/v1/kos/bill/available-months/" + url.PathEscape(line), Retries: 1})
	if err != nil {
		b.log.WarnContext(ctx, "available months unavailable; offering recent months", "err", err.Error())
		return nil
	}
	if !resp.OK() {
		b.log.InfoContext(ctx, "available months refused", "code", resp.ResultCode)
		return nil
	}
	var data struct {
		AvailableMonths []string `json:"availableMonths"`
	}
	if err := resp.Decode(&data); err != nil {
		b.log.WarnContext(ctx, "available months unreadable", "err", err.Error())
		return nil
	}
	months := normalizeMonths(data.AvailableMonths, 6)
	if len(months) > 0 {
		b.cache.Set(ctx, monthsKey(line), months, b.cfg.MonthsTTL)
	}
	return months
}

// normalizeMonths keeps valid months as YYYY-MM, distinct, newest first, at
// most n.
func normalizeMonths(in []string, n int) []string {
	var out []string
	for _, m := range in {
		if v, ok := parseMonth(m); ok {
			out = append(out, dashedMonth(v))
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	slices.Reverse(out)
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// InquiryRequest is a validated bill inquiry.
type InquiryRequest struct {
	Line  string // 11 digits
	Month string // YYYYMM
	// Scenario is the caller's X-Mock-Scenario, passed to the bill read only.
	Scenario string
}

// ParseInquiry validates the request body fields (SPEC §3.2.2); an absent
// month is the current month in Asia/Seoul. Errors are 400s.
func (b *Bills) ParseInquiry(lineRaw, monthRaw string) (InquiryRequest, error) {
	var f httpx.Fields
	line, ok := auth.NormalizeLine(lineRaw)
	if !ok {
		f.Add("lineNumber", MsgBadLine)
	}
	month := monthOf(b.now(), b.cfg.Location)
	if strings.TrimSpace(monthRaw) != "" {
		m, ok := parseMonth(monthRaw)
		if !ok {
			f.Add("inquiryMonth", MsgBadMonth)
		}
		month = m
	}
	if err := f.Err(""); err != nil {
		var e *httpx.Error
		if errors.As(err, &e) {
			e.Details = details(lineRaw, monthRaw, &f)
		}
		return InquiryRequest{}, err
	}
	return InquiryRequest{Line: line, Month: month}, nil
}

// details echoes the offending values, as the SPEC's example error does.
func details(lineRaw, monthRaw string, f *httpx.Fields) string {
	var parts []string
	if f.Has("lineNumber") {
		parts = append(parts, "lineNumber="+lineRaw)
	}
	if f.Has("inquiryMonth") {
		parts = append(parts, "inquiryMonth="+monthRaw)
	}
	return strings.Join(parts, ", ")
}

// Inquire answers one month's bill for the caller (SPEC §5.2): from the
// cache when present (one history INSERT, no KOS call), else from KOS with
// retries behind the breaker, recording the request and every attempt. It
// returns the data on success, a Failure for the answers the client shows
// with success:false, or an error (403, or 503 when the database is down).
//
// The work is detached from the caller's cancellation and bounded by the
// request deadline instead: a client that goes away must not leave a
// PROCESSING row behind, and a bill KOS already sent is worth caching.
func (b *Bills) Inquire(ctx context.Context, c *auth.Claims, rq InquiryRequest) (*InquiryData, *Failure, error) {
	if !c.MayActOnLine(rq.Line) {
		return nil, nil, httpx.LineDenied()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.Deadline)
	defer cancel()
	req := request{ID: newRequestID(b.now(), b.cfg.Location), UserID: c.UserID, Line: rq.Line, Month: rq.Month, At: b.now()}

	var cached InquiryData
	if b.cache.Get(ctx, dataKey(rq.Line, rq.Month), &cached) && cached.BillInfo.BillingMonth != "" {
		b.metrics.cache("data", true)
		bill, _ := json.Marshal(cached.BillInfo)
		if err := b.store.insertCompleted(ctx, req, summary(cached.BillInfo), bill); err != nil {
			return nil, nil, err
		}
		cached.RequestID, cached.CacheHit = req.ID, true
		return &cached, nil, nil
	}
	b.metrics.cache("data", false)
	if err := b.store.insertProcessing(ctx, req); err != nil {
		return nil, nil, err
	}
	data, fail, attempts := b.fromKOS(ctx, req, rq.Scenario)

	o := outcome{At: b.now()}
	if data != nil {
		bill, _ := json.Marshal(data.BillInfo)
		o.Status, o.Code, o.Summary, o.BillJSON = StatusCompleted, kos.CodeOK, summary(data.BillInfo), bill
		b.cache.Set(ctx, dataKey(rq.Line, rq.Month), data, b.cfg.CacheTTL)
	} else {
		o.Status, o.Code, o.ErrMsg = StatusFailed, fail.Code, fail.Message
	}
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), completionTimeout)
	defer wcancel()
	if err := b.store.finish(wctx, req, o, attempts); err != nil {
		return nil, nil, err
	}
	if data != nil {
		data.RequestID = req.ID
		return data, nil, nil
	}
	fail.RequestID = req.ID
	return nil, fail, nil
}

// fromKOS reads the bill from KOS: retries 2 (reads only), the caller's
// scenario on this main call, and a record of every exchange.
func (b *Bills) fromKOS(ctx context.Context, req request, scenario string) (*InquiryData, *Failure, []attempt) {
	budget := b.cfg.Deadline - min(writeReserve, b.cfg.Deadline/10)
	kctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	var attempts []attempt
	resp, err := b.kos.Do(kctx, kos.Call{
		Op: "bill_inquiry", Method: "POST", Path: "/api/v1/kos/bill/inquiry",
		Body:      map[string]string{"lineNumber": req.Line, "billingMonth": req.Month, "requestId": req.ID},
		RequestID: req.ID, Retries: 2, Scenario: scenario,
		OnAttempt: func(a kos.Attempt) {
			// A refusal by the open breaker never reached KOS: nothing to record.
			if !kos.IsBreakerOpen(a.Err) {
				attempts = append(attempts, recordAttempt(a))
			}
		},
	})
	if err != nil {
		b.log.WarnContext(ctx, "bill inquiry: KOS failed", "request_id", req.ID, "err", err.Error())
		return nil, &Failure{Code: CodeKOSError, Message: MsgKOSError}, attempts
	}
	if !resp.OK() {
		if msg, ok := failureMessages[resp.ResultCode]; ok {
			return nil, &Failure{Code: resp.ResultCode, Message: msg}, attempts
		}
		b.log.WarnContext(ctx, "bill inquiry: unexpected KOS answer", "request_id", req.ID,
			"status", resp.Status, "code", resp.ResultCode)
		return nil, &Failure{Code: CodeKOSError, Message: MsgKOSError}, attempts
	}
	var data InquiryData
	if err := resp.Decode(&data); err != nil || data.BillInfo.BillingMonth == "" || data.BillInfo.LineNumber == "" {
		b.log.WarnContext(ctx, "bill inquiry: KOS answer without a bill", "request_id", req.ID, "err", fmt.Sprint(err))
		return nil, &Failure{Code: CodeKOSError, Message: MsgKOSError}, attempts
	}
	data.CacheHit = false
	return &data, nil, attempts
}

// recordAttempt turns one exchange into its kos_inquiry_history row.
func recordAttempt(a kos.Attempt) attempt {
	r := attempt{Start: a.Start, End: a.End, Retry: a.N}
	if a.Response != nil {
		r.ResultCode, r.ResultMessage = a.Response.ResultCode, a.Response.ResultMessage
		r.Raw, _ = json.Marshal(a.Response)
	}
	if a.Err != nil {
		r.ErrorDetail = a.Err.Error()
		var ke *kos.Error
		if r.ResultCode == "" && errors.As(a.Err, &ke) {
			r.ResultCode = outcomeCode(ke)
		}
		if r.ResultCode == "" {
			r.ResultCode = "ERROR"
		}
	}
	return r
}

// outcomeCode is the result_code (VARCHAR(10)) of an exchange without a KOS
// result code.
func outcomeCode(e *kos.Error) string {
	switch e.Outcome {
	case kos.OutcomeTimeout:
		return "TIMEOUT"
	case kos.OutcomeTransport:
		return "TRANSPORT"
	case kos.OutcomeServerError:
		if e.Resp != nil && e.Resp.Status > 0 {
			return fmt.Sprintf("HTTP_%d", e.Resp.Status)
		}
		return "HTTP_5XX"
	case kos.OutcomeBadAnswer:
		return "BAD_ANSWER"
	}
	return "ERROR"
}

// HistoryQuery is a validated GET /bills/history.
type HistoryQuery struct {
	Line       string // 11 digits or ""
	Start, End string // YYYY-MM-DD or ""
	Status     string
	Page, Size int
}

// History returns a page of inquiry history. A named line must be the
// caller's unless admin; without one, the caller's line (admins: all).
func (b *Bills) History(ctx context.Context, c *auth.Claims, q HistoryQuery) (*HistoryPage, error) {
	f := historyFilter{Line: q.Line, From: q.Start, To: q.End, Status: q.Status, Page: q.Page, Size: q.Size}
	switch {
	case f.Line != "" && !c.MayActOnLine(f.Line):
		return nil, httpx.LineDenied()
	case f.Line == "" && !c.IsAdmin():
		if f.Line = c.Line(); f.Line == "" {
			return nil, httpx.LineDenied()
		}
	}
	items, total, err := b.store.list(ctx, f)
	if err != nil {
		return nil, err
	}
	pages := (total + q.Size - 1) / q.Size
	return &HistoryPage{Items: items, Pagination: Pagination{
		CurrentPage: q.Page, TotalPages: pages, TotalItems: total, PageSize: q.Size,
		HasNext: q.Page < pages, HasPrevious: q.Page > 1,
	}}, nil
}

// Evict drops the line's cached bills and months after a product change.
// The error is returned so the event is redelivered while Redis is away.
func (b *Bills) Evict(ctx context.Context, line string) error {
	if err := b.cache.DelMatch(ctx, dataKey(line, "*")); err != nil {
		return fmt.Errorf("evict bills of line: %w", err)
	}
	if err := b.cache.Del(ctx, monthsKey(line)); err != nil {
		return fmt.Errorf("evict months of line: %w", err)
	}
	return nil
}

// maxPage bounds page so the offset stays a sane number.
const maxPage = 1_000_000

// ParseHistory validates the history query (SPEC §3.2.3, §10.7): every bad
// parameter is reported at once as a 400.
func ParseHistory(v url.Values) (HistoryQuery, error) {
	var f httpx.Fields
	p := httpx.ParamsFrom(v, &f)
	var q HistoryQuery
	if raw := p.Text("lineNumber"); raw != "" {
		line, ok := auth.NormalizeLine(raw)
		if !ok {
			f.Add("lineNumber", MsgBadLine)
		}
		q.Line = line
	}
	for _, d := range []struct {
		name string
		dst  *string
	}{{"startDate", &q.Start}, {"endDate", &q.End}} {
		raw := p.Text(d.name)
		if raw == "" {
			continue
		}
		if _, err := time.Parse("2006-01-02", raw); err != nil {
			f.Add(d.name, MsgBadDate)
			continue
		}
		*d.dst = raw
	}
	if q.Start != "" && q.End != "" && q.Start > q.End {
		f.Add("startDate", MsgBadRange)
	}
	q.Status = p.Enum("status", MsgBadStatus, StatusCompleted, StatusProcessing, StatusFailed)
	q.Page, q.Size = p.Int("page", 1, maxPage), p.Int("size", 20, 100)
	return q, f.Err("")
}
