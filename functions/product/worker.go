package product

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"

	"phonebill/shared/events"
)

// workerRetries are the quick re-sends of one worker delivery; the broker's
// redelivery and the relay's sweep space out the rest.
const workerRetries = 2

// decodeRequested parses the data of a change.requested event. Without a
// usable request id the event can never be processed: poison.
func decodeRequested(data []byte) (RequestedData, error) {
	var d RequestedData
	if len(data) == 0 {
		return d, errors.New("event has no data")
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return d, fmt.Errorf("event data: %w", err)
	}
	d.RequestID = strings.TrimSpace(d.RequestID)
	if d.RequestID == "" {
		return d, errors.New("event data has no requestId")
	}
	if len(d.RequestID) > 64 {
		return d, errors.New("event data has an overlong requestId")
	}
	if !storable(d.RequestID) {
		return d, errors.New("event data has a requestId PostgreSQL cannot hold")
	}
	return d, nil
}

// storable reports whether s can be a PostgreSQL text value: UTF-8 without
// NUL. Anything else cannot name a stored row, and sending it would make the
// query fail as a 500 instead of a 4xx.
func storable(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// ConsumeChangeRequested is the change worker (SPEC §5.4 6a, §10.6): it
// re-sends a PENDING change to KOS with the same request id (KOS never
// applies one id twice) and records the definite answer. Duplicates and
// changes already finished answer 2xx; poison events 400. Anything else —
// KOS's outcome still unknown, PostgreSQL away — leaves the row PENDING,
// and the relay's sweep re-emits every PENDING row whose last attempt is a
// minute old: the worker answers 202 (events.Deferred) instead of asking the
// broker to redeliver, so a KOS outage fills no dead letters, and starts a
// sweep if none runs (sweep.go).
func (s *Products) ConsumeChangeRequested(ctx context.Context, e event.Event) error {
	err := s.consumeChangeRequested(ctx, e)
	if err != nil && !isPoison(err) {
		s.StartSweep(ctx)
		return events.Deferred(err)
	}
	return err
}

func isPoison(err error) bool {
	var pe *events.PoisonError
	return errors.As(err, &pe)
}

func (s *Products) consumeChangeRequested(ctx context.Context, e event.Event) error {
	d, err := decodeRequested(e.Data())
	if err != nil {
		s.metrics.worker.WithLabelValues("poison").Inc()
		return events.Poison(err)
	}
	if !storable(e.Source()) || !storable(e.ID()) {
		s.metrics.worker.WithLabelValues("poison").Inc()
		return events.Poison(errors.New("event id or source PostgreSQL cannot hold"))
	}
	key := eventKey{Source: e.Source(), ID: e.ID()}
	done, err := s.store.isProcessed(ctx, key.Source, key.ID)
	if err != nil {
		return err
	}
	if done {
		s.metrics.worker.WithLabelValues("duplicate").Inc()
		return nil
	}
	row, err := s.store.getChange(ctx, d.RequestID)
	if err != nil {
		return err
	}
	if row == nil {
		s.metrics.worker.WithLabelValues("poison").Inc()
		return events.Poison(fmt.Errorf("unknown change request %q", d.RequestID))
	}
	if row.Status != StatusPending {
		s.metrics.worker.WithLabelValues("finished").Inc()
		return nil
	}
	body := kosChangeBody{LineNumber: row.LineNumber, CurrentProductCode: row.CurrentCode,
		TargetProductCode: row.TargetCode, RequestID: row.RequestID}
	kctx, cancel := context.WithTimeout(ctx, s.cfg.Deadline)
	resp, kerr := s.kos.Do(kctx, changeCall(body, "", workerRetries))
	cancel()
	if kerr != nil {
		s.metrics.worker.WithLabelValues("unknown").Inc()
		if err := s.store.touchAttempt(ctx, row.ID, s.now()); err != nil {
			return errors.Join(kerr, err)
		}
		return fmt.Errorf("change %s: KOS outcome still unknown: %w", row.RequestID, kerr)
	}
	res, err := s.settle(ctx, row, StatusPending, outcomeOf(resp), nil, &key, time.Time{})
	switch {
	case errors.Is(err, errDuplicate):
		s.metrics.worker.WithLabelValues("duplicate").Inc()
		return nil
	case errors.Is(err, errStale):
		s.metrics.worker.WithLabelValues("finished").Inc()
		return nil
	case err != nil:
		return err
	}
	s.metrics.worker.WithLabelValues(strings.ToLower(res.ProcessStatus)).Inc()
	s.log.InfoContext(ctx, "pending product change settled", "request_id", row.RequestID,
		"status", res.ProcessStatus, "result_code", res.ResultCode)
	return nil
}
