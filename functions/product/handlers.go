package product

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"phonebill/shared/auth"
	"phonebill/shared/events"
	"phonebill/shared/httpx"
	"phonebill/shared/kos"
)

// Success messages of the Product endpoints.
const (
	msgCustomerOK   = "고객 정보를 조회했습니다"
	msgAvailableOK  = "변경 가능한 상품 목록을 조회했습니다"
	msgValidationOK = "상품변경 사전체크가 완료되었습니다"
	msgHistoryOK    = "상품변경 이력을 조회했습니다"
	msgStatusOK     = "상품변경 요청 상태를 조회했습니다"
	msgChangeFound  = "상품변경 요청을 찾을 수 없습니다"
	msgKeyReused    = "같은 Idempotency-Key가 다른 요청에 이미 사용되었습니다"
	msgInProgress   = "같은 요청이 아직 처리 중입니다. 잠시 후 다시 시도해주세요"
	msgOtherRequest = "다른 고객의 상품변경 요청입니다"

	// historyMaxPage only keeps OFFSET arithmetic sane.
	historyMaxPage = 1_000_000
)

// Handlers are the HTTP (and CloudEvents) faces of Products: decode,
// authorize, call, encode.
type Handlers struct {
	p      *Products
	log    *slog.Logger
	worker httpx.HandlerFunc
	relay  httpx.HandlerFunc
}

func newHandlers(p *Products, lg *slog.Logger) *Handlers {
	h := &Handlers{p: p, log: lg}
	h.worker = events.Handler(lg, events.TypeProductChangeRequested, p.ConsumeChangeRequested)
	h.relay = events.Handler(lg, "", func(ctx context.Context, e event.Event) error {
		var r RelayReport
		var err error
		switch e.Type() {
		case events.TypePing:
			r, err = p.RunPing(ctx)
		case events.TypeProductSweepRequested:
			// A failed link ends its chain; the next ping or deferred
			// change starts another, so no redelivery is asked for.
			if r, err = p.Sweep(ctx, e); err != nil && !isPoison(err) {
				err = events.Deferred(err)
			}
		default:
			err = events.Poison(fmt.Errorf("unexpected type %q", e.Type()))
		}
		if r != (RelayReport{}) {
			lg.InfoContext(ctx, "outbox relay run", "published", r.Published, "failed", r.Failed,
				"reemitted", r.Reemitted, "unresolved", r.Unresolved, "recovered", r.Recovered)
		}
		return err
	})
	return h
}

// claims returns the verified caller (the route's guard ran first).
func claims(r *http.Request) (*auth.Claims, error) {
	c := auth.FromContext(r.Context())
	if c == nil {
		return nil, httpx.Unauthorized(errors.New("no claims"))
	}
	return c, nil
}

// answer writes a success, or a business failure as HTTP 200 success:false.
func answer(w http.ResponseWriter, r *http.Request, msg string, data any, err error) error {
	var f *Failure
	if errors.As(err, &f) {
		httpx.Fail(w, r, f.Code, f.Message, "")
		return nil
	}
	if err != nil {
		return err
	}
	httpx.OK(w, r, msg, data)
	return nil
}

// Customer is GET /api/v1/products/customer?lineNumber= (SPEC §3.3.1).
func (h *Handlers) Customer(w http.ResponseWriter, r *http.Request) error {
	c, err := claims(r)
	if err != nil {
		return err
	}
	var f httpx.Fields
	raw := httpx.ParamsOf(r, &f).Text("lineNumber")
	if err := f.Err(""); err != nil {
		return err
	}
	line, err := parseLine("lineNumber", raw, true)
	if err != nil {
		return err
	}
	if !c.MayActOnLine(line) {
		return httpx.LineDenied()
	}
	v, err := h.p.CustomerInfo(r.Context(), line)
	return answer(w, r, msgCustomerOK, v, err)
}

// Available is GET /api/v1/products/available?currentProductCode= (SPEC §3.3.2).
func (h *Handlers) Available(w http.ResponseWriter, r *http.Request) error {
	c, err := claims(r)
	if err != nil {
		return err
	}
	var f httpx.Fields
	current := httpx.ParamsOf(r, &f).Text("currentProductCode")
	if err := f.Err(""); err != nil {
		return err
	}
	if current != "" && !validCode(current) {
		return httpx.InvalidField("currentProductCode", msgCodeFormat, "currentProductCode="+clip(current, 60))
	}
	v, err := h.p.Available(r.Context(), c.Line(), current)
	return answer(w, r, msgAvailableOK, v, err)
}

// readChange decodes and authorizes the body of validation and change.
func readChange(r *http.Request) (*auth.Claims, ChangeRequest, error) {
	c, err := claims(r)
	if err != nil {
		return nil, ChangeRequest{}, err
	}
	body, err := httpx.ReadBody(r)
	if err != nil {
		return nil, ChangeRequest{}, err
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := httpx.RequireJSON(r); err != nil {
			return nil, ChangeRequest{}, err
		}
	}
	req, err := decodeChangeRequest(body)
	if err != nil {
		return nil, ChangeRequest{}, err
	}
	if !c.MayActOnLine(req.LineNumber) {
		return nil, ChangeRequest{}, httpx.LineDenied()
	}
	return c, req, nil
}

// Validation is POST /api/v1/products/change/validation (SPEC §3.3.3).
func (h *Handlers) Validation(w http.ResponseWriter, r *http.Request) error {
	_, req, err := readChange(r)
	if err != nil {
		return err
	}
	httpx.OK(w, r, msgValidationOK, h.p.Validate(r.Context(), req))
	return nil
}

// Change is POST /api/v1/products/change (SPEC §3.3.4, §5.4) with the
// optional Idempotency-Key of §10.5.
func (h *Handlers) Change(w http.ResponseWriter, r *http.Request) error {
	started := time.Now()
	c, req, err := readChange(r)
	if err != nil {
		return err
	}
	key, keyed, err := parseIdempotencyKey(r.Header.Values("Idempotency-Key"))
	if err != nil {
		return err
	}
	ctx := r.Context()
	if keyed {
		state, stored, err := h.p.reserveKey(ctx, c.UserID, key, requestHash(req))
		if err != nil {
			return err
		}
		switch state {
		case keyReplay:
			w.Header().Set("Idempotent-Replayed", "true")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(stored.Status)
			_, _ = w.Write(stored.Body)
			return nil
		case keyReused:
			return &httpx.Error{Kind: httpx.KindUnprocessable, Code: "IDEMPOTENCY_KEY_REUSED", Message: msgKeyReused}
		case keyInProgress:
			return httpx.Conflict("REQUEST_IN_PROGRESS", msgInProgress)
		}
	}
	res, err := h.p.Change(ctx, Caller{UserID: c.UserID, CustomerID: c.CustomerID}, req,
		r.Header.Get(kos.ScenarioHeader), started)
	if err != nil {
		if keyed {
			h.p.releaseKey(ctx, c.UserID, key)
		}
		return err
	}
	body := changeEnvelope(r, res)
	if keyed {
		if err := h.p.completeKey(ctx, c.UserID, key, storedAnswer{Status: http.StatusOK, Body: body}); err != nil {
			h.log.WarnContext(ctx, "idempotent answer not stored", "request_id", res.RequestID, "err", err.Error())
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

// changeEnvelope is the shape C answer of a processed change: success:true,
// with the change's own result code and message (SPEC §3.3.4).
func changeEnvelope(r *http.Request, res *ChangeResult) []byte {
	env := httpx.Envelope{Success: true, ResultCode: res.ResultCode, ResultMessage: res.ResultMessage,
		Message: res.ResultMessage, Data: res, Timestamp: httpx.LocalTime(time.Now()),
		TraceID: httpx.RequestID(r.Context())}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(env)
	return buf.Bytes()
}

// ChangeStatus is GET /api/v1/products/change/{requestId} (SPEC §3.3.6):
// the owner (by customer or line) or an admin.
func (h *Handlers) ChangeStatus(w http.ResponseWriter, r *http.Request) error {
	c, err := claims(r)
	if err != nil {
		return err
	}
	res, row, err := h.p.ChangeStatus(r.Context(), r.PathValue("requestId"))
	if errors.Is(err, ErrChangeNotFound) {
		return httpx.NotFound("NOT_FOUND", msgChangeFound)
	}
	if err != nil {
		return err
	}
	owner := (c.CustomerID != "" && c.CustomerID == row.CustomerID) || c.OwnsLine(row.LineNumber)
	if !owner && !c.IsAdmin() {
		return httpx.Forbidden("ACCESS_DENIED", httpx.MsgAccessDenied, msgOtherRequest)
	}
	httpx.OK(w, r, msgStatusOK, res)
	return nil
}

// History is GET /api/v1/products/history (SPEC §3.3.5).
func (h *Handlers) History(w http.ResponseWriter, r *http.Request) error {
	c, err := claims(r)
	if err != nil {
		return err
	}
	var f httpx.Fields
	q := httpx.ParamsOf(r, &f)
	rawLine, start, end := q.Text("lineNumber"), q.Text("startDate"), q.Text("endDate")
	page, size := q.Int("page", 1, historyMaxPage), q.Int("size", 10, 100)
	if err := f.Err(""); err != nil {
		return err
	}
	line, err := parseLine("lineNumber", rawLine, false)
	if err != nil {
		return err
	}
	switch {
	case line != "" && !c.MayActOnLine(line):
		return httpx.LineDenied()
	case line == "" && !c.IsAdmin():
		if line = c.Line(); line == "" {
			return httpx.LineDenied()
		}
	}
	from, before, err := historyPeriod(start, end, h.p.now(), h.p.cfg.Location)
	if err != nil {
		return err
	}
	v, err := h.p.History(r.Context(), HistoryQuery{Line: line, From: from, Before: before, Page: page, Size: size})
	return answer(w, r, msgHistoryOK, v, err)
}

// Worker is the change worker's CloudEvents receiver.
func (h *Handlers) Worker(w http.ResponseWriter, r *http.Request) error { return h.worker(w, r) }

// Relay is the outbox relay's receiver of the PingSource's pings and of
// sweep.requested events (sweep.go).
func (h *Handlers) Relay(w http.ResponseWriter, r *http.Request) error { return h.relay(w, r) }

// DeadLetter is the dead-letter sink of every Trigger (SPEC §10.6): it keeps
// whatever arrives in product_change.dead_letters with the delivery error
// Knative attached, and logs it. Even an undecodable delivery is kept.
func (h *Handlers) DeadLetter(w http.ResponseWriter, r *http.Request) error {
	body, err := httpx.ReadBody(r)
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	doc, reason, id := deadLetterRecord(r, body)
	if err := h.p.StoreDeadLetter(r.Context(), doc, reason, id); err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"status": http.StatusOK})
	return nil
}

// deadLetterRecord describes a dead-lettered delivery: the event as
// structured JSON, and the reason from Knative's error extensions.
func deadLetterRecord(r *http.Request, body []byte) (doc []byte, reason, id string) {
	e, err := events.Receive(r)
	if err != nil {
		hdr := map[string]string{}
		for k, v := range r.Header {
			if len(v) > 0 && (strings.HasPrefix(k, "Ce-") || k == "Content-Type") {
				hdr[k] = clip(v[0], 500)
			}
		}
		return []byte(jsonb(map[string]any{"headers": hdr, "body": clip(string(body), 8000)})),
			"undecodable event: " + err.Error(), ""
	}
	doc, err = json.Marshal(e)
	if err != nil {
		doc = []byte(jsonb(map[string]string{"id": e.ID(), "type": e.Type(), "source": e.Source()}))
	}
	ext := e.Extensions()
	reason = fmt.Sprintf("delivery to %v failed with status %v", ext["knativeerrordest"], ext["knativeerrorcode"])
	if raw, ok := ext["knativeerrordata"]; ok {
		if b, err := base64.StdEncoding.DecodeString(fmt.Sprint(raw)); err == nil && len(b) > 0 {
			reason += ": " + clip(string(b), 1000)
		}
	}
	return doc, reason, e.ID()
}
