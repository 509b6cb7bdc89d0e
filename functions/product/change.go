package product

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"phonebill/shared/db"
	"phonebill/shared/httpx"
	"phonebill/shared/kos"
)

// Caller is who asks for a change (from the access token).
type Caller struct {
	UserID     string
	CustomerID string
}

// ChangeResult is the data object of POST /products/change and of
// GET /products/change/{requestId} (SPEC §3.3.4, §3.3.6).
type ChangeResult struct {
	RequestID      string       `json:"requestId"`
	ProcessStatus  string       `json:"processStatus"`
	ResultCode     string       `json:"resultCode,omitempty"`
	ResultMessage  string       `json:"resultMessage,omitempty"`
	ChangedProduct *ProductInfo `json:"changedProduct,omitempty"`
	ProcessedAt    string       `json:"processedAt,omitempty"`
}

// Timing of the synchronous re-sends (SPEC §5.4 6a).
const (
	// maxAnswerMargin is kept free at the end of the budget for the PENDING
	// transaction and the answer.
	maxAnswerMargin = 500 * time.Millisecond
)

// answerMargin is the part of the budget the re-sends leave for answering.
func (s *Products) answerMargin() time.Duration {
	return min(maxAnswerMargin, s.cfg.Deadline/10)
}

// Change runs a change request (SPEC §5.4) for a validated, authorized
// request. started is when the request arrived: the whole request answers
// within cfg.Deadline of it. scenario is the caller's X-Mock-Scenario (the
// KOS client drops it unless KOS_MOCK_SCENARIO_HEADER is on).
func (s *Products) Change(ctx context.Context, who Caller, req ChangeRequest, scenario string, started time.Time) (*ChangeResult, error) {
	// The change must reach a consistent state even if the client hangs up.
	ctx = context.WithoutCancel(ctx)
	deadline := started.Add(s.cfg.Deadline - s.answerMargin())
	answerBy := started.Add(s.cfg.Deadline)
	row := &changeRow{RequestID: uuid.NewString(), LineNumber: req.LineNumber, CustomerID: who.CustomerID,
		UserID: who.UserID, CurrentCode: req.CurrentProductCode, TargetCode: req.TargetProductCode,
		RequestedAt: s.now()}
	if err := s.store.insertRequested(ctx, row); err != nil {
		return nil, err
	}

	// Step 3: the pre-checks again, from the caches, so that the budget goes
	// to the change itself.
	// The pre-check data (from the caches, else KOS) shares the request's
	// deadline: a silent KOS must not hold the answer past it.
	pctx, cancel := context.WithDeadline(ctx, deadline)
	cust, cat, err := s.precheckData(pctx, req.LineNumber)
	cancel()
	// A pre-check that could not run is the system's failure, not the
	// request's: it carries KOS's code, and VALIDATION_FAILED stays a
	// business refusal (SPEC §3.3.4).
	val, code, msg, label := systemFailure(), CodeKOSUnavailable, MsgKOSUnavailable, "kos_unavailable"
	if err == nil {
		val = evaluate(req, cust, cat)
		code, msg, label = CodeValidationFailed, val.FailureReason, "validation_failed"
	} else {
		s.log.WarnContext(ctx, "pre-check data unavailable", "request_id", row.RequestID, "err", err.Error())
	}
	if !val.OK() {
		now := s.now()
		if err := s.store.markValidationFailed(ctx, row.ID, val, code, msg, now); err != nil {
			return nil, fmt.Errorf("change %s: %w", row.RequestID, err)
		}
		s.metrics.changes.WithLabelValues(label).Inc()
		return &ChangeResult{RequestID: row.RequestID, ProcessStatus: StatusFailed, ResultCode: code,
			ResultMessage: msg, ProcessedAt: httpx.FormatLocal(now)}, nil
	}
	if err := s.store.markValidated(ctx, row.ID, val, s.now()); err != nil {
		return nil, fmt.Errorf("change %s: %w", row.RequestID, err)
	}

	// Step 4: the change at KOS, re-sent with the same request id while the
	// budget lasts.
	body := kosChangeBody{LineNumber: row.LineNumber, CurrentProductCode: row.CurrentCode,
		TargetProductCode: row.TargetCode, RequestID: row.RequestID}
	if err := s.store.markProcessing(ctx, row.ID, body, s.now()); err != nil {
		return nil, fmt.Errorf("change %s: %w", row.RequestID, err)
	}
	resp, kerr := s.sendChange(ctx, deadline, body, scenario)
	if kerr == nil {
		res, err := s.settle(ctx, row, StatusProcessing, outcomeOf(resp), cat, nil, answerBy)
		if err != nil {
			return nil, fmt.Errorf("change %s: %w", row.RequestID, err)
		}
		s.metrics.changes.WithLabelValues(outcomeLabel(res.ProcessStatus)).Inc()
		return res, nil
	}

	// Step 6a: the outcome is unknown. PENDING and its event commit together.
	now := s.now()
	ev := requestedEvent(row, s.cfg.Source, now)
	err = db.InTx(ctx, s.store.pool, func(tx pgx.Tx) error {
		if err := markPending(ctx, tx, row.ID, unknownAnswer(kerr), now); err != nil {
			return err
		}
		return insertOutbox(ctx, tx, ev)
	})
	if err != nil {
		return nil, fmt.Errorf("change %s: %w", row.RequestID, err)
	}
	s.log.WarnContext(ctx, "product change pending", "request_id", row.RequestID, "err", kerr.Error())
	s.publishNow(ctx, answerBy, ev.ID)
	s.metrics.changes.WithLabelValues("pending").Inc()
	return &ChangeResult{RequestID: row.RequestID, ProcessStatus: StatusPending, ResultCode: CodePending,
		ResultMessage: MsgPending, ProcessedAt: httpx.FormatLocal(now)}, nil
}

func outcomeLabel(status string) string {
	if status == StatusCompleted {
		return "completed"
	}
	return "failed"
}

// sendChange sends the change until KOS answers definitely, the breaker is
// open, or the budget (deadline) is spent. Each attempt is bounded by the
// KOS client's timeout and by the deadline, whichever comes first. The
// error, when there is one, is the last unknown outcome.
func (s *Products) sendChange(ctx context.Context, deadline time.Time, body kosChangeBody, scenario string) (*kos.Response, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	call := changeCall(body, scenario, 0)
	call.UntilDeadline = true // KOS deduplicates the change by its request id
	call.OnAttempt = func(a kos.Attempt) {
		label := "answered"
		if a.Err != nil {
			label = outcomeName(a.Err)
		}
		s.metrics.kosAttempts.WithLabelValues(label).Inc()
	}
	return s.kos.Do(ctx, call)
}

func outcomeName(err error) string {
	var ke *kos.Error
	if errors.As(err, &ke) {
		return string(ke.Outcome)
	}
	return "error"
}

// unknownAnswer is what the row keeps of an unknown outcome: KOS's answer
// when there was one (5xx, 9999), else the outcome and error.
func unknownAnswer(err error) []byte {
	var ke *kos.Error
	if errors.As(err, &ke) && ke.Resp != nil {
		return rawResponse(ke.Resp)
	}
	return []byte(jsonb(map[string]string{"outcome": outcomeName(err), "error": err.Error()}))
}

func rawResponse(r *kos.Response) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		return nil
	}
	return b
}

// settle records KOS's definite answer to the change of row, which must
// still be in status from. A completion commits with its
// phonebill.product.changed.v1 outbox row; when event is set, that event is
// recorded as processed in the same transaction. It returns
// errStale when the row had already moved on, and errDuplicate when the
// event had already been processed. The event is published by publishBy
// (zero: no request waits for it).
func (s *Products) settle(ctx context.Context, row *changeRow, from string, o changeOutcome, cat *Catalog,
	event *eventKey, publishBy time.Time) (*ChangeResult, error) {
	now := s.now()
	var ev outboxRow
	err := db.InTx(ctx, s.store.pool, func(tx pgx.Tx) error {
		if event != nil {
			fresh, err := markProcessed(ctx, tx, event.Source, event.ID, now)
			if err != nil {
				return err
			}
			if !fresh {
				return errDuplicate
			}
		}
		if err := finish(ctx, tx, row.ID, from, o, now); err != nil {
			return err
		}
		if !o.OK {
			return nil
		}
		ev = changedEvent(row, s.cfg.Source, now)
		return insertOutbox(ctx, tx, ev)
	})
	if err != nil {
		return nil, err
	}
	res := &ChangeResult{RequestID: row.RequestID, ProcessStatus: StatusFailed, ResultCode: o.Code,
		ResultMessage: o.Message, ProcessedAt: httpx.FormatLocal(now)}
	if o.OK {
		// Evicted before answering: the result page re-reads the customer at
		// once and must see the new product.
		s.evictLine(ctx, row.LineNumber)
		s.publishNow(ctx, publishBy, ev.ID)
		res.ProcessStatus = StatusCompleted
		if p, ok := cat.Find(row.TargetCode); ok {
			info := p.Info()
			res.ChangedProduct = &info
		}
	}
	return res, nil
}

// eventKey identifies a consumed CloudEvent (processed_events' key).
type eventKey struct{ Source, ID string }

// errDuplicate means the event was already processed.
var errDuplicate = errors.New("event already processed")

// ErrChangeNotFound means no change request has the given id.
var ErrChangeNotFound = errors.New("change request not found")

// ChangeStatus returns a change request's current state (SPEC §3.3.6) and
// the row it came from (for the ownership check).
func (s *Products) ChangeStatus(ctx context.Context, requestID string) (*ChangeResult, *changeRow, error) {
	if len(requestID) > 64 || !storable(requestID) {
		return nil, nil, ErrChangeNotFound
	}
	row, err := s.store.getChange(ctx, requestID)
	if err != nil {
		return nil, nil, err
	}
	if row == nil {
		return nil, nil, ErrChangeNotFound
	}
	res := &ChangeResult{RequestID: row.RequestID, ProcessStatus: row.Status, ResultCode: row.ResultCode,
		ResultMessage: row.Message}
	if !row.ProcessedAt.IsZero() {
		res.ProcessedAt = httpx.FormatLocal(row.ProcessedAt)
	}
	if row.Status == StatusCompleted {
		// The catalog only names the product; without it the status still answers.
		if cat, err := s.catalog(ctx); err == nil {
			if p, ok := cat.Find(row.TargetCode); ok {
				info := p.Info()
				res.ChangedProduct = &info
			}
		}
	}
	return res, row, nil
}
