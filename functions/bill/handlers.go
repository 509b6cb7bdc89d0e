package bill

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/cloudevents/sdk-go/v2/event"

	"phonebill/shared/auth"
	"phonebill/shared/events"
	"phonebill/shared/httpx"
	"phonebill/shared/kos"
)

// Handlers are the HTTP side of the service: decode, call Bills, encode.
type Handlers struct {
	bills *Bills
	log   *slog.Logger
}

// Menu serves GET /api/v1/bills/menu.
func (h *Handlers) Menu(w http.ResponseWriter, r *http.Request) error {
	httpx.OK(w, r, MsgMenuOK, h.bills.Menu(r.Context(), auth.FromContext(r.Context())))
	return nil
}

// inquiryBody is the request of POST /api/v1/bills/inquiry.
type inquiryBody struct {
	LineNumber   string `json:"lineNumber"`
	InquiryMonth string `json:"inquiryMonth"`
}

// Inquiry serves POST /api/v1/bills/inquiry: business failures are HTTP 200
// with success:false and no data (SPEC §3.2.2).
func (h *Handlers) Inquiry(w http.ResponseWriter, r *http.Request) error {
	var body inquiryBody
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	rq, err := h.bills.ParseInquiry(body.LineNumber, body.InquiryMonth)
	if err != nil {
		return err
	}
	rq.Scenario = r.Header.Get(kos.ScenarioHeader)
	data, fail, err := h.bills.Inquire(r.Context(), auth.FromContext(r.Context()), rq)
	switch {
	case err != nil:
		return err
	case fail != nil:
		httpx.Fail(w, r, fail.Code, fail.Message, "requestId="+fail.RequestID)
	default:
		httpx.OK(w, r, MsgInquiryOK, data)
	}
	return nil
}

// History serves GET /api/v1/bills/history.
func (h *Handlers) History(w http.ResponseWriter, r *http.Request) error {
	var f httpx.Fields
	v := httpx.ParseQuery(r.URL.RawQuery, &f)
	if err := f.Err(""); err != nil {
		return err
	}
	q, err := ParseHistory(v)
	if err != nil {
		return err
	}
	page, err := h.bills.History(r.Context(), auth.FromContext(r.Context()), q)
	if err != nil {
		return err
	}
	httpx.OK(w, r, MsgHistoryOK, page)
	return nil
}

// Evict receives phonebill.product.changed.v1: 2xx once the line's keys are
// gone, 400 for an event without a valid line (poison, not retried), 5xx
// when Redis cannot be reached (redelivered).
func (h *Handlers) Evict(w http.ResponseWriter, r *http.Request) error {
	return events.Handler(h.log, events.TypeProductChanged, h.consumeProductChanged)(w, r)
}

// productChanged is the part of the event's data the Bill service reads.
type productChanged struct {
	LineNumber string `json:"lineNumber"`
}

func (h *Handlers) consumeProductChanged(ctx context.Context, e event.Event) error {
	var d productChanged
	if err := e.DataAs(&d); err != nil {
		return events.Poison(fmt.Errorf("data: %w", err))
	}
	line, ok := auth.NormalizeLine(d.LineNumber)
	if !ok {
		return events.Poison(fmt.Errorf("lineNumber %q is not a line number", d.LineNumber))
	}
	return h.bills.Evict(ctx, line)
}
