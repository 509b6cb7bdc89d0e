package kosmock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"phonebill/shared/auth"
	"phonebill/shared/httpx"
)

// Server binds the routes to the logic and the simulator.
type Server struct {
	mock     *Mock
	sim      *Simulator
	scenario bool
	now      func() time.Time
	log      *slog.Logger
}

// kosEnvelope is the KosCommonResponse written to the wire.
type kosEnvelope struct {
	Answer
	TraceID string `json:"traceId,omitempty"`
}

// apiEnvelope is the ApiResponse of the mock-datas routes (epoch-ms timestamp).
type apiEnvelope struct {
	Success   bool   `json:"success"`
	Message   string `json:"message"`
	Data      any    `json:"data,omitempty"`
	Timestamp int64  `json:"timestamp"`
}

// Request bodies (camelCase, SPEC §2.3). Unknown fields are tolerated.
type billInquiryBody struct {
	LineNumber   string `json:"lineNumber"`
	BillingMonth string `json:"billingMonth"`
	RequestID    string `json:"requestId"`
}

type productInquiryBody struct {
	LineNumber string `json:"lineNumber"`
	RequestID  string `json:"requestId"`
}

// ChangeBody is the product change request as it arrives.
type ChangeBody struct {
	LineNumber         string `json:"lineNumber"`
	CurrentProductCode string `json:"currentProductCode"`
	TargetProductCode  string `json:"targetProductCode"`
	RequestID          string `json:"requestId"`
}

type mockCreateBody struct {
	CustomerID string `json:"customerId"`
	LineNumber string `json:"lineNumber"`
}

// invalid is the KOS validation failure: 400, resultCode 9001, the field
// messages joined (SPEC §3.4).
func invalid(f *httpx.Fields) error {
	if f.Empty() {
		return nil
	}
	return &httpx.Error{Kind: httpx.KindInvalid, Code: codeInvalid,
		Message: invalidMessagePrefix + f.Joined(", "), Fields: f.Map()}
}

// invalidAPI is the mock-datas validation failure: 400, errorCode 4000.
func invalidAPI(f *httpx.Fields) error {
	if f.Empty() {
		return nil
	}
	return &httpx.Error{Kind: httpx.KindInvalid, Code: codeMockBadRequest, Message: f.Joined(", "), Fields: f.Map()}
}

// checkLine validates a required line number of either spelling.
func checkLine(f *httpx.Fields, field, raw string) string {
	if strings.TrimSpace(raw) == "" {
		f.Add(field, msgLineRequired)
		return ""
	}
	line, ok := auth.NormalizeLine(raw)
	if !ok {
		f.Add(field, msgLineFormat)
	}
	return line
}

// checkMonth accepts YYYYMM or YYYY-MM (SPEC §2.2) and returns YYYYMM;
// "" stays "" (the current month).
func checkMonth(f *httpx.Fields, field, raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return ""
	}
	var t time.Time
	err := errors.New("bad length")
	switch len(raw) {
	case 6:
		t, err = time.Parse("200601", raw)
	case 7:
		t, err = time.Parse("2006-01", raw)
	}
	if err != nil {
		f.Add(field, msgMonthFormat)
		return ""
	}
	return t.Format("200601")
}

// textRule is how one free-text field (id, product code) is validated.
type textRule struct {
	required                bool
	maxLen                  int
	missing, tooLong, wrong string
}

var (
	requestIDRule   = textRule{false, maxRequestIDLength, msgRequestIDRequired, msgRequestIDTooLong, msgRequestIDInvalid}
	changeIDRule    = textRule{true, maxRequestIDLength, msgRequestIDRequired, msgRequestIDTooLong, msgRequestIDInvalid}
	currentCodeRule = textRule{true, maxProductCodeLength, msgCurrentCodeRequired, msgProductCodeTooLong, msgProductCodeInvalid}
	targetCodeRule  = textRule{true, maxProductCodeLength, msgTargetCodeRequired, msgProductCodeTooLong, msgProductCodeInvalid}
	customerIDRule  = textRule{true, maxCustomerIDLength, msgCustomerIDRequired, msgCustomerIDTooLong, msgMockCustomerIDInvalid}
)

// checkText validates a trimmed text field by rule (length in characters,
// as VARCHAR counts). Control characters and invalid UTF-8 (possible in query
// strings) are refused: PostgreSQL cannot store NUL or bad UTF-8, and ids
// are keys, not free text.
func checkText(f *httpx.Fields, field, raw string, rule textRule) string {
	v := strings.TrimSpace(raw)
	switch {
	case v == "" && rule.required:
		f.Add(field, rule.missing)
	case !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		f.Add(field, rule.wrong)
	case utf8.RuneCountInString(v) > rule.maxLen:
		f.Add(field, rule.tooLong)
	}
	return v
}

// readRequestID is a read's requestId: the caller's, else generated (§10.7).
func (s *Server) readRequestID(raw string) string {
	if v := strings.TrimSpace(raw); v != "" {
		return v
	}
	return fmt.Sprintf("REQ_%s_%016X", s.now().In(httpx.Seoul()).Format("20060102"), s.mock.rnd.uint64())
}

// forced is the pattern the scenario header forces, when enabled.
func (s *Server) forced(r *http.Request) Pattern {
	if !s.scenario {
		return ""
	}
	p, _ := ParsePattern(r.Header.Get("X-Mock-Scenario"))
	return p
}

// run simulates the route's pattern around op and writes its answer. When
// the caller goes away during a simulated wait nothing is written.
func (s *Server) run(w http.ResponseWriter, r *http.Request, route string, mode simMode,
	op func(ctx context.Context) (Answer, error)) error {
	ctx := r.Context()
	plan := s.sim.Plan(mode, s.forced(r))
	if mode != simNone {
		s.sim.Record(route, plan.Pattern)
	}
	if err := s.sim.Wait(ctx, plan.Before); err != nil {
		return nil
	}
	if plan.Pattern == PatternError {
		s.writeAnswer(w, r, s.mock.SystemError())
		return nil
	}
	ans, err := op(ctx)
	if plan.After > 0 {
		if err := s.sim.Wait(ctx, plan.After); err != nil {
			return nil
		}
	}
	if err != nil {
		return kosError(err)
	}
	s.writeAnswer(w, r, ans)
	return nil
}

func (s *Server) writeAnswer(w http.ResponseWriter, r *http.Request, a Answer) {
	httpx.WriteJSON(w, http.StatusOK, kosEnvelope{Answer: a, TraceID: httpx.RequestID(r.Context())})
}

func (s *Server) writeAPI(w http.ResponseWriter, message string, data any) {
	httpx.WriteJSON(w, http.StatusOK, apiEnvelope{Success: true, Message: message, Data: data,
		Timestamp: s.now().UnixMilli()})
}

// kosError gives unexpected failures KOS's system-error code and message
// (SPEC §5.7 9999); SPEC errors and 503s pass unchanged.
func kosError(err error) error {
	e := httpx.AsError(err)
	if e.Kind != httpx.KindInternal {
		return e
	}
	return &httpx.Error{Kind: httpx.KindInternal, Code: codeSystemError, Message: msgSystemError, Err: err}
}

// BillInquiry serves POST /api/v1/kos/bill/inquiry and /api/v1/bill-inquiry.
func (s *Server) BillInquiry(w http.ResponseWriter, r *http.Request) error {
	var b billInquiryBody
	if err := httpx.DecodeJSON(r, &b); err != nil {
		return err
	}
	var f httpx.Fields
	line := checkLine(&f, "lineNumber", b.LineNumber)
	month := checkMonth(&f, "billingMonth", b.BillingMonth)
	reqID := checkText(&f, "requestId", b.RequestID, requestIDRule)
	if err := invalid(&f); err != nil {
		return err
	}
	reqID = s.readRequestID(reqID)
	return s.run(w, r, "kos-bill-inquiry", simFull, func(ctx context.Context) (Answer, error) {
		return s.mock.BillInquiry(ctx, line, month, reqID)
	})
}

// AvailableMonths serves GET /api/v1/kos/bill/available-months/{lineNumber}.
func (s *Server) AvailableMonths(w http.ResponseWriter, r *http.Request) error {
	var f httpx.Fields
	line := checkLine(&f, "lineNumber", r.PathValue("lineNumber"))
	if err := invalid(&f); err != nil {
		return err
	}
	return s.run(w, r, "kos-available-months", simLatencyOnly, func(ctx context.Context) (Answer, error) {
		return s.mock.AvailableMonths(ctx, line)
	})
}

// ProductInquiry serves POST /api/v1/kos/product/inquiry.
func (s *Server) ProductInquiry(w http.ResponseWriter, r *http.Request) error {
	var b productInquiryBody
	if err := httpx.DecodeJSON(r, &b); err != nil {
		return err
	}
	var f httpx.Fields
	line := checkLine(&f, "lineNumber", b.LineNumber)
	reqID := checkText(&f, "requestId", b.RequestID, requestIDRule)
	if err := invalid(&f); err != nil {
		return err
	}
	reqID = s.readRequestID(reqID)
	return s.run(w, r, "kos-product-inquiry", simFull, func(ctx context.Context) (Answer, error) {
		return s.mock.ProductInquiry(ctx, line, reqID)
	})
}

// CustomerInfo serves GET /api/v1/customer-info and /api/v1/kos/customer-info.
func (s *Server) CustomerInfo(w http.ResponseWriter, r *http.Request) error {
	var f httpx.Fields
	line := checkLine(&f, "lineNumber", httpx.ParamsOf(r, &f).Value("lineNumber"))
	if err := invalid(&f); err != nil {
		return err
	}
	return s.run(w, r, "kos-customer-info", simFull, func(ctx context.Context) (Answer, error) {
		return s.mock.CustomerInfo(ctx, line)
	})
}

// DecodeChange reads and validates a product change request: every field
// is required, requestId being the idempotency key (SPEC §3.4.5, §10.7).
func DecodeChange(r *http.Request) (ChangeRequest, error) {
	var b ChangeBody
	if err := httpx.DecodeJSON(r, &b); err != nil {
		return ChangeRequest{}, err
	}
	var f httpx.Fields
	req := ChangeRequest{
		Line:               checkLine(&f, "lineNumber", b.LineNumber),
		CurrentProductCode: checkText(&f, "currentProductCode", b.CurrentProductCode, currentCodeRule),
		TargetProductCode:  checkText(&f, "targetProductCode", b.TargetProductCode, targetCodeRule),
		RequestID:          checkText(&f, "requestId", b.RequestID, changeIDRule),
	}
	return req, invalid(&f)
}

// ProductChange serves POST /api/v1/kos/product/change and /api/v1/product-change.
func (s *Server) ProductChange(w http.ResponseWriter, r *http.Request) error {
	started := s.now()
	req, err := DecodeChange(r)
	if err != nil {
		return err
	}
	return s.run(w, r, "kos-product-change", simFull, func(ctx context.Context) (Answer, error) {
		// The change must not half-happen because the caller left mid-way.
		return s.mock.ChangeProduct(context.WithoutCancel(ctx), req, started)
	})
}

// ProductList serves GET /api/v1/kos/product/list.
func (s *Server) ProductList(w http.ResponseWriter, r *http.Request) error {
	return s.run(w, r, "kos-product-list", simFull, s.mock.ProductList)
}

// CreateMockData serves POST /api/v1/kos/mock-datas and /api/v1/mock-datas.
func (s *Server) CreateMockData(w http.ResponseWriter, r *http.Request) error {
	var b mockCreateBody
	if err := httpx.DecodeJSON(r, &b); err != nil {
		return err
	}
	var f httpx.Fields
	customerID := checkCustomerID(&f, b.CustomerID)
	line := checkLine(&f, "lineNumber", b.LineNumber)
	if err := invalidAPI(&f); err != nil {
		return err
	}
	out, err := s.mock.CreateMockData(r.Context(), customerID, line)
	if err != nil {
		return err
	}
	s.writeAPI(w, out.Message, out)
	return nil
}

// checkCustomerID validates a required customer id (VARCHAR(50)).
func checkCustomerID(f *httpx.Fields, raw string) string {
	return checkText(f, "customerId", raw, customerIDRule)
}

func (s *Server) mockQuery(r *http.Request) (customerID, line string, err error) {
	var f httpx.Fields
	q := httpx.ParamsOf(r, &f)
	customerID = checkCustomerID(&f, q.Value("customerId"))
	line = checkLine(&f, "lineNumber", q.Value("lineNumber"))
	return customerID, line, invalidAPI(&f)
}

// CustomerProduct serves GET /api/v1/kos/mock-datas/customer/product.
func (s *Server) CustomerProduct(w http.ResponseWriter, r *http.Request) error {
	customerID, line, err := s.mockQuery(r)
	if err != nil {
		return err
	}
	out, err := s.mock.CustomerProduct(r.Context(), customerID, line)
	if err != nil {
		return err
	}
	s.writeAPI(w, msgMockProductDone, out)
	return nil
}

// CustomerBills serves GET /api/v1/kos/mock-datas/customer/bill.
func (s *Server) CustomerBills(w http.ResponseWriter, r *http.Request) error {
	customerID, line, err := s.mockQuery(r)
	if err != nil {
		return err
	}
	out, err := s.mock.CustomerBills(r.Context(), customerID, line)
	if err != nil {
		return err
	}
	s.writeAPI(w, msgMockBillsDone, out)
	return nil
}
